package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// callStore counts every call an operation can make of the store (all but
// authentication's), so that a test can see that nothing executed.
type callStore struct {
	sentstub.Store
	calls atomic.Int32
}

func (s *callStore) FindWebhook(ctx context.Context, owner, id uuid.UUID) (*sentstub.Webhook, error) {
	s.calls.Add(1)
	return s.Store.FindWebhook(ctx, owner, id)
}

func (s *callStore) CreateWebhook(ctx context.Context, w *sentstub.Webhook) error {
	s.calls.Add(1)
	return s.Store.CreateWebhook(ctx, w)
}

func (s *callStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (*sentstub.Webhook, error) {
	s.calls.Add(1)
	return s.Store.UpdateWebhook(ctx, owner, id, update)
}

func (s *callStore) DeleteWebhook(ctx context.Context, owner, id uuid.UUID) error {
	s.calls.Add(1)
	return s.Store.DeleteWebhook(ctx, owner, id)
}

func (s *callStore) ListWebhooks(ctx context.Context, owner uuid.UUID, f sentstub.WebhookFilter) ([]*sentstub.Webhook, int, error) {
	s.calls.Add(1)
	return s.Store.ListWebhooks(ctx, owner, f)
}

func (s *callStore) CreateDelivery(ctx context.Context, d *sentstub.Delivery) error {
	s.calls.Add(1)
	return s.Store.CreateDelivery(ctx, d)
}

func (s *callStore) ListDeliveries(ctx context.Context, owner, id uuid.UUID, f sentstub.DeliveryFilter) ([]*sentstub.Delivery, int, error) {
	s.calls.Add(1)
	return s.Store.ListDeliveries(ctx, owner, id, f)
}

func (s *callStore) ClaimIdempotencyKey(ctx context.Context, c sentstub.IdempotencyClaim) (*sentstub.IdempotentResponse, bool, error) {
	s.calls.Add(1)
	return s.Store.ClaimIdempotencyKey(ctx, c)
}

func newCallStore(t *testing.T) *callStore {
	st := storetest.MustOpenSQLite(t)
	storetest.MustProvisionDemo(t, st, time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC))
	return &callStore{Store: st}
}

// what each simulated fault answers.
var simulated = []struct {
	fault   server.Fault
	status  int
	code    string
	message string // "" for the operation's own (500)
}{
	{server.FaultRateLimited, 429, "BUSINESS_002", "Rate limit exceeded"},
	{server.FaultInternalError, 500, "INTERNAL_001", ""},
	{server.FaultUnavailable, 503, "INTERNAL_005", "Service temporarily unavailable"},
	{server.FaultTimeout, 504, "INTERNAL_004", "Timeout waiting for operation"},
	{server.FaultIdempotencyUnavailable, 503, "SERVICE_001", "Cache service temporarily unavailable"},
	{server.FaultDisconnect, 0, "", ""},
}

// rawCall sends one request on a connection of its own (so that net/http
// does not retry a dropped one by itself), its answer checked against the
// spec; err is the transport's, as for a disconnect.
func rawCall(t *testing.T, e *env, method, path string, body *string, headers ...string) (response, error) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = strings.NewReader(*body)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("x-api-key", storetest.AcmeOrgKey)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	hc := &http.Client{Transport: contract.Transport(t, &http.Transport{DisableKeepAlives: true})}
	res, err := hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	r := response{Status: res.StatusCode, Header: res.Header, Body: data}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &r.Env); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, data)
		}
	}
	return r, nil
}

