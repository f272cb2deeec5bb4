package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sentstub/sentstub/client"
)

// The tests in this file put faults between the client and a server: a
// proxy that loses an answer, canned answers, a closed port.

// TestRetryAfterLostAnswerExecutesOnce is the reason for idempotency keys:
// the first attempt reaches the real server and flips the webhook, but the
// client is told 503 (a proxy lost the answer). The retry must carry the
// same key, so that the server replays its first answer instead of
// flipping the webhook back.
func TestRetryAfterLostAnswerExecutesOnce(t *testing.T) {
	d := startDemo(t)
	target, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		keys     []string // Idempotency-Key of each request forwarded
		replayed []string // Idempotent-Replayed of each upstream answer
	)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, resp.Request.Header.Get("Idempotency-Key"))
		replayed = append(replayed, resp.Header.Get("Idempotent-Replayed"))
		if len(keys) == 1 {
			// The server executed the request; its answer is lost.
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			const page = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
			resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
			resp.Header = http.Header{"Content-Type": {"text/html"}}
			resp.Body, resp.ContentLength = io.NopCloser(strings.NewReader(page)), int64(len(page))
		}
		return nil
	}
	ps := httptest.NewServer(proxy)
	defer ps.Close()

	c := newClient(t, ps.URL)
	wh, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
	if err != nil {
		t.Fatalf("flip through the lossy proxy: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 {
		t.Fatalf("%d requests reached the server; want 2 (the lost one and its retry)", len(keys))
	}
	if keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("Idempotency-Key of the attempts: %q, %q; want the same generated key twice", keys[0], keys[1])
	}
	// One flip of an active webhook: inactive, in the answer and the store.
	if wh.IsActive {
		t.Error("the call answered is_active true: the flip executed twice (or not at all)")
	}
	if d.isActive(t, acmeOrgID, orderHook) {
		t.Error("the stored webhook is active: the flip executed twice")
	}
	if replayed[1] != "true" {
		t.Errorf("the retry's answer has Idempotent-Replayed %q; want \"true\" (the server replays the stored answer)", replayed[1])
	}
}

// TestRetryAfterIsHonoured checks that the client waits as long as the
// server asks, in each of the forms it can ask, with a backoff far shorter.
func TestRetryAfterIsHonoured(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header func() map[string]string
		min    time.Duration
	}{
		{"429 Retry-After seconds", http.StatusTooManyRequests,
			func() map[string]string { return map[string]string{"Retry-After": "1"} }, 950 * time.Millisecond},
		// An HTTP-date has a resolution of a second: now+2s is 1 to 2 s away.
		{"503 Retry-After HTTP-date", http.StatusServiceUnavailable,
			func() map[string]string {
				return map[string]string{"Retry-After": time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)}
			}, 900 * time.Millisecond},
		{"503 retry-after-ms", http.StatusServiceUnavailable,
			func() map[string]string { return map[string]string{"retry-after-ms": "300"} }, 290 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			limited := envelope(tc.status, "SERVICE_001", "Slow down", "req_limited")
			for k, v := range tc.header() {
				limited.header[k] = v
			}
			rec, srv := newRecorder(limited, okAnswer(false))
			defer srv.Close()
			c := newClient(t, srv.URL)

			start := time.Now()
			wh, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("the call failed: %v", err)
			}
			if wh.IsActive {
				t.Error("decoded is_active true; want the retry's answer")
			}
			if n := rec.count(); n != 2 {
				t.Fatalf("%d attempts; want 2", n)
			}
			if gap := rec.gap(0, 1); gap < tc.min || elapsed < tc.min {
				t.Errorf("retried after %v (call took %v); want at least %v", gap, elapsed, tc.min)
			}
			if elapsed > tc.min+2*time.Second {
				t.Errorf("the call took %v; want about %v", elapsed, tc.min)
			}
		})
	}
}

// TestRetryAfterPastDeadlineReturnsAtOnce: when the wait the server asks
// for would end after the call's deadline, or is longer than a client
// should block, the call returns the answer it has instead of sleeping.
func TestRetryAfterPastDeadlineReturnsAtOnce(t *testing.T) {
	cases := []struct {
		name       string
		retryAfter string
		opts       []client.Option
		ctxTimeout time.Duration
	}{
		{"context deadline", "30", nil, 2 * time.Second},
		{"WithTimeout", "5", []client.Option{client.WithTimeout(time.Second)}, 0},
		{"longer than a minute, no deadline", "3600", []client.Option{client.WithTimeout(0)}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limited := envelope(http.StatusTooManyRequests, "RATE_001", "Too many requests", "req_limited")
			limited.header["Retry-After"] = tc.retryAfter
			rec, srv := newRecorder(limited, okAnswer(false))
			defer srv.Close()
			c := newClient(t, srv.URL, tc.opts...)
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			_, err := c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{})
			if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
				t.Errorf("the call took %v; want it to return at once", elapsed)
			}
			var apiErr *client.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.RequestID != "req_limited" {
				t.Errorf("got %v; want the 429 answered", err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v; want the last answer, not the deadline", err)
			}
			if n := rec.count(); n != 1 {
				t.Errorf("%d attempts; want 1", n)
			}
		})
	}
}

