package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/internal/testutil"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

func withRateLimits(spec string) envOption {
	return func(c *server.Config) {
		l, err := server.ParseRateLimits(spec)
		if err != nil {
			panic(err)
		}
		c.RateLimits = l
	}
}

// wantQuota asserts the rate-limit headers of an answer: limit and
// remaining, and on a 429 the reset (Unix seconds) and Retry-After.
func wantQuota(t *testing.T, r response, limit, remaining int) {
	t.Helper()
	if got := r.Header.Get("X-RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Errorf("status %d: X-RateLimit-Limit = %q, want %d", r.Status, got, limit)
	}
	if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		t.Errorf("status %d: X-RateLimit-Remaining = %q, want %d", r.Status, got, remaining)
	}
	if r.Status != http.StatusTooManyRequests {
		if v := r.Header.Get("X-RateLimit-Reset") + r.Header.Get("Retry-After"); v != "" {
			t.Errorf("status %d carries X-RateLimit-Reset or Retry-After: %v", r.Status, r.Header)
		}
	}
}

func wantLimited(t *testing.T, r response, limit int, retryAfter int, reset time.Time) {
	t.Helper()
	wantError(t, r, http.StatusTooManyRequests, "BUSINESS_002", "Rate limit exceeded")
	wantQuota(t, r, limit, 0)
	if got := r.Header.Get("Retry-After"); got != strconv.Itoa(retryAfter) {
		t.Errorf("Retry-After = %q, want %d", got, retryAfter)
	}
	if got, want := r.Header.Get("X-RateLimit-Reset"), strconv.FormatInt(reset.Unix(), 10); got != want {
		t.Errorf("X-RateLimit-Reset = %q, want %s (%v)", got, want, reset)
	}
}

func noQuota(t *testing.T, r response) {
	t.Helper()
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("status %d carries %s: %s", r.Status, h, v)
		}
	}
}

// ceilSecond is t rounded up to a whole second, as X-RateLimit-Reset is.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// A custom limit's burst and refill, on the server's clock: 30 a minute is
// a token every 2 s, up to 3.
func TestRateLimitBurstAndRefill(t *testing.T) {
	e := newEnv(t, nil, withRateLimits("30/min,burst=3"))
	get := func() response { return e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil) }
	for remaining := 2; remaining >= 0; remaining-- {
		r := get()
		wantOK(t, r)
		wantQuota(t, r, 30, remaining)
	}
	start := e.Clock.Now()
	// Empty: the next token comes in 2 s, the bucket is full in 6 s.
	wantLimited(t, get(), 30, 2, ceilSecond(start.Add(6*time.Second)))
	e.Clock.Advance(time.Second) // half a token
	wantLimited(t, get(), 30, 1, ceilSecond(start.Add(6*time.Second)))
	e.Clock.Advance(time.Second) // one token
	r := get()
	wantOK(t, r)
	wantQuota(t, r, 30, 0)
	e.Clock.Advance(time.Minute) // full again, and no fuller
	for remaining := 2; remaining >= 0; remaining-- {
		wantQuota(t, get(), 30, remaining)
	}
	if r := get(); r.Status != http.StatusTooManyRequests {
		t.Errorf("after a minute the bucket held more than its burst: %d", r.Status)
	}

	// rotate-secret and test keep sent.dm's 10 a minute, a bucket of their own.
	now := e.Clock.Now()
	for remaining := 9; remaining >= 0; remaining-- {
		r := e.acme(t, http.MethodPost, "/v3/webhooks/"+orderID+"/rotate-secret", str(`{"sandbox": true}`))
		if r.Status != http.StatusOK {
			t.Fatalf("rotate-secret %d: %d %s", 10-remaining, r.Status, r.Body)
		}
		wantQuota(t, r, 10, remaining)
	}
	wantLimited(t, e.acme(t, http.MethodPost, "/v3/webhooks/"+orderID+"/test", str(`{"sandbox": true}`)),
		10, 6, ceilSecond(now.Add(time.Minute)))
}

