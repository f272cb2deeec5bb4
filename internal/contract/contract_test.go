package contract_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sentstub/sentstub/internal/contract"
)

// The contract helper must fail on what the spec does not allow, or the
// tests that rely on it prove nothing.
func TestCheckRejectsWhatTheSpecForbids(t *testing.T) {
	contract.Document(t)
	const path = "/v3/webhooks/d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8/toggle-status"
	okHeaders := func() http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("X-Request-Id", "req_7X9zKp2jDw")
		h.Set("X-API-Version", "v3")
		h.Set("X-Response-Time", "1.84ms")
		return h
	}
	const notFound = `{"success":false,"data":null,"error":{"code":"RESOURCE_008","message":"Webhook not found","details":null,"doc_url":"https://docs.sent.dm/errors/RESOURCE_008"},"meta":{"request_id":"req_7X9zKp2jDw","timestamp":"2026-03-11T21:50:49.6870928+00:00","version":"v3"}}`
	tests := []struct {
		name    string
		method  string
		path    string
		status  int
		header  func(http.Header)
		body    string
		wantErr string
	}{
		{"valid 404", "PATCH", path, 404, nil, notFound, ""},
		{"undocumented status", "PATCH", path, 418, nil, notFound, "status"},
		{"missing X-API-Version", "PATCH", path, 404, func(h http.Header) { h.Del("X-API-Version") }, notFound, "X-API-Version"},
		{"request id mismatch", "PATCH", path, 404, func(h http.Header) { h.Set("X-Request-Id", "req_other") }, notFound, "differs"},
		{"timestamp with Z", "PATCH", path, 404, nil, strings.Replace(notFound, "+00:00", "Z", 1), "timestamp"},
		{"missing meta", "PATCH", path, 404, nil, `{"success":false,"data":null,"error":{"code":"RESOURCE_008","message":"x","details":null,"doc_url":null}}`, "meta"},
		{"Echo's default shape on an unknown route", "GET", "/nowhere", 404, nil, `{"message":"Not Found"}`, "envelope"},
		{"valid envelope on an unknown route", "GET", "/nowhere", 404, nil, strings.Replace(notFound, "RESOURCE_008", "RESOURCE_013", 2), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://stub"+tt.path, nil)
			h := okHeaders()
			if tt.header != nil {
				tt.header(h)
			}
			err := contract.Check(req, nil, tt.status, h, []byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("Check accepted it, want an error about %s", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("Check = %v, want it to mention %s", err, tt.wantErr)
			}
		})
	}
}
