package server_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/sentstub/sentstub/server"
)

// The access log's own formatter writes the line slog's TextHandler would,
// byte for byte, quoting included.
func TestAccessLineIsSlogText(t *testing.T) {
	at := time.Date(2026, 12, 4, 2, 15, 26, 540123456, time.Local)
	for _, path := range []string{"/v3/webhooks/d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8", "", "/a b", `/q"uote`, "/eq=x", "/é", "/tab\t", "/x\x7f", "/nb\u00a0sp", "/bad\xff", "/\\back"} {
		for _, d := range []time.Duration{0, 5327 * time.Nanosecond, 1500 * time.Millisecond} {
			var want bytes.Buffer
			h := slog.NewTextHandler(&want, nil)
			rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
			rec.AddAttrs(slog.String("request_id", "req_2N48yWKSBa"), slog.String("method", "GET"),
				slog.String("path", path), slog.Int("status", 200), slog.Duration("duration", d))
			if err := h.Handle(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
			got := server.AppendAccessLine(nil, at, "req_2N48yWKSBa", "GET", path, 200, d)
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("path %q, duration %v:\n got %s\nwant %s", path, d, got, want.Bytes())
			}
		}
	}
}
