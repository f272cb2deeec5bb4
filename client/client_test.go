package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sentstub/sentstub/client"
)

// The tests in this file run the client against the real server: the
// generated Echo server over an in-memory SQLite store with the demo
// fixture, over loopback HTTP.

func TestToggleFlipsAgainstServer(t *testing.T) {
	d := startDemo(t)
	c := newDemoClient(t, d)
	ctx := context.Background()

	wh, err := c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{})
	if err != nil {
		t.Fatalf("first flip: %v", err)
	}
	if wh.ID != orderHook || wh.DisplayName != "Order Notifications" || wh.IsActive {
		t.Fatalf("first flip returned id %s, name %q, is_active %v; want %s, Order Notifications, false",
			wh.ID, wh.DisplayName, wh.IsActive, orderHook)
	}
	if wh.UpdatedAt == nil {
		t.Error("a flip that changed the state returned updated_at null")
	}
	if d.isActive(t, acmeOrgID, orderHook) {
		t.Error("the store still has the webhook active after a flip to inactive")
	}

	wh, err = c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{})
	if err != nil {
		t.Fatalf("second flip: %v", err)
	}
	if !wh.IsActive || !d.isActive(t, acmeOrgID, orderHook) {
		t.Errorf("after two flips: response is_active %v, stored %v; want both true", wh.IsActive, d.isActive(t, acmeOrgID, orderHook))
	}
}

func TestToggleSetsAgainstServer(t *testing.T) {
	d := startDemo(t)
	c := newDemoClient(t, d)
	ctx := context.Background()

	// Setting a state is not a flip: asking for false twice leaves false.
	for i := range 2 {
		wh, err := c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{IsActive: client.Bool(false)})
		if err != nil {
			t.Fatalf("set false #%d: %v", i+1, err)
		}
		if wh.IsActive {
			t.Fatalf("set false #%d returned is_active true", i+1)
		}
	}
	if d.isActive(t, acmeOrgID, orderHook) {
		t.Error("stored is_active true after setting false twice")
	}

	// The fixture's auto-disabled webhook: activating it clears its failures.
	const receipts = "9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
	wh, err := c.ToggleWebhookStatus(ctx, receipts, client.ToggleStatusParams{IsActive: client.Bool(true)})
	if err != nil {
		t.Fatalf("set true: %v", err)
	}
	if !wh.IsActive || wh.ConsecutiveFailures != 0 {
		t.Errorf("activating returned is_active %v, consecutive_failures %d; want true, 0", wh.IsActive, wh.ConsecutiveFailures)
	}
	if len(wh.EventFilters["message"]) != 2 {
		t.Errorf("event_filters = %v; want the fixture's message filters", wh.EventFilters)
	}
}

func TestToggleNotFoundAgainstServer(t *testing.T) {
	d := startDemo(t)
	ct := &countingTransport{next: http.DefaultTransport}
	c := newDemoClient(t, d, client.WithHTTPClient(&http.Client{Transport: ct}))

	// Globex's webhook does not exist for Acme; neither does a random id.
	for _, id := range []string{globexHook, "00000000-0000-4000-8000-000000000000"} {
		before := ct.count()
		wh, err := c.ToggleWebhookStatus(context.Background(), id, client.ToggleStatusParams{})
		if wh != nil {
			t.Errorf("%s: got a webhook with the error", id)
		}
		if !client.IsNotFound(err) {
			t.Fatalf("%s: IsNotFound(%v) = false", id, err)
		}
		var apiErr *client.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s: error %T is not a *client.Error", id, err)
		}
		if apiErr.StatusCode != http.StatusNotFound || apiErr.Code != client.CodeWebhookNotFound ||
			apiErr.Message != "Webhook not found" || apiErr.DocURL != "https://docs.sent.dm/errors/RESOURCE_008" {
			t.Errorf("%s: got %+v", id, apiErr)
		}
		if !regexp.MustCompile(`^req_[A-Za-z0-9]+$`).MatchString(apiErr.RequestID) {
			t.Errorf("%s: RequestID %q is not a sent.dm request id", id, apiErr.RequestID)
		}
		if msg := err.Error(); !strings.Contains(msg, "404") || !strings.Contains(msg, "RESOURCE_008") ||
			!strings.Contains(msg, "Webhook not found") || !strings.Contains(msg, apiErr.RequestID) {
			t.Errorf("%s: Error() = %q; want status, code, message and request id", id, msg)
		}
		if n := ct.count() - before; n != 1 {
			t.Errorf("%s: a 404 was sent %d times; want once (no retry)", id, n)
		}
	}
	if !d.isActive(t, globexID, globexHook) {
		t.Error("Globex's webhook changed")
	}
}