// wantSimulated asserts the answer of fault (or the dropped connection).
func wantSimulated(t *testing.T, name string, fault server.Fault, r response, err error) {
	t.Helper()
	for _, s := range simulated {
		if s.fault != fault {
			continue
		}
		if fault == server.FaultDisconnect {
			if err == nil {
				t.Errorf("%s: disconnect answered %d %s", name, r.Status, r.Body)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Status != s.status || r.Env.Error == nil || r.Env.Error.Code != s.code || s.message != "" && r.Env.Error.Message != s.message {
			t.Errorf("%s: %d %s, want %d %s %q", name, r.Status, r.Body, s.status, s.code, s.message)
		}
		if fault == server.FaultRateLimited {
			// Limits are off: sent.dm's rate, nothing left, Retry-After 1.
			limit := "200"
			if strings.HasSuffix(name, "rotate-secret") || strings.HasSuffix(name, "test") {
				limit = "10"
			}
			if r.Header.Get("X-RateLimit-Limit") != limit || r.Header.Get("X-RateLimit-Remaining") != "0" ||
				r.Header.Get("Retry-After") != "1" || r.Header.Get("X-RateLimit-Reset") == "" {
				t.Errorf("%s: rate-limit headers %v", name, r.Header)
			}
		}
		return
	}
	t.Fatalf("no fault %s", fault)
}

// Every simulated failure on every /v3 operation executes nothing: the
// store hears of no call but authentication's.
func TestSimulatedFailuresOnEveryOperation(t *testing.T) {
	st := newCallStore(t)
	e := newEnv(t, st)
	for _, op := range []struct {
		name, method, path string
		body               *string
	}{
		{"list", http.MethodGet, "/v3/webhooks?page=1&page_size=5", nil},
		{"create", http.MethodPost, "/v3/webhooks", str(`{"display_name":"x","endpoint_url":"https://example.com/x"}`)},
		{"event-types", http.MethodGet, "/v3/webhooks/event-types", nil},
		{"retrieve", http.MethodGet, "/v3/webhooks/" + orderID, nil},
		{"update", http.MethodPut, "/v3/webhooks/" + orderID, str(`{"retry_count": 4}`)},
		{"delete", http.MethodDelete, "/v3/webhooks/" + orderID, nil},
		{"events", http.MethodGet, "/v3/webhooks/" + orderID + "/events?page=1&page_size=5", nil},
		{"toggle", http.MethodPatch, "/v3/webhooks/" + orderID + "/toggle-status", str(`{}`)},
		{"rotate-secret", http.MethodPost, "/v3/webhooks/" + orderID + "/rotate-secret", nil},
		{"test", http.MethodPost, "/v3/webhooks/" + orderID + "/test", str(`{}`)},
	} {
		for _, s := range simulated {
			name := string(s.fault) + " " + op.name
			r, err := rawCall(t, e, op.method, op.path, op.body, "X-Sentstub-Simulate", string(s.fault))
			wantSimulated(t, name, s.fault, r, err)
			if s.fault == server.FaultInternalError && err == nil && op.name == "toggle" &&
				r.Env.Error.Message != "An unexpected error occurred while toggling the webhook status" {
				t.Errorf("%s: message %q, not the operation's", name, r.Env.Error.Message)
			}
		}
	}
	if n := st.calls.Load(); n != 0 {
		t.Errorf("simulated failures made %d store calls, want none", n)
	}
	// The order webhook is still there, unchanged.
	w := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil))
	if w["is_active"] != true || w["retry_count"] != float64(3) {
		t.Errorf("the webhook changed: %v", w)
	}
}

// Each simulated failure on each class of operation: a read, a mutation,
// and a mutation with an Idempotency-Key, which the failure leaves
// unclaimed: the key's first real request runs.
func TestSimulatedFailuresExecuteNothing(t *testing.T) {
	for _, s := range simulated {
		t.Run(string(s.fault), func(t *testing.T) {
			st := newCallStore(t)
			e := newEnv(t, st)
			sim := []string{"X-Sentstub-Simulate", string(s.fault)}
			r, err := rawCall(t, e, http.MethodGet, "/v3/webhooks/"+orderID, nil, sim...)
			wantSimulated(t, "read", s.fault, r, err)
			r, err = rawCall(t, e, http.MethodPatch, "/v3/webhooks/"+orderID+"/toggle-status", str(`{"is_active": false}`), sim...)
			wantSimulated(t, "mutation", s.fault, r, err)
			key := "sim-" + string(s.fault)
			r, err = rawCall(t, e, http.MethodPatch, "/v3/webhooks/"+orderID+"/toggle-status", str(`{"is_active": false}`),
				append(sim, "Idempotency-Key", key)...)
			wantSimulated(t, "keyed mutation", s.fault, r, err)
			if n := st.calls.Load(); n != 0 {
				t.Fatalf("made %d store calls, want none", n)
			}
			if w := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil)); w["is_active"] != true {
				t.Fatalf("the webhook was toggled: %v", w)
			}
			run := e.toggle(t, orderID, str(`{"is_active": false}`), "Idempotency-Key", key)
			if wantOK(t, run)["is_active"] != false || run.Header.Get("Idempotent-Replayed") != "" {
				t.Errorf("the key's first real request did not run: %s", run.Body)
			}
		})
	}
}