// --rate-limit sentdm: a burst of 50 standard requests, 200 a minute.
func TestRateLimitSentDM(t *testing.T) {
	e := newEnv(t, nil, withRateLimits("sentdm"))
	for remaining := 49; remaining >= 0; remaining-- {
		r := e.acme(t, http.MethodGet, "/v3/webhooks/event-types", nil)
		wantOK(t, r)
		wantQuota(t, r, 200, remaining)
	}
	// The next token in 0.3 s: Retry-After rounds up to 1; full in 15 s.
	wantLimited(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil), 200, 1, ceilSecond(e.Clock.Now().Add(15*time.Second)))
	e.Clock.Advance(300 * time.Millisecond)
	wantQuota(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil), 200, 0)
}

// The limit is the calling account's: the key's owner. Another
// organization, and a profile key, have buckets of their own; an
// organization acting for its profile spends its own.
func TestRateLimitPerAccount(t *testing.T) {
	e := newEnv(t, nil, withRateLimits("60/min,burst=2"))
	for range 2 {
		wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil))
	}
	if r := e.acme(t, http.MethodGet, "/v3/webhooks/"+euID, nil, "x-profile-id", storetest.AcmeEUProfileID); r.Status != http.StatusTooManyRequests {
		t.Errorf("Acme acting for its profile is not Acme's bucket: %d", r.Status)
	}
	r := e.acme(t, http.MethodGet, "/v3/webhooks/"+globexID, nil, "x-api-key", storetest.GlobexOrgKey)
	wantOK(t, r)
	wantQuota(t, r, 60, 1)
	r = e.acme(t, http.MethodGet, "/v3/webhooks/"+euID, nil, "x-api-key", storetest.AcmeEUKey)
	wantOK(t, r)
	wantQuota(t, r, 60, 1)
}

// While limits are on, every answer past the limit carries X-RateLimit-Limit
// and -Remaining, whatever its status: each operation's success, a 404, an
// operation's own 400, a replay, a simulated failure, a 429. Requests
// refused before the limit (401, a malformed request's 400, 403), and the
// stub's own /_sentstub/v1, neither count nor carry them.
func TestRateLimitHeadersOnEveryAnswer(t *testing.T) {
	e := newEnv(t, nil, withRateLimits("1000/min,burst=1000"))
	remaining := 999
	next := func(r response) {
		t.Helper()
		wantQuota(t, r, 1000, remaining)
		remaining--
	}
	created := e.acme(t, http.MethodPost, "/v3/webhooks", str(`{"display_name":"Limits","endpoint_url":"http://127.0.0.1:9/x"}`))
	if created.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.Status, created.Body)
	}
	next(created)
	id := created.Env.Data["id"].(string)
	for _, c := range []struct {
		method, path string
		body         *string
		status       int
	}{
		{http.MethodGet, "/v3/webhooks?page=1&page_size=5", nil, 200},
		{http.MethodGet, "/v3/webhooks/event-types", nil, 200},
		{http.MethodGet, "/v3/webhooks/" + id, nil, 200},
		{http.MethodPut, "/v3/webhooks/" + id, str(`{"retry_count": 4}`), 200},
		{http.MethodGet, "/v3/webhooks/" + id + "/events?page=1&page_size=5", nil, 200},
		{http.MethodPatch, "/v3/webhooks/" + id + "/toggle-status", str(`{"is_active": true}`), 200},
		{http.MethodDelete, "/v3/webhooks/" + id, nil, 204},
		{http.MethodGet, "/v3/webhooks/" + id, nil, 404},
		{http.MethodGet, "/v3/webhooks/" + orderID, nil, 500}, // simulated, below
	} {
		var headers []string
		if c.status == 500 {
			headers = []string{"X-Sentstub-Simulate", "internal_error"}
		}
		r := e.acme(t, c.method, c.path, c.body, headers...)
		if r.Status != c.status {
			t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, r.Status, c.status, r.Body)
		}
		next(r)
	}
	// rotate-secret and test: their own bucket of sent.dm's 10; the
	// operation's own 400 (BUSINESS_010) too.
	r := e.acme(t, http.MethodPost, "/v3/webhooks/"+receiptsID+"/test", str(`{}`))
	wantError(t, r, http.StatusBadRequest, "BUSINESS_010", "Webhook is inactive")
	wantQuota(t, r, 10, 9)
	r = e.acme(t, http.MethodPost, "/v3/webhooks/"+orderID+"/rotate-secret", nil)
	wantOK(t, r)
	wantQuota(t, r, 10, 8)
	// A replay.
	first := e.toggle(t, orderID, str(`{"is_active": true}`), "Idempotency-Key", "quota-replay")
	next(first)
	replay := e.toggle(t, orderID, str(`{"is_active": true}`), "Idempotency-Key", "quota-replay")
	wantReplayOf(t, replay, first)
	next(replay)

	// Refused before the limit: not counted, no headers.
	noQuota(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "x-api-key", "sk_test_nobody"))
	noQuota(t, e.acme(t, http.MethodGet, "/v3/webhooks/not-a-uuid", nil))
	noQuota(t, e.acme(t, http.MethodPut, "/v3/webhooks/"+orderID, str(`{"retry_count": 9}`)))
	noQuota(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil, "x-profile-id", storetest.GlobexOrgID))
	noQuota(t, e.acme(t, http.MethodPost, "/_sentstub/v1/events", str(`{"type":"message.delivered"}`)))
	next(e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil)) // none of those counted

	// Limits off (the default): no headers at all.
	off := newEnv(t, nil)
	noQuota(t, off.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil))
}

