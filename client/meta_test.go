package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/sentstub/sentstub/client"
)

var requestIDPattern = regexp.MustCompile(`^req_[A-Za-z0-9]+$`)

// A retried toggle is replayed, and the metadata says so: the second call
// with the key is answered from the first one's stored answer.
func TestResponseMetaReplayAgainstServer(t *testing.T) {
	d := startDemo(t)
	c := newDemoClient(t, d)
	ctx := context.Background()
	p := client.ToggleStatusParams{IsActive: client.Bool(false), IdempotencyKey: "meta-replay-1"}

	var first, second client.ResponseMeta
	w1, err := c.ToggleWebhookStatus(ctx, orderHook, p, client.WithResponseInto(&first))
	if err != nil {
		t.Fatal(err)
	}
	if first.StatusCode != http.StatusOK || !requestIDPattern.MatchString(first.RequestID) || first.IdempotentReplayed ||
		first.OriginalRequestID != "" || first.Sandbox || first.Attempts != 1 || first.RateLimit != nil || first.RetryAfter != 0 {
		t.Errorf("first call's meta: %+v; want 200, a request id, not replayed, 1 attempt", first)
	}
	if first.Header.Get("X-Api-Version") != "v3" {
		t.Errorf("first call's Header has X-Api-Version %q; want the whole header", first.Header.Get("X-Api-Version"))
	}

	w2, err := c.ToggleWebhookStatus(ctx, orderHook, p, client.WithResponseInto(&second))
	if err != nil {
		t.Fatal(err)
	}
	if !second.IdempotentReplayed || second.OriginalRequestID != first.RequestID {
		t.Errorf("second call's meta: replayed %v, original request %q; want true, %q", second.IdempotentReplayed,
			second.OriginalRequestID, first.RequestID)
	}
	if !requestIDPattern.MatchString(second.RequestID) || second.RequestID == first.RequestID || second.StatusCode != http.StatusOK {
		t.Errorf("second call's meta: %+v; want 200 and a request id of its own", second)
	}
	if !reflect.DeepEqual(w1, w2) {
		t.Errorf("the replay answered %+v; want the first answer %+v", w2, w1)
	}
}

func TestResponseMetaSandboxAgainstServer(t *testing.T) {
	c := newDemoClient(t, startDemo(t))
	ctx := context.Background()
	var meta client.ResponseMeta
	if _, err := c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{Sandbox: true}, client.WithResponseInto(&meta)); err != nil {
		t.Fatal(err)
	}
	if !meta.Sandbox || meta.IdempotentReplayed {
		t.Errorf("sandbox toggle's meta: %+v; want Sandbox true", meta)
	}
	if _, err := c.CreateWebhook(ctx, client.CreateWebhookParams{DisplayName: "fake", EndpointURL: "https://x.example",
		Mutation: client.Mutation{Sandbox: true}}, client.WithResponseInto(&meta)); err != nil {
		t.Fatal(err)
	}
	if !meta.Sandbox || meta.StatusCode != http.StatusCreated {
		t.Errorf("sandbox create's meta: %+v; want 201, Sandbox true", meta)
	}
	if _, err := c.RetrieveWebhook(ctx, orderHook, client.Scope{}, client.WithResponseInto(&meta)); err != nil {
		t.Fatal(err)
	}
	if meta.Sandbox {
		t.Error("a real retrieve's meta says Sandbox")
	}
	if err := c.DeleteWebhook(ctx, orderHook, client.Scope{}, client.WithResponseInto(&meta)); err != nil {
		t.Fatal(err)
	}
	if meta.StatusCode != http.StatusNoContent || !requestIDPattern.MatchString(meta.RequestID) {
		t.Errorf("delete's meta: %+v; want 204 with a request id", meta)
	}
}

// An *Error carries its answer's metadata, the same that WithResponseInto
// gives; a stored 404 replays with its replay headers.
func TestResponseMetaOnErrorAgainstServer(t *testing.T) {
	c := newDemoClient(t, startDemo(t))
	ctx := context.Background()
	p := client.ToggleStatusParams{IdempotencyKey: "meta-404"}

	var first, second client.ResponseMeta
	_, err := c.ToggleWebhookStatus(ctx, globexHook, p, client.WithResponseInto(&first))
	var e1 *client.Error
	if !errors.As(err, &e1) || e1.StatusCode != http.StatusNotFound {
		t.Fatalf("got %v; want a 404 *Error", err)
	}
	if !reflect.DeepEqual(e1.Response, first) {
		t.Errorf("Error.Response %+v differs from WithResponseInto's %+v", e1.Response, first)
	}
	if first.StatusCode != http.StatusNotFound || first.RequestID != e1.RequestID || first.IdempotentReplayed || first.Attempts != 1 {
		t.Errorf("404's meta: %+v; want 404, request id %q, not replayed, 1 attempt", first, e1.RequestID)
	}

	_, err = c.ToggleWebhookStatus(ctx, globexHook, p, client.WithResponseInto(&second))
	var e2 *client.Error
	if !errors.As(err, &e2) || e2.StatusCode != http.StatusNotFound {
		t.Fatalf("got %v; want the 404 replayed", err)
	}
	if !e2.Response.IdempotentReplayed || e2.Response.OriginalRequestID != first.RequestID {
		t.Errorf("replayed 404's Error.Response: %+v; want replayed, original request %q", e2.Response, first.RequestID)
	}
	// The body is the stored one, so Error.RequestID is the original's; the
	// answer's own id is in Response.
	if e2.RequestID != first.RequestID || e2.Response.RequestID == first.RequestID {
		t.Errorf("replayed 404: RequestID %q, Response.RequestID %q; want %q and an id of its own", e2.RequestID, e2.Response.RequestID, first.RequestID)
	}
	if !reflect.DeepEqual(e2.Response, second) {
		t.Errorf("Error.Response %+v differs from WithResponseInto's %+v", e2.Response, second)
	}
}