func TestToggleBadAPIKeyAgainstServer(t *testing.T) {
	d := startDemo(t)
	c := newDemoClient(t, d, client.WithAPIKey("sk_test_nobody"))
	_, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not a *client.Error", err, err)
	}
	if apiErr.StatusCode != http.StatusUnauthorized || apiErr.Code != client.CodeInvalidAPIKey || apiErr.RequestID == "" {
		t.Errorf("got %+v; want 401 AUTH_002 with a request id", apiErr)
	}
	if client.IsNotFound(err) {
		t.Error("IsNotFound is true for a 401")
	}
	if !d.isActive(t, acmeOrgID, orderHook) {
		t.Error("a request with a bad key changed the webhook")
	}
}

func TestToggleProfileScopingAgainstServer(t *testing.T) {
	d := startDemo(t)
	ctx := context.Background()
	org := newDemoClient(t, d)

	// Without x-profile-id, Acme's key acts for Acme, which does not own it.
	if _, err := org.ToggleWebhookStatus(ctx, euHook, client.ToggleStatusParams{}); !client.IsNotFound(err) {
		t.Fatalf("Acme without profile on the EU webhook: %v; want 404", err)
	}
	wh, err := org.ToggleWebhookStatus(ctx, euHook, client.ToggleStatusParams{ProfileID: acmeEUID})
	if err != nil {
		t.Fatalf("Acme acting for Acme EU: %v", err)
	}
	if wh.ID != euHook || wh.IsActive {
		t.Errorf("Acme acting for Acme EU got %s is_active %v; want %s false", wh.ID, wh.IsActive, euHook)
	}
	if d.isActive(t, acmeEUID, euHook) {
		t.Error("the EU webhook is still active in the store")
	}
	// ...and the profile scope hides the organization's own webhooks.
	if _, err := org.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{ProfileID: acmeEUID}); !client.IsNotFound(err) {
		t.Errorf("Acme acting for Acme EU on Acme's webhook: %v; want 404", err)
	}

	forbidden := []struct {
		name    string
		key     string
		profile string
	}{
		{"profile key with x-profile-id", acmeEUKey, acmeEUID},
		{"another organization as profile", acmeKey, globexID},
	}
	for _, tc := range forbidden {
		c := newDemoClient(t, d, client.WithAPIKey(tc.key))
		_, err := c.ToggleWebhookStatus(ctx, euHook, client.ToggleStatusParams{ProfileID: tc.profile})
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || apiErr.Code != client.CodeForbidden {
			t.Errorf("%s: %v; want 403 AUTH_004", tc.name, err)
		}
	}

	// The profile's own key reaches its webhook without the header.
	eu := newDemoClient(t, d, client.WithAPIKey(acmeEUKey))
	if wh, err := eu.ToggleWebhookStatus(ctx, euHook, client.ToggleStatusParams{}); err != nil || !wh.IsActive {
		t.Errorf("Acme EU's key flipping back: %v, %+v; want is_active true", err, wh)
	}
}

func TestToggleSandboxAgainstServer(t *testing.T) {
	d := startDemo(t)
	c := newDemoClient(t, d)
	ctx := context.Background()

	wh, err := c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{Sandbox: true})
	if err != nil {
		t.Fatal(err)
	}
	if wh.IsActive {
		t.Error("a sandbox flip of an active webhook answered is_active true")
	}
	if !d.isActive(t, acmeOrgID, orderHook) {
		t.Error("a sandbox flip was written to the store")
	}
	// A second sandbox flip answers the same: the first changed nothing.
	if wh, err := c.ToggleWebhookStatus(ctx, orderHook, client.ToggleStatusParams{Sandbox: true}); err != nil || wh.IsActive {
		t.Errorf("second sandbox flip: %v, %+v; want is_active false again", err, wh)
	}
}