// A simulated failure is logged as simulated, with the request id; a
// disconnect's access-log line has status 444 (nothing was answered).
func TestSimulatedFailuresAreLogged(t *testing.T) {
	e := newEnv(t, nil)
	r, err := rawCall(t, e, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Simulate", "unavailable")
	if err != nil || r.Status != 503 {
		t.Fatalf("%d %v", r.Status, err)
	}
	logs := e.Logs.String()
	if !regexp.MustCompile(`"msg":"simulated","request_id":"` + r.Env.Meta.RequestID + `","fault":"unavailable","source":"X-Sentstub-Simulate"`).MatchString(logs) {
		t.Errorf("no simulated line for %s:\n%s", r.Env.Meta.RequestID, logs)
	}
	if strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("a simulated failure is logged as an error:\n%s", logs)
	}
	if _, err := rawCall(t, e, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Simulate", "disconnect"); err == nil {
		t.Fatal("disconnect answered")
	}
	m := regexp.MustCompile(`"msg":"simulated","request_id":"(req_[A-Za-z0-9]+)","fault":"disconnect"`).FindStringSubmatch(e.Logs.String())
	if m == nil {
		t.Fatalf("no simulated line for the disconnect:\n%s", e.Logs.String())
	}
	deadline := time.Now().Add(2 * time.Second)
	access := regexp.MustCompile(`"msg":"request","request_id":"` + m[1] + `","method":"GET","path":"[^"]+","status":444`)
	for !access.MatchString(e.Logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line with status 444 for %s:\n%s", m[1], e.Logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ";times=N" fails the first N requests of a call (its account, the
// header's value, method, path, body and Idempotency-Key) and lets the
// later ones run; another call counts apart.
func TestSimulateTimes(t *testing.T) {
	st := newCountingStore(t)
	e := newEnv(t, st)
	sim := []string{"X-Sentstub-Simulate", "internal_error;times=2"}
	for i := range 2 {
		wantError(t, e.toggle(t, orderID, str(`{}`), append(sim, "Idempotency-Key", "twice")...), 500, "INTERNAL_001", "")
		if st.updates.Load() != 0 {
			t.Fatalf("failure %d ran the toggle", i+1)
		}
	}
	ran := e.toggle(t, orderID, str(`{}`), append(sim, "Idempotency-Key", "twice")...)
	if wantOK(t, ran)["is_active"] != false || st.updates.Load() != 1 {
		t.Fatalf("the third request did not run once: %s (%d updates)", ran.Body, st.updates.Load())
	}
	wantReplayOf(t, e.toggle(t, orderID, str(`{}`), append(sim, "Idempotency-Key", "twice")...), ran)

	// Another key, another body, another account: other calls.
	wantError(t, e.toggle(t, orderID, str(`{}`), append(sim, "Idempotency-Key", "other")...), 500, "INTERNAL_001", "")
	wantError(t, e.toggle(t, orderID, str(`{"is_active": true}`), sim...), 500, "INTERNAL_001", "")
	wantError(t, e.toggle(t, globexID, str(`{}`), append(sim, "x-api-key", storetest.GlobexOrgKey)...), 500, "INTERNAL_001", "")
	// rate_limited;times=1, as a client sees it: a 429 asking for a
	// second, then the call runs.
	r := e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Simulate", "rate_limited;times=1")
	wantError(t, r, 429, "BUSINESS_002", "Rate limit exceeded")
	if r.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Simulate", "rate_limited;times=1"))

	for _, bad := range []string{"internal_error;times=0", "internal_error;times=1000", "internal_error;times=", "internal_error; times=1", "meteor;times=1"} {
		wantError(t, e.toggle(t, orderID, str(`{}`), "X-Sentstub-Simulate", bad), 400, "VALIDATION_001", "")
	}
}

// X-Sentstub-Delay applies to every operation; with a simulated failure,
// the failure comes after the delay.
func TestSimulatedDelayOnEveryOperation(t *testing.T) {
	e := newEnv(t, nil)
	start := time.Now()
	wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Delay", "150ms"))
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("retrieve with X-Sentstub-Delay: 150ms answered in %v", d)
	}
	start = time.Now()
	wantError(t, e.acme(t, http.MethodGet, "/v3/webhooks/event-types", nil, "X-Sentstub-Delay", "150ms", "X-Sentstub-Simulate", "timeout"),
		504, "INTERNAL_004", "Timeout waiting for operation")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("a delayed simulated timeout answered in %v", d)
	}
	r := e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Delay", "30001ms")
	wantError(t, r, 400, "VALIDATION_001", "Request validation failed")
	if got := r.Env.Error.Details["X-Sentstub-Delay"]; len(got) != 1 {
		t.Errorf("details = %v", r.Env.Error.Details)
	}
}

