package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sentstub/sentstub/client"
)

// The whole resource through the Go client, against a real server.
func TestWebhookLifecycleAgainstServer(t *testing.T) {
	ctx := context.Background()
	var got atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-webhook-signature") != "" {
			got.Add(1)
		}
	}))
	defer receiver.Close()
	c := newDemoClient(t, startDemo(t))

	w, err := c.CreateWebhook(ctx, client.CreateWebhookParams{DisplayName: "Go client", EndpointURL: receiver.URL,
		EventTypes: []string{"message"}, EventFilters: map[string][]string{"message": {"delivered"}}, RetryCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.SigningSecret, "whsec_") || w.RetryCount != 2 || w.TimeoutSeconds != 30 {
		t.Fatalf("created %+v", w)
	}
	id := w.ID

	read, err := c.RetrieveWebhook(ctx, id, client.Scope{})
	if err != nil || read.SigningSecret != "" || read.DisplayName != "Go client" {
		t.Fatalf("retrieve = %+v, %v", read, err)
	}
	name := "Go client v2"
	updated, err := c.UpdateWebhook(ctx, id, client.UpdateWebhookParams{DisplayName: &name, ClearEventFilters: true})
	if err != nil || updated.DisplayName != name || updated.EventFilters != nil || updated.RetryCount != 2 {
		t.Fatalf("update = %+v, %v", updated, err)
	}

	page, err := c.ListWebhooks(ctx, client.ListWebhooksParams{PageSize: 1})
	if err != nil || len(page.Webhooks) != 1 || page.Webhooks[0].ID != w.ID || page.Pagination.TotalCount != 3 || !page.Pagination.HasMore {
		t.Fatalf("list = %+v, %v", page, err)
	}
	types, err := c.ListWebhookEventTypes(ctx, client.Scope{})
	if err != nil || len(types) != 6 {
		t.Fatalf("event types = %v, %v", types, err)
	}

	secret, err := c.RotateWebhookSecret(ctx, id, client.Mutation{})
	if err != nil || secret == w.SigningSecret || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("rotate = %q, %v", secret, err)
	}
	result, err := c.TestWebhook(ctx, id, client.TestWebhookParams{EventType: "message"})
	if err != nil || !result.Success || got.Load() != 1 {
		t.Fatalf("test = %+v, %v; receiver got %d", result, err, got.Load())
	}
	events, err := c.ListWebhookEvents(ctx, id, client.ListWebhookEventsParams{})
	if err != nil || len(events.Events) != 1 || events.Events[0].DeliveryStatus != "delivered" {
		t.Fatalf("events = %+v, %v", events, err)
	}

	if _, err := c.ToggleWebhookStatus(ctx, id, client.ToggleStatusParams{IsActive: client.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.TestWebhook(ctx, id, client.TestWebhookParams{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeWebhookInactive || apiErr.StatusCode != 400 {
		t.Fatalf("test of an inactive webhook: %v", err)
	}

	if err := c.DeleteWebhook(ctx, id, client.Scope{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RetrieveWebhook(ctx, id, client.Scope{}); !client.IsNotFound(err) {
		t.Fatalf("retrieve after delete: %v", err)
	}
	if err := c.DeleteWebhook(ctx, id, client.Scope{}); !client.IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
}

// A create retried after a lost answer creates one webhook: the client
// sends the same Idempotency-Key on every attempt, and the server replays.
func TestCreateWebhookRetriesWithOneKey(t *testing.T) {
	d := startDemo(t)
	target, _ := url.Parse(d.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var (
		mu   sync.Mutex
		keys []string
	)
	// The first attempt reaches the server, but its answer is lost.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			rp.ServeHTTP(httptest.NewRecorder(), r)
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	w, err := newClient(t, front.URL).CreateWebhook(context.Background(), client.CreateWebhookParams{DisplayName: "once", EndpointURL: "https://x.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("Idempotency-Keys of the attempts: %q", keys)
	}
	page, err := newClient(t, d.URL).ListWebhooks(context.Background(), client.ListWebhooksParams{Search: "once"})
	if err != nil || page.Pagination.TotalCount != 1 || page.Webhooks[0].ID != w.ID {
		t.Errorf("webhooks named once: %+v, %v", page, err)
	}
}

// Webhooks iterates over every page, and stops when the loop does.
func TestWebhooksIterator(t *testing.T) {
	ctx := context.Background()
	c := newDemoClient(t, startDemo(t))
	for i := range 5 {
		if _, err := c.CreateWebhook(ctx, client.CreateWebhookParams{DisplayName: fmt.Sprintf("hook %d", i), EndpointURL: "https://x.example"}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for w, err := range c.Webhooks(ctx, client.ListWebhooksParams{PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, w.DisplayName)
	}
	if len(names) != 7 || names[0] != "hook 4" || names[4] != "hook 0" {
		t.Errorf("iterated %q, want the 5 new (newest first) and the fixture's 2", names)
	}
	n := 0
	for range c.Webhooks(ctx, client.ListWebhooksParams{PageSize: 2}) {
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("break after 3: iterated %d", n)
	}
	// An error is yielded once and ends the iteration.
	bad := newClient(t, startDemo(t).URL, client.WithAPIKey("sk_test_nobody"))
	var errs int
	for w, err := range bad.Webhooks(ctx, client.ListWebhooksParams{}) {
		if w != nil || err == nil {
			t.Fatalf("yielded %v, %v", w, err)
		}
		errs++
	}
	if errs != 1 {
		t.Errorf("yielded %d errors", errs)
	}
}