func TestToggleExplicitBadIdempotencyKeyAgainstServer(t *testing.T) {
	d := startDemo(t)
	c := newDemoClient(t, d)
	_, err := c.ToggleWebhookStatus(context.Background(), orderHook, client.ToggleStatusParams{IdempotencyKey: "not a valid key!"})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != client.CodeInvalidIdempotencyKey {
		t.Fatalf("got %v; want 400 VALIDATION_007: an explicit key is sent as given", err)
	}
	if !d.isActive(t, acmeOrgID, orderHook) {
		t.Error("a rejected request changed the webhook")
	}
}

func TestToggleMalformedIDsFailBeforeAnyRequest(t *testing.T) {
	rec, srv := newRecorder(okAnswer(false))
	defer srv.Close()
	c := newClient(t, srv.URL)
	cases := []struct {
		id, profile, want string
	}{
		{"not-a-uuid", "", `webhook id "not-a-uuid" is not a uuid`},
		{"", "", `webhook id "" is not a uuid`},
		{orderHook, "acme-eu", `profile id "acme-eu" is not a uuid`},
	}
	for _, tc := range cases {
		wh, err := c.ToggleWebhookStatus(context.Background(), tc.id, client.ToggleStatusParams{ProfileID: tc.profile})
		if err == nil || wh != nil {
			t.Fatalf("id %q, profile %q: got %v, %v; want an error", tc.id, tc.profile, wh, err)
		}
		var apiErr *client.Error
		if errors.As(err, &apiErr) {
			t.Errorf("id %q: got *client.Error %v; want a plain error", tc.id, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("id %q: error %q does not contain %q", tc.id, err, tc.want)
		}
	}
	if n := rec.count(); n != 0 {
		t.Errorf("%d requests were sent; want none", n)
	}
}

func TestRequestShape(t *testing.T) {
	rec, srv := newRecorder(okAnswer(false))
	defer srv.Close()
	// A path in the base URL prefixes the operation's path.
	c := newClient(t, srv.URL+"/sent/")
	ctx := context.Background()

	cases := []struct {
		params client.ToggleStatusParams
		body   map[string]any
	}{
		{client.ToggleStatusParams{}, map[string]any{}},
		{client.ToggleStatusParams{IsActive: client.Bool(false)}, map[string]any{"is_active": false}},
		{client.ToggleStatusParams{IsActive: client.Bool(true), Sandbox: true}, map[string]any{"is_active": true, "sandbox": true}},
	}
	for i, tc := range cases {
		wh, err := c.ToggleWebhookStatus(ctx, orderHook, tc.params)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if wh.ID != orderHook || wh.IsActive {
			t.Errorf("case %d: decoded %s is_active %v; want the canned webhook", i, wh.ID, wh.IsActive)
		}
		req := rec.request(i)
		if req.Method != http.MethodPatch || req.URL.Path != "/sent/v3/webhooks/"+orderHook+"/toggle-status" {
			t.Errorf("case %d: %s %s", i, req.Method, req.URL.Path)
		}
		for h, want := range map[string]string{
			"x-api-key":    acmeKey,
			"User-Agent":   client.UserAgent,
			"Content-Type": "application/json",
			"Accept":       "application/json",
		} {
			if got := req.Header.Get(h); got != want {
				t.Errorf("case %d: %s = %q; want %q", i, h, got, want)
			}
		}
		if req.Header.Get("x-profile-id") != "" {
			t.Errorf("case %d: x-profile-id sent without ProfileID", i)
		}
		var body map[string]any
		if err := json.Unmarshal(rec.body(i), &body); err != nil {
			t.Fatalf("case %d: body %q: %v", i, rec.body(i), err)
		}
		if got, want := mustJSON(body), mustJSON(tc.body); got != want {
			t.Errorf("case %d: body %s; want %s", i, got, want)
		}
	}
	if want := "sentstub-go/" + client.Version + " (github.com/sentstub/sentstub/client)"; client.UserAgent != want {
		t.Errorf("UserAgent = %q; want %q", client.UserAgent, want)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
