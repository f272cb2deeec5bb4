package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentstub/sentstub/client"
	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// simulating adds X-Sentstub-Simulate to every request, as a test of
// client code against sentstub does: the client itself does not expose
// the stub's headers (they are not sent.dm's API).
type simulating struct {
	value string
	base  http.RoundTripper
}

func (s simulating) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Sentstub-Simulate", s.value)
	return s.base.RoundTrip(req)
}

func simulatingClient(t *testing.T, d *demo, value string) *client.Client {
	t.Helper()
	hc := &http.Client{Transport: simulating{value, contract.Transport(t, nil)}}
	return newClient(t, d.URL, client.WithHTTPClient(hc))
}

// With its default two retries, the client gets through a 429 (honouring
// its Retry-After of a second) and two 500s once they stop, and each call
// runs once: its Idempotency-Key makes its retries one call for
// ";times=N" as for the stored answer. Three 500s are more than it
// retries: the call fails, having executed nothing.
func TestClientGetsThroughSimulatedFailures(t *testing.T) {
	d := startDemo(t)
	ctx := context.Background()

	var meta client.ResponseMeta
	start := time.Now()
	w, err := simulatingClient(t, d, "rate_limited;times=1").ToggleWebhookStatus(ctx, orderHook,
		client.ToggleStatusParams{IsActive: client.Bool(false)}, client.WithResponseInto(&meta))
	if err != nil {
		t.Fatalf("rate_limited;times=1: %v", err)
	}
	if w.IsActive || meta.Attempts != 2 || time.Since(start) < time.Second {
		t.Errorf("rate_limited;times=1: active %v after %d attempts in %v; want inactive after 2, waiting Retry-After (1s)",
			w.IsActive, meta.Attempts, time.Since(start))
	}

	w, err = simulatingClient(t, d, "internal_error;times=2").ToggleWebhookStatus(ctx, orderHook,
		client.ToggleStatusParams{}, client.WithResponseInto(&meta)) // a flip: twice would undo it
	if err != nil {
		t.Fatalf("internal_error;times=2: %v", err)
	}
	if !w.IsActive || meta.Attempts != 3 || !d.isActive(t, acmeOrgID, orderHook) {
		t.Errorf("internal_error;times=2: active %v after %d attempts; want the flip made once, on the 3rd", w.IsActive, meta.Attempts)
	}

	_, err = simulatingClient(t, d, "internal_error;times=3").ToggleWebhookStatus(ctx, orderHook,
		client.ToggleStatusParams{}, client.WithResponseInto(&meta))
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || apiErr.Code != "INTERNAL_001" || meta.Attempts != 3 {
		t.Errorf("internal_error;times=3: %v after %d attempts; want 500 INTERNAL_001 after 3", err, meta.Attempts)
	}
	if !d.isActive(t, acmeOrgID, orderHook) {
		t.Error("a call that failed three times flipped the webhook")
	}
}

// Against a real limit (60 a minute, a burst of 1, on the real clock): the
// second call at once is 429, and its retry, a second later, runs; the
// metadata reports the limit.
func TestClientGetsThroughRateLimit(t *testing.T) {
	st := storetest.MustOpenSQLitePath(t, ":memory:")
	storetest.MustProvisionDemo(t, st, time.Now())
	limits, err := server.ParseRateLimits("60/min,burst=1")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, RateLimits: limits})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c := newClient(t, hs.URL, client.WithHTTPClient(contract.Client(t)))
	ctx := context.Background()
	var meta client.ResponseMeta
	if _, err := c.RetrieveWebhook(ctx, orderHook, client.Scope{}, client.WithResponseInto(&meta)); err != nil {
		t.Fatal(err)
	}
	if meta.RateLimit == nil || meta.RateLimit.Limit != 60 || meta.RateLimit.Remaining != 0 {
		t.Errorf("first call's rate limit: %+v; want 60, 0 remaining", meta.RateLimit)
	}
	start := time.Now()
	w, err := c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{}, client.WithResponseInto(&meta))
	if err != nil {
		t.Fatal(err)
	}
	if w.IsActive || meta.Attempts != 2 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("active %v after %d attempts in %v; want the flip on the 2nd attempt, after Retry-After", w.IsActive, meta.Attempts, time.Since(start))
	}
	if meta.RateLimit == nil || meta.RateLimit.Limit != 60 {
		t.Errorf("second call's rate limit: %+v", meta.RateLimit)
	}
}

// The stub-only headers are not part of the client's API: none of its
// source mentions them (the generated package gen/client has them, as the
// spec declares them; the client never sets them).
func TestClientHidesStubHeaders(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"XSentstub", "X-Sentstub", "SentstubDelay", "SentstubSimulate"} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s mentions %s", f, s)
			}
		}
	}
}