// A 429 executes nothing and stores no answer: the retry with the same
// Idempotency-Key, after Retry-After, runs (and is not a replay).
func TestRateLimited429StoresNothing(t *testing.T) {
	st := newCountingStore(t)
	e := newEnv(t, st, withRateLimits("6/min,burst=1"))
	wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil)) // the token
	r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "after-429")
	wantLimited(t, r, 6, 10, ceilSecond(e.Clock.Now().Add(10*time.Second)))
	if n, u := st.claims.Load(), st.updates.Load(); n != 0 || u != 0 || !st.active(t) {
		t.Fatalf("a 429 made %d claims and %d updates (active %v); want none", n, u, st.active(t))
	}
	wait, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	e.Clock.Advance(time.Duration(wait) * time.Second)
	retry := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "after-429")
	if wantOK(t, retry)["is_active"] != false || retry.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the retry after the wait did not run: %s", retry.Body)
	}
	if st.updates.Load() != 1 || st.active(t) {
		t.Errorf("the retry toggled %d times", st.updates.Load())
	}
	e.Clock.Advance(time.Duration(wait) * time.Second)
	wantReplayOf(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "after-429"), retry)
}

func TestParseRateLimits(t *testing.T) {
	for in, want := range map[string]server.RateLimits{
		"":                 {},
		"off":              {},
		"sentdm":           server.SentDMRateLimits,
		"30/min,burst=3":   {Standard: server.RateLimit{PerMinute: 30, Burst: 3}, Sensitive: server.SentDMRateLimits.Sensitive},
		"120/min":          {Standard: server.RateLimit{PerMinute: 120, Burst: 120}, Sensitive: server.SentDMRateLimits.Sensitive},
		"1/min,burst=1000": {Standard: server.RateLimit{PerMinute: 1, Burst: 1000}, Sensitive: server.SentDMRateLimits.Sensitive},
	} {
		got, err := server.ParseRateLimits(in)
		if err != nil || got != want {
			t.Errorf("ParseRateLimits(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := server.ParseRateLimits(got.String()); err != nil || again != got {
			t.Errorf("ParseRateLimits(%q.String() = %q) = %+v, %v", in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"on", "30", "30/s", "30/min,", "30/min,burst=", "0/min", "30/min,burst=0", "-1/min", "30/min,b=3", "2000000/min"} {
		if l, err := server.ParseRateLimits(bad); err == nil {
			t.Errorf("ParseRateLimits(%q) = %+v, want an error", bad, l)
		}
	}
}

// The binary's flags reach the server: --rate-limit, --chaos,
// --chaos-faults and --chaos-seed, and the log says that they are on.
func TestLimitOptionsReachTheServer(t *testing.T) {
	opts, err := server.ParseOptions([]string{"--addr", "127.0.0.1:0", "--db", ":memory:", "--rate-limit", "30/min,burst=3",
		"--chaos", "1", "--chaos-faults", "timeout", "--chaos-seed", "7"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	m, err := server.Start(context.Background(), opts, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, m)
	e := &env{URL: m.URL(), Client: contract.Client(t)}
	r := e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil)
	wantError(t, r, http.StatusGatewayTimeout, "INTERNAL_004", "Timeout waiting for operation")
	wantQuota(t, r, 30, 2)
	for _, want := range []string{`msg="rate limits on, per calling account and process" rate_limit="30/min,burst=3"`,
		`fraction=1 faults=timeout seed=7`, `msg=simulated`, `fault=timeout source=chaos`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
}