func TestCancelledContextStopsAtOnce(t *testing.T) {
	t.Run("before the call", func(t *testing.T) {
		rec, srv := newRecorder(okAnswer(false))
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := newClient(t, srv.URL).ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v; want context.Canceled", err)
		}
		if n := rec.count(); n != 0 {
			t.Errorf("%d requests sent with a cancelled context; want none", n)
		}
	})

	t.Run("while waiting to retry", func(t *testing.T) {
		unavailable := envelope(http.StatusServiceUnavailable, client.CodeServiceUnavailable, "Cache service temporarily unavailable", "req_busy")
		unavailable.header["Retry-After"] = "5"
		rec, srv := newRecorder(unavailable)
		defer srv.Close()
		err := toggleCancelledSoon(t, newClient(t, srv.URL))
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.Code != client.CodeServiceUnavailable {
			t.Errorf("got %v; want it to carry the last answer, 503 SERVICE_001", err)
		}
		if n := rec.count(); n != 1 {
			t.Errorf("%d attempts; want 1", n)
		}
	})

	t.Run("while a request is in flight", func(t *testing.T) {
		var n int
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			mu.Unlock()
			hang(r)
		}))
		defer srv.Close()
		toggleCancelledSoon(t, newClient(t, srv.URL))
		time.Sleep(50 * time.Millisecond) // a retry, if any, would have started
		mu.Lock()
		defer mu.Unlock()
		if n != 1 {
			t.Errorf("%d attempts; want 1", n)
		}
	})
}

// toggleCancelledSoon calls the client with a context cancelled 100ms
// later, checks that the call returns at once with context.Canceled, and
// returns its error.
func toggleCancelledSoon(t *testing.T, c *client.Client) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelledAt := make(chan time.Time, 1)
	time.AfterFunc(100*time.Millisecond, func() {
		cancelledAt <- time.Now()
		cancel()
	})
	_, err := c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{})
	if since := time.Since(<-cancelledAt); since > 300*time.Millisecond {
		t.Errorf("the call returned %v after the context was cancelled; want at once", since)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v; want context.Canceled", err)
	}
	return err
}

// hang holds a request until its client goes away (or 5s pass). It reads
// the body first: the server notices a closed connection only then.
func hang(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func TestWithTimeoutBoundsTheCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hang(r) }))
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithTimeout(200*time.Millisecond))
	start := time.Now()
	_, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond || elapsed > time.Second {
		t.Errorf("the call took %v; want about 200ms", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v; want context.DeadlineExceeded", err)
	}
}