func TestResponseMetaRetriesAndHeaders(t *testing.T) {
	t.Run("last attempt", func(t *testing.T) {
		down := envelope(http.StatusServiceUnavailable, client.CodeServiceUnavailable, "down", "req_down")
		_, srv := newRecorder(down, okAnswer(false))
		defer srv.Close()
		var meta client.ResponseMeta
		if _, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{},
			client.WithResponseInto(&meta)); err != nil {
			t.Fatal(err)
		}
		if meta.StatusCode != http.StatusOK || meta.RequestID != "req_ok" || meta.Attempts != 2 {
			t.Errorf("meta %+v; want the second attempt's 200, req_ok", meta)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		limited := envelope(http.StatusTooManyRequests, "BUSINESS_002", "Rate limit exceeded", "req_limited")
		for k, v := range map[string]string{"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0",
			"X-RateLimit-Reset": "1767225600", "Retry-After": "30"} {
			limited.header[k] = v
		}
		_, srv := newRecorder(limited)
		defer srv.Close()
		var meta client.ResponseMeta
		_, err := newClient(t, srv.URL, client.WithMaxRetries(0)).ToggleWebhookStatus(context.Background(), orderHook,
			client.ToggleStatusParams{}, client.WithResponseInto(&meta))
		var apiErr *client.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("got %v; want the 429", err)
		}
		want := &client.RateLimit{Limit: 200, Remaining: 0, Reset: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		for name, m := range map[string]client.ResponseMeta{"WithResponseInto": meta, "Error.Response": apiErr.Response} {
			if !reflect.DeepEqual(m.RateLimit, want) || m.RetryAfter != 30*time.Second || m.StatusCode != http.StatusTooManyRequests ||
				m.RequestID != "req_limited" {
				t.Errorf("%s: %+v (rate limit %+v); want 429, req_limited, %+v, Retry-After 30s", name, m, m.RateLimit, want)
			}
		}
	})

	t.Run("no answer", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		meta := client.ResponseMeta{StatusCode: 999, RequestID: "stale"}
		if _, err := newClient(t, "http://"+addr).ToggleWebhookStatus(context.Background(), orderHook,
			client.ToggleStatusParams{}, client.WithResponseInto(&meta)); err == nil {
			t.Fatal("no error from a closed port")
		}
		if !reflect.DeepEqual(meta, client.ResponseMeta{Attempts: 3}) {
			t.Errorf("meta %+v; want only Attempts 3", meta)
		}
	})

	t.Run("no request", func(t *testing.T) {
		rec, srv := newRecorder(okAnswer(false))
		defer srv.Close()
		meta := client.ResponseMeta{StatusCode: 200, RequestID: "stale"}
		if _, err := newClient(t, srv.URL).RetrieveWebhook(context.Background(), "webhook-1", client.Scope{},
			client.WithResponseInto(&meta)); err == nil {
			t.Fatal("a malformed id was accepted")
		}
		if !reflect.DeepEqual(meta, client.ResponseMeta{}) || rec.count() != 0 {
			t.Errorf("meta %+v after %d requests; want it cleared and none sent", meta, rec.count())
		}
	})

	t.Run("iterator", func(t *testing.T) {
		c := newDemoClient(t, startDemo(t))
		var meta client.ResponseMeta
		n := 0
		for _, err := range c.Webhooks(context.Background(), client.ListWebhooksParams{PageSize: 1}, client.WithResponseInto(&meta)) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 2 || meta.StatusCode != http.StatusOK || !requestIDPattern.MatchString(meta.RequestID) {
			t.Errorf("iterated %d webhooks, meta %+v; want 2 and the last page's 200", n, meta)
		}
	})

	t.Run("nil", func(t *testing.T) {
		_, srv := newRecorder(okAnswer(false))
		defer srv.Close()
		if _, err := newClient(t, srv.URL).ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{},
			client.WithResponseInto(nil), nil); err != nil {
			t.Fatal(err)
		}
	})
}
