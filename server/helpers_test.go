package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/fixtures"
	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/internal/testutil"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/server/dispatch"
	"github.com/sentstub/sentstub/store/storetest"
)

// TestMain stops the PostgreSQL server the tests started; the test binary
// then exits with m.Run's code.
func TestMain(m *testing.M) {
	m.Run()
	storetest.StopPostgres()
}

// clock is a settable clock for the server.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 11, 21, 50, 49, 687090200, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a sentstub served over real HTTP from a real SQLite store loaded
// with the demo fixture. Its client checks every response against the spec.
type env struct {
	URL    string
	Store  sentstub.Store
	Clock  *clock
	Client *http.Client
	Logs   *testutil.SyncBuffer
}

type envOption func(*server.Config)

// newEnv starts a server over st (a fresh SQLite store with the demo
// fixture when st is nil).
func newEnv(t *testing.T, st sentstub.Store, opts ...envOption) *env {
	t.Helper()
	e := &env{Clock: newClock(), Logs: &testutil.SyncBuffer{}}
	demo, err := fixtures.Parse(bytes.NewReader(fixtures.Demo), time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		sq := storetest.MustOpenSQLite(t)
		if err := sq.Provision(context.Background(), demo); err != nil {
			t.Fatal(err)
		}
		st = sq
	}
	e.Store = st
	cfg := server.Config{
		Store:    st,
		Now:      e.Clock.Now,
		Logger:   slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Fixtures: demo,
		// Deliveries run on the test's clock: a retry is due when the test
		// advances it past the wait.
		Dispatch: dispatch.Config{Poll: 5 * time.Millisecond, Policy: sentstub.RetryPolicy{Base: time.Minute}},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	deliveries := make(chan struct{})
	go func() { defer close(deliveries); srv.RunDeliveries(ctx) }()
	t.Cleanup(func() { stop(); <-deliveries })
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	e.Client = contract.Client(t)
	return e
}

// envelope is the sent.dm envelope, decoded loosely so tests can look at
// anything in it.
type envelope struct {
	Success bool           `json:"success"`
	Data    map[string]any `json:"data"`
	Error   *struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Details map[string][]string `json:"details"`
		DocURL  *string             `json:"doc_url"`
	} `json:"error"`
	Meta struct {
		RequestID string `json:"request_id"`
		Timestamp string `json:"timestamp"`
		Version   string `json:"version"`
	} `json:"meta"`
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
	Env    envelope
}

// call sends one request. headers holds header pairs; a nil body sends none.
func (e *env) call(t *testing.T, method, path string, body *string, headers ...string) response {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = strings.NewReader(*body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "<unset>" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header[http.CanonicalHeaderKey(headers[i])] = append(req.Header[http.CanonicalHeaderKey(headers[i])], headers[i+1])
	}
	res, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := response{Status: res.StatusCode, Header: res.Header, Body: data}
	if len(data) == 0 && res.StatusCode == http.StatusNoContent {
		return r
	}
	if err := json.Unmarshal(data, &r.Env); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, data)
	}
	return r
}

// toggle sends PATCH /v3/webhooks/{id}/toggle-status with the Acme key
// unless headers name another x-api-key.
func (e *env) toggle(t *testing.T, id string, body *string, headers ...string) response {
	t.Helper()
	return e.acme(t, http.MethodPatch, "/v3/webhooks/"+id+"/toggle-status", body, headers...)
}

// acme sends a request with the Acme organization's key unless headers
// name another x-api-key.
func (e *env) acme(t *testing.T, method, path string, body *string, headers ...string) response {
	t.Helper()
	hasKey := false
	for i := 0; i < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "x-api-key") {
			hasKey = true
		}
	}
	if !hasKey {
		headers = append(headers, "x-api-key", storetest.AcmeOrgKey)
	}
	return e.call(t, method, path, body, headers...)
}

func str(s string) *string { return &s }

// wantError asserts an error answer.
func wantError(t *testing.T, r response, status int, code, message string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d\n%s", r.Status, status, r.Body)
	}
	if r.Env.Success || r.Env.Data != nil || r.Env.Error == nil {
		t.Fatalf("not an error envelope: %s", r.Body)
	}
	if r.Env.Error.Code != code {
		t.Errorf("error.code = %s, want %s", r.Env.Error.Code, code)
	}
	if message != "" && r.Env.Error.Message != message {
		t.Errorf("error.message = %q, want %q", r.Env.Error.Message, message)
	}
	if r.Env.Error.DocURL == nil || *r.Env.Error.DocURL != "https://docs.sent.dm/errors/"+code {
		t.Errorf("error.doc_url = %v, want https://docs.sent.dm/errors/%s", r.Env.Error.DocURL, code)
	}
}

func wantOK(t *testing.T, r response) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK || !r.Env.Success || r.Env.Error != nil {
		t.Fatalf("status %d, want a 200 success envelope:\n%s", r.Status, r.Body)
	}
	return r.Env.Data
}
