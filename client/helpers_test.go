package client_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub/client"
	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store"
	"github.com/sentstub/sentstub/store/storetest"
)

// The demo fixture's accounts, keys and webhooks (fixtures/demo.yaml).
const (
	acmeKey    = storetest.AcmeOrgKey
	acmeEUKey  = storetest.AcmeEUKey
	acmeOrgID  = storetest.AcmeOrgID
	acmeEUID   = storetest.AcmeEUProfileID
	globexID   = storetest.GlobexOrgID
	orderHook  = storetest.OrderWebhookID  // Acme's, active
	euHook     = storetest.EUWebhookID     // Acme EU's, active
	globexHook = storetest.GlobexWebhookID // Globex's, active
)

// idempotencyKeyPattern is the spec's pattern for Idempotency-Key.
const idempotencyKeyPattern = `^[a-zA-Z0-9_-]{1,255}$`

// demo is a real sentstub server over an in-memory SQLite store loaded with
// the demo fixture, served over loopback HTTP.
type demo struct {
	URL   string
	store *store.SQLiteStore
}

func startDemo(t testing.TB) *demo {
	t.Helper()
	st := storetest.MustOpenSQLitePath(t, ":memory:")
	storetest.MustProvisionDemo(t, st, time.Now())
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &demo{URL: hs.URL, store: st}
}

// newDemoClient is newClient for d, with every answer checked against the
// spec (internal/contract).
func newDemoClient(t testing.TB, d *demo, opts ...client.Option) *client.Client {
	t.Helper()
	return newClient(t, d.URL, append([]client.Option{client.WithHTTPClient(contract.Client(t))}, opts...)...)
}

// isActive reads the stored state of webhook id of owner, bypassing the API.
func (d *demo) isActive(t testing.TB, owner, id string) bool {
	t.Helper()
	w, err := d.store.FindWebhook(context.Background(), uuid.MustParse(owner), uuid.MustParse(id))
	if err != nil {
		t.Fatalf("find webhook %s of %s: %v", id, owner, err)
	}
	return w.IsActive
}

// fastBackoff keeps retries in tests quick.
var fastBackoff = client.WithRetryBackoff(time.Millisecond, 5*time.Millisecond)

// newClient returns a client for baseURL with Acme's key and fast backoff;
// opts come last and override those.
func newClient(t testing.TB, baseURL string, opts ...client.Option) *client.Client {
	t.Helper()
	all := append([]client.Option{client.WithAPIKey(acmeKey), client.WithBaseURL(baseURL), fastBackoff}, opts...)
	c, err := client.New(all...)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

// recorder is an HTTP handler that answers each request with the next of
// its answers (repeating the last one) and records what it received.
type recorder struct {
	mu       sync.Mutex
	answers  []answer
	requests []*http.Request
	bodies   [][]byte
	times    []time.Time
}

type answer struct {
	status int
	header map[string]string
	body   string
}

// envelope is an error answer as sent.dm writes it.
func envelope(status int, code, message, requestID string) answer {
	return answer{
		status: status,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": requestID},
		body: `{"success":false,"data":null,"error":{"code":"` + code + `","message":"` + message +
			`","details":null,"doc_url":"https://docs.sent.dm/errors/` + code + `"},"meta":{"request_id":"` +
			requestID + `","timestamp":"2026-03-11T21:50:49.6870902+00:00","version":"v3"}}`,
	}
}

// okAnswer is a 200 answer with the webhook of the spec's example.
func okAnswer(isActive bool) answer {
	active := "false"
	if isActive {
		active = "true"
	}
	return answer{
		status: http.StatusOK,
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "req_ok"},
		body: `{"success":true,"data":{"id":"` + orderHook + `","display_name":"Order Notifications",` +
			`"endpoint_url":"https://example.com/webhooks/orders","signing_secret":null,"is_active":` + active + `,` +
			`"event_types":["messages","templates"],"event_filters":null,"retry_count":3,"timeout_seconds":30,` +
			`"last_delivery_attempt_at":null,"last_successful_delivery_at":null,"consecutive_failures":0,` +
			`"created_at":"2026-01-15T10:30:00+00:00","updated_at":"2026-02-01T09:00:00+00:00"},` +
			`"error":null,"meta":{"request_id":"req_ok","timestamp":"2026-03-11T21:50:49.6870902+00:00","version":"v3"}}`,
	}
}

func newRecorder(answers ...answer) (*recorder, *httptest.Server) {
	r := &recorder{answers: answers}
	return r, httptest.NewServer(r)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body bytes.Buffer
	body.ReadFrom(req.Body)
	r.mu.Lock()
	n := len(r.requests)
	r.requests = append(r.requests, req.Clone(context.Background()))
	r.bodies = append(r.bodies, body.Bytes())
	r.times = append(r.times, time.Now())
	a := r.answers[min(n, len(r.answers)-1)]
	r.mu.Unlock()
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	w.Write([]byte(a.body))
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

// gap is the time between the arrival of requests i and j.
func (r *recorder) gap(i, j int) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.times[j].Sub(r.times[i])
}

func (r *recorder) body(i int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[i]
}

func (r *recorder) request(i int) *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[i]
}

// countingTransport counts the requests it sends.
type countingTransport struct {
	mu   sync.Mutex
	n    int
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

func (c *countingTransport) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