// Chaos at a fixed seed fails the expected fraction of /v3 requests, with
// the faults it was given, logged as simulated; the same seed fails the
// same requests again. The stub's own operations are never failed.
func TestChaosAtFixedSeed(t *testing.T) {
	const n, fraction = 400, 0.2
	run := func(seed uint64) (outcomes []string, e *env) {
		e = newEnv(t, nil, func(c *server.Config) { c.Chaos = server.Chaos{Fraction: fraction, Seed: seed} })
		for range n {
			r, err := rawCall(t, e, http.MethodGet, "/v3/webhooks/"+orderID, nil)
			switch {
			case err != nil:
				outcomes = append(outcomes, "disconnect")
			case r.Status == 200:
				outcomes = append(outcomes, "ok")
			default:
				outcomes = append(outcomes, fmt.Sprint(r.Status, " ", r.Env.Error.Code))
			}
		}
		return outcomes, e
	}
	first, e := run(42)
	failed := map[string]int{}
	for _, o := range first {
		if o != "ok" {
			failed[o]++
		}
	}
	total := 0
	for _, c := range failed {
		total += c
	}
	if got := float64(total) / n; got < fraction-0.05 || got > fraction+0.05 {
		t.Errorf("chaos %v failed %d of %d requests (%.3f)", fraction, total, n, got)
	}
	for _, want := range []string{"429 BUSINESS_002", "500 INTERNAL_001", "503 INTERNAL_005", "504 INTERNAL_004", "disconnect"} {
		if failed[want] == 0 {
			t.Errorf("chaos never answered %s: %v", want, failed)
		}
	}
	if failed["503 SERVICE_001"] != 0 {
		t.Errorf("chaos answered idempotency_unavailable, which is not a default fault: %v", failed)
	}
	if logged := strings.Count(e.Logs.String(), `"source":"chaos"`); logged != total {
		t.Errorf("%d chaos failures logged as simulated, want %d", logged, total)
	}
	again, _ := run(42)
	if strings.Join(again, ",") != strings.Join(first, ",") {
		t.Errorf("the same seed failed other requests:\n%v\n%v", first, again)
	}
	other, _ := run(43)
	if strings.Join(other, ",") == strings.Join(first, ",") {
		t.Errorf("another seed failed the same requests")
	}

	// Every request, one fault: /v3 only, and never over an explicit header.
	all := newEnv(t, nil, func(c *server.Config) {
		c.Chaos = server.Chaos{Fraction: 1, Faults: []server.Fault{server.FaultTimeout}}
	})
	wantError(t, all.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil), 504, "INTERNAL_004", "")
	wantError(t, all.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Simulate", "unavailable"), 503, "INTERNAL_005", "")
	wantError(t, all.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Simulate", "unavailable;times=1"), 503, "INTERNAL_005", "")
	wantOK(t, all.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "X-Sentstub-Simulate", "unavailable;times=1"))
	wantOK(t, all.acme(t, http.MethodPost, "/_sentstub/v1/reset", nil))
	wantError(t, all.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "x-api-key", "sk_test_nobody"), 401, "AUTH_002", "")
}

func TestParseFaults(t *testing.T) {
	got, err := server.ParseFaults("timeout, disconnect,timeout")
	if err != nil || len(got) != 2 || got[0] != server.FaultTimeout || got[1] != server.FaultDisconnect {
		t.Errorf("ParseFaults = %v, %v", got, err)
	}
	if _, err := server.ParseFaults("timeout,meteor"); err == nil || !strings.Contains(err.Error(), "meteor") {
		t.Errorf("ParseFaults(meteor) = %v", err)
	}
	for _, c := range []server.Chaos{{Fraction: -0.1}, {Fraction: 1.5}, {Fraction: 0.1, Faults: []server.Fault{"meteor"}}} {
		if _, err := server.New(server.Config{Store: newCallStore(t), Chaos: c}); err == nil {
			t.Errorf("New with chaos %+v: no error", c)
		}
	}
	if _, err := server.New(server.Config{Store: newCallStore(t), RateLimits: server.RateLimits{Standard: server.RateLimit{PerMinute: 5}}}); err == nil {
		t.Error("New with a limit of burst 0: no error")
	}
}
