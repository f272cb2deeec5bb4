package api

import (
	"context"
	"fmt"
	"regexp"

	"github.com/getkin/kin-openapi/openapi3"
)

// UUIDPattern is the syntax of every id the API accepts: any 8-4-4-4-12 hex
// UUID in either case. sent.dm parses ids as .NET GUIDs, so it takes every
// version (v7 included), which kin-openapi's RFC 4122 pattern would refuse.
const UUIDPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

var uuidSyntax = regexp.MustCompile(UUIDPattern)

// ValidUUID reports whether s is an id the API accepts.
func ValidUUID(s string) bool { return uuidSyntax.MatchString(s) }

// Prepare readies a loaded document for request and response validation:
// it checks the document, drops its servers (whose host and /v3-less path
// would otherwise make kin-openapi's routers match nothing) and registers the
// uuid format, which kin-openapi does not validate on its own. Validation
// must pass doc.GetSchemaValidationOptions() for the format to apply.
func Prepare(ctx context.Context, doc *openapi3.T) error {
	if err := doc.Validate(ctx); err != nil {
		return fmt.Errorf("openapi document: %w", err)
	}
	doc.Servers = nil
	doc.SetStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(UUIDPattern))
	return nil
}

// Load parses and prepares the embedded api/openapi.yaml.
func Load(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	if err := Prepare(ctx, doc); err != nil {
		return nil, err
	}
	return doc, nil
}