func TestNonEnvelopeErrors(t *testing.T) {
	const html = `<html>
<head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>
</html>`
	t.Run("HTML 502 after retries", func(t *testing.T) {
		rec, srv := newRecorder(answer{status: http.StatusBadGateway,
			header: map[string]string{"Content-Type": "text/html", "X-Request-Id": "req_edge42"}, body: html})
		defer srv.Close()
		_, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
		var apiErr *client.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("got %v (%T); want a *client.Error", err, err)
		}
		if apiErr.StatusCode != http.StatusBadGateway || apiErr.Code != "" {
			t.Errorf("StatusCode %d, Code %q; want 502 and no code", apiErr.StatusCode, apiErr.Code)
		}
		for _, want := range []string{"502", "Bad Gateway", "nginx"} {
			if !strings.Contains(apiErr.Message, want) {
				t.Errorf("Message %q does not mention %q", apiErr.Message, want)
			}
		}
		if strings.Contains(apiErr.Message, "\n") {
			t.Errorf("Message %q spans lines", apiErr.Message)
		}
		if apiErr.RequestID != "req_edge42" {
			t.Errorf("RequestID %q; want the X-Request-Id header, req_edge42", apiErr.RequestID)
		}
		if !strings.HasPrefix(err.Error(), "sentdm: status 502: ") {
			t.Errorf("Error() = %q", err)
		}
		if n := rec.count(); n != 3 {
			t.Errorf("%d attempts; want 3 (1 + 2 retries)", n)
		}
	})

	cases := []struct {
		name string
		a    answer
		want []string
	}{
		{"JSON that is not the envelope", answer{status: http.StatusServiceUnavailable,
			header: map[string]string{"Content-Type": "application/json"}, body: `{"message":"upstream overloaded"}`},
			[]string{"503", "upstream overloaded"}},
		{"empty body", answer{status: http.StatusInternalServerError}, []string{"500", "empty body"}},
		{"long body", answer{status: http.StatusBadGateway, body: strings.Repeat("x", 10000)}, []string{"502", "xxx..."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newRecorder(tc.a)
			defer srv.Close()
			_, err := newClient(t, srv.URL, client.WithMaxRetries(0)).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
			var apiErr *client.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.a.status || apiErr.Code != "" {
				t.Fatalf("got %v; want a *client.Error with status %d and no code", err, tc.a.status)
			}
			for _, want := range tc.want {
				if !strings.Contains(apiErr.Message, want) {
					t.Errorf("Message %q does not mention %q", apiErr.Message, want)
				}
			}
			if len(apiErr.Message) > 400 {
				t.Errorf("Message is %d bytes long; want the body cut short", len(apiErr.Message))
			}
		})
	}

	t.Run("2xx that does not decode", func(t *testing.T) {
		rec, srv := newRecorder(answer{status: http.StatusOK, header: map[string]string{"Content-Type": "text/html"}, body: html})
		defer srv.Close()
		wh, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
		if err == nil || wh != nil {
			t.Fatalf("got %v, %v; want an error", wh, err)
		}
		var apiErr *client.Error
		if errors.As(err, &apiErr) {
			t.Errorf("got *client.Error %v for a 200", err)
		}
		if !strings.Contains(err.Error(), "decode 200 answer") || !strings.Contains(err.Error(), "Bad Gateway") {
			t.Errorf("Error() = %q; want it to say the 200 did not decode and quote the body", err)
		}
		if n := rec.count(); n != 1 {
			t.Errorf("%d attempts; want 1", n)
		}
	})
}

