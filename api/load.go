package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// UUIDPattern is the syntax of every id the API accepts: any 8-4-4-4-12 hex
// UUID in either case. sent.dm parses ids as .NET GUIDs, so it takes every
// version (v7 included), which kin-openapi's RFC 4122 pattern would refuse.
const UUIDPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// ValidUUID reports whether s is an id the API accepts: UUIDPattern,
// checked by hand (it runs on every request with an id; a regular
// expression took ten times as long).
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

var errNotUUID = errors.New("not a UUID")

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
	doc.SetStringFormatValidator("uuid", openapi3.NewCallbackValidator(func(s string) error {
		if !ValidUUID(s) {
			return errNotUUID
		}
		return nil
	}))
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
