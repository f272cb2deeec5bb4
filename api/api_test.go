package api_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sentstub/sentstub/api"
)

// The document is valid OpenAPI 3.0.3, and so is every example in it.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %s, want 3.0.3", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	op := doc.Paths.Find("/v3/webhooks/{id}/toggle-status").Patch
	for _, status := range []string{"200", "400", "401", "403", "404", "409", "500", "503"} {
		if op.Responses.Value(status) == nil {
			t.Errorf("toggle-status documents no %s response", status)
		}
	}
	if _, err := api.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestValidUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8":   true,
		"D4F5A6B7-C8D9-4E0F-A1B2-C3D4E5F6A7B8":   true,
		"01890a5d-ac96-774b-bcce-b302099a8057":   true, // v7
		"00000000-0000-0000-0000-000000000000":   true,
		"d4f5a6b7c8d94e0fa1b2c3d4e5f6a7b8":       false,
		"{d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8}": false,
		"g4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8":   false,
		"":                                       false,
	} {
		if got := api.ValidUUID(s); got != want {
			t.Errorf("ValidUUID(%q) = %v, want %v", s, got, want)
		}
	}
}