func TestErrorEnvelopeIsDecoded(t *testing.T) {
	invalid := answer{
		status: http.StatusBadRequest,
		// On a replay X-Request-Id differs from meta.request_id; meta wins.
		header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "req_header"},
		body: `{"success":false,"data":null,"error":{"code":"VALIDATION_001","message":"Request validation failed",` +
			`"details":{"is_active":["must be a boolean"],"id":["Invalid webhook ID format."]},` +
			`"doc_url":"https://docs.sent.dm/errors/VALIDATION_001"},` +
			`"meta":{"request_id":"req_meta","timestamp":"2026-03-11T21:50:49.6870902+00:00","version":"v3"}}`,
	}
	_, srv := newRecorder(invalid)
	defer srv.Close()
	_, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %v; want a *client.Error", err)
	}
	if apiErr.StatusCode != 400 || apiErr.Code != client.CodeValidationFailed || apiErr.Message != "Request validation failed" ||
		apiErr.DocURL != "https://docs.sent.dm/errors/VALIDATION_001" || apiErr.RequestID != "req_meta" ||
		len(apiErr.Details) != 2 || apiErr.Details["id"][0] != "Invalid webhook ID format." {
		t.Errorf("decoded %+v", apiErr)
	}
	const want = "sentdm: status 400, code VALIDATION_001: Request validation failed; " +
		"id: Invalid webhook ID format.; is_active: must be a boolean (request_id req_meta)"
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func TestRetriedStatuses(t *testing.T) {
	cases := []struct {
		status int
		code   string
		tries  int
	}{
		{http.StatusBadRequest, client.CodeValidationFailed, 1},
		{http.StatusUnauthorized, client.CodeUnauthenticated, 1},
		{http.StatusForbidden, client.CodeForbidden, 1},
		{http.StatusNotFound, client.CodeWebhookNotFound, 1},
		{http.StatusMethodNotAllowed, client.CodeValidationFailed, 1},
		{http.StatusRequestEntityTooLarge, client.CodeValidationFailed, 1},
		{http.StatusRequestTimeout, "REQUEST_001", 3},
		{http.StatusConflict, client.CodeIdempotencyConflict, 3},
		{http.StatusTooManyRequests, "RATE_001", 3},
		{http.StatusInternalServerError, client.CodeInternal, 3},
		{http.StatusBadGateway, "GATEWAY_001", 3},
		{http.StatusServiceUnavailable, client.CodeServiceUnavailable, 3},
		{http.StatusGatewayTimeout, "GATEWAY_002", 3},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			rec, srv := newRecorder(envelope(tc.status, tc.code, "failed", "req_x"))
			defer srv.Close()
			_, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
			var apiErr *client.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Code != tc.code {
				t.Fatalf("got %v; want %d %s", err, tc.status, tc.code)
			}
			if n := rec.count(); n != tc.tries {
				t.Errorf("%d attempts; want %d", n, tc.tries)
			}
		})
	}

	t.Run("WithMaxRetries", func(t *testing.T) {
		for _, retries := range []int{0, 1, 4} {
			rec, srv := newRecorder(envelope(http.StatusServiceUnavailable, client.CodeServiceUnavailable, "down", "req_x"))
			_, err := newClient(t, srv.URL, client.WithMaxRetries(retries)).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
			srv.Close()
			if err == nil {
				t.Fatalf("WithMaxRetries(%d): no error", retries)
			}
			if n := rec.count(); n != retries+1 {
				t.Errorf("WithMaxRetries(%d): %d attempts; want %d", retries, n, retries+1)
			}
		}
	})

	t.Run("recovers on retry", func(t *testing.T) {
		rec, srv := newRecorder(envelope(http.StatusInternalServerError, client.CodeInternal, "oops", "req_1"),
			envelope(http.StatusConflict, client.CodeIdempotencyConflict, "in flight", "req_2"), okAnswer(true))
		defer srv.Close()
		wh, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
		if err != nil || !wh.IsActive {
			t.Fatalf("got %+v, %v; want the third answer", wh, err)
		}
		if n := rec.count(); n != 3 {
			t.Errorf("%d attempts; want 3", n)
		}
	})
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	ct := &countingTransport{next: http.DefaultTransport}
	c := newClient(t, "http://"+addr, client.WithHTTPClient(&http.Client{Transport: ct}))
	_, err = c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("got %v; want it to wrap ECONNREFUSED", err)
	}
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		t.Errorf("got *client.Error %v without an answer", err)
	}
	if !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("Error() = %q; want it to say how many attempts were made", err)
	}
	if n := ct.count(); n != 3 {
		t.Errorf("%d attempts; want 3", n)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	pattern := regexp.MustCompile(idempotencyKeyPattern)
	failTwice := func() (*recorder, *httptest.Server) {
		return newRecorder(
			envelope(http.StatusServiceUnavailable, client.CodeServiceUnavailable, "down", "req_1"),
			envelope(http.StatusConflict, client.CodeIdempotencyConflict, "in flight", "req_2"),
			okAnswer(false))
	}
	keysOf := func(rec *recorder) []string {
		var keys []string
		for i := range rec.count() {
			keys = append(keys, rec.request(i).Header.Values("Idempotency-Key")...)
		}
		return keys
	}

	t.Run("generated, same on every retry", func(t *testing.T) {
		var calls [][]string
		for range 2 {
			rec, srv := failTwice()
			if _, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{}); err != nil {
				t.Fatal(err)
			}
			srv.Close()
			calls = append(calls, keysOf(rec))
		}
		for i, keys := range calls {
			if len(keys) != 3 {
				t.Fatalf("call %d sent %d Idempotency-Key headers over its 3 attempts: %q", i, len(keys), keys)
			}
			if !pattern.MatchString(keys[0]) {
				t.Errorf("call %d: generated key %q does not match %s", i, keys[0], idempotencyKeyPattern)
			}
			if keys[1] != keys[0] || keys[2] != keys[0] {
				t.Errorf("call %d: keys %q; want one key on every attempt", i, keys)
			}
		}
		if calls[0][0] == calls[1][0] {
			t.Errorf("two calls share the key %q; want a new key per call", calls[0][0])
		}
	})

	t.Run("explicit, sent as given", func(t *testing.T) {
		rec, srv := failTwice()
		defer srv.Close()
		const key = "order-42_toggle"
		if _, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{IdempotencyKey: key}); err != nil {
			t.Fatal(err)
		}
		if keys := keysOf(rec); len(keys) != 3 || keys[0] != key || keys[1] != key || keys[2] != key {
			t.Errorf("keys %q; want %q on all 3 attempts", keys, key)
		}
	})

	t.Run("NewIdempotencyKey", func(t *testing.T) {
		a, b := client.NewIdempotencyKey(), client.NewIdempotencyKey()
		if !pattern.MatchString(a) || a == b {
			t.Errorf("NewIdempotencyKey() = %q, %q; want two different keys matching %s", a, b, idempotencyKeyPattern)
		}
	})
}

