// Package gen is generated from api/openapi.yaml by oapi-codegen; see
// config.yaml. Nothing in api.gen.go is edited by hand: change the spec and
// run `make generate`.
package gen

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config config.yaml ../api/openapi.yaml
