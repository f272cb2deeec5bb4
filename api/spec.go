// Package api holds the OpenAPI document that drives the whole project.
//
// The document is embedded so that tests and tools can load exactly the file
// the code was generated from; the server itself uses the copy that
// oapi-codegen embeds in package gen, and `make check-generated` keeps the two
// identical.
package api

import _ "embed"

// OpenAPI is api/openapi.yaml, byte for byte.
//
//go:embed openapi.yaml
var OpenAPI []byte
