//go:build tools

// Package tools pins the code generator in go.mod so that `go generate` runs
// the same oapi-codegen everywhere through `go run`, with nothing installed
// globally.
package tools

import (
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
)