func TestNewReadsEnvironment(t *testing.T) {
	d := startDemo(t)

	t.Run("key and base URL from env", func(t *testing.T) {
		t.Setenv(client.EnvAPIKey, acmeKey)
		t.Setenv(client.EnvBaseURL, d.URL)
		c, err := client.New()
		if err != nil {
			t.Fatalf("New() with %s and %s set: %v", client.EnvAPIKey, client.EnvBaseURL, err)
		}
		wh, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{Sandbox: true})
		if err != nil || wh.IsActive {
			t.Fatalf("sandbox flip with the env's settings: %+v, %v", wh, err)
		}
	})

	t.Run("options override env", func(t *testing.T) {
		t.Setenv(client.EnvAPIKey, "sk_test_nobody")
		t.Setenv(client.EnvBaseURL, "http://127.0.0.1:1")
		c, err := client.New(client.WithAPIKey(acmeKey), client.WithBaseURL(d.URL), client.WithMaxRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{Sandbox: true}); err != nil {
			t.Fatalf("the options' key and URL were not used: %v", err)
		}
	})

	t.Run("no key", func(t *testing.T) {
		t.Setenv(client.EnvAPIKey, "")
		t.Setenv(client.EnvBaseURL, d.URL)
		c, err := client.New()
		if err == nil || c != nil {
			t.Fatalf("New() without a key: %v, %v; want an error", c, err)
		}
		if !strings.Contains(err.Error(), client.EnvAPIKey) {
			t.Errorf("error %q does not say how to give a key", err)
		}
	})

	t.Run("default base URL", func(t *testing.T) {
		t.Setenv(client.EnvAPIKey, acmeKey)
		t.Setenv(client.EnvBaseURL, "")
		var got *url.URL
		fake := &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			got = req.URL
			a := okAnswer(false)
			return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(a.body)), Request: req}, nil
		})}
		c, err := client.New(client.WithHTTPClient(fake))
		if err != nil {
			t.Fatal(err)
		}
		if c.BaseURL() != client.DefaultBaseURL || client.DefaultBaseURL != "https://api.sent.dm" {
			t.Errorf("BaseURL() = %q; want https://api.sent.dm", c.BaseURL())
		}
		if _, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{}); err != nil {
			t.Fatal(err)
		}
		if got == nil || got.String() != "https://api.sent.dm/v3/webhooks/"+orderHook+"/toggle-status" {
			t.Errorf("request sent to %v", got)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func TestNewRejectsBadOptions(t *testing.T) {
	t.Setenv(client.EnvAPIKey, acmeKey)
	cases := map[string]client.Option{
		"empty key":               client.WithAPIKey(""),
		"key with a newline":      client.WithAPIKey("sk_test\nx-evil: 1"),
		"relative base URL":       client.WithBaseURL("api.sent.dm"),
		"ftp base URL":            client.WithBaseURL("ftp://api.sent.dm"),
		"unparsable base URL":     client.WithBaseURL("http://[::1"),
		"negative retries":        client.WithMaxRetries(-1),
		"negative timeout":        client.WithTimeout(-time.Second),
		"nil http client":         client.WithHTTPClient(nil),
		"nil *http.Client":        client.WithHTTPClient((*http.Client)(nil)),
		"backoff max < initial":   client.WithRetryBackoff(time.Second, time.Millisecond),
		"negative initial backof": client.WithRetryBackoff(-time.Second, time.Second),
	}
	for name, opt := range cases {
		if c, err := client.New(opt); err == nil || c != nil {
			t.Errorf("%s: New() = %v, %v; want an error", name, c, err)
		} else if !strings.HasPrefix(err.Error(), "sentdm: ") {
			t.Errorf("%s: error %q", name, err)
		}
	}
}

// TestDefaultBackoff checks the default waits: 0.5s before the first retry,
// 1s before the second, each less up to a quarter of jitter.
func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	down := envelope(http.StatusServiceUnavailable, client.CodeServiceUnavailable, "down", "req_x")
	rec, srv := newRecorder(down, down, okAnswer(false))
	defer srv.Close()
	c, err := client.New(client.WithAPIKey(acmeKey), client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{}); err != nil {
		t.Fatal(err)
	}
	if n := rec.count(); n != 3 {
		t.Fatalf("%d attempts; want 3", n)
	}
	const slack = 300 * time.Millisecond // a loaded machine answers late, never early
	for i, want := range []time.Duration{client.DefaultRetryBackoff, 2 * client.DefaultRetryBackoff} {
		if gap := rec.gap(i, i+1); gap < want*3/4 || gap > want+slack {
			t.Errorf("wait before retry %d: %v; want %v to %v", i+1, gap, want*3/4, want)
		}
	}
}
