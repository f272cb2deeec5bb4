package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/server"
)

// --pprof serves Go's profiles on a loopback listener of its own; the
// API's listener does not serve them, and an address another machine
// could reach is refused.
func TestPprof(t *testing.T) {
	opts, err := server.ParseOptions([]string{"--addr", "127.0.0.1:0", "--db", ":memory:", "--pprof", "127.0.0.1:0"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m, err := server.Start(context.Background(), opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer shutdown(t, m)
	if m.PprofAddr() == "" || m.PprofAddr() == m.Addr() {
		t.Fatalf("profiles served on %q, the API on %q", m.PprofAddr(), m.Addr())
	}
	// The profiler's answers are Go's, not the API's: a plain client reads them.
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile:",
		"/debug/pprof/heap?debug=1":      "heap profile:",
	} {
		res, err := http.Get("http://" + m.PprofAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s on the profiles' listener: %d, %.80q; want 200 with %q", path, res.StatusCode, body, want)
		}
	}
	res, err := contract.Client(t).Get(m.URL() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ on the API's listener: %d, want 404", res.StatusCode)
	}

	for _, addr := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060", "example.com:6060", "127.0.0.1", "127.0.0.1:99999"} {
		_, err := server.ParseOptions([]string{"--pprof", addr}, func(string) string { return "" }, io.Discard)
		var usage *server.UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--pprof") {
			t.Errorf("--pprof %s: %v, want a usage error naming --pprof", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:0", "localhost:6060", "off"} {
		if _, err := server.ParseOptions([]string{"--pprof", addr}, func(string) string { return "" }, io.Discard); err != nil {
			t.Errorf("--pprof %s: %v", addr, err)
		}
	}
}
