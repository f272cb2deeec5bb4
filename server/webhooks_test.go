package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentstub/sentstub/store/storetest"
)

var secretSyntax = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]+={0,2}$`)

// wantSecret asserts a secret in the Standard Webhooks format: whsec_ and
// the base64 of 32 bytes.
func wantSecret(t *testing.T, v any) string {
	t.Helper()
	s, _ := v.(string)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if !secretSyntax.MatchString(s) || err != nil || len(key) != 32 {
		t.Fatalf("signing_secret = %#v, want whsec_ and the base64 of 32 bytes", v)
	}
	return s
}

// create creates a webhook for Acme and returns its data.
func (e *env) create(t *testing.T, body string, headers ...string) map[string]any {
	t.Helper()
	r := e.acme(t, http.MethodPost, "/v3/webhooks", &body, headers...)
	if r.Status != http.StatusCreated || !r.Env.Success {
		t.Fatalf("create: status %d, want 201\n%s", r.Status, r.Body)
	}
	return r.Env.Data
}

func TestCreateWebhook(t *testing.T) {
	e := newEnv(t, nil)
	data := e.create(t, `{"display_name": "Orders", "endpoint_url": "https://example.com/hooks"}`)
	secret := wantSecret(t, data["signing_secret"])
	want := map[string]any{
		"display_name": "Orders", "endpoint_url": "https://example.com/hooks", "is_active": true,
		"event_types": []any{"message"}, "event_filters": nil, "retry_count": float64(3), "timeout_seconds": float64(30),
		"last_delivery_attempt_at": nil, "last_successful_delivery_at": nil, "consecutive_failures": float64(0),
		"created_at": "2026-03-11T21:50:49.68709+00:00", "updated_at": "2026-03-11T21:50:49.68709+00:00",
	}
	for k, v := range want {
		if got := data[k]; !equalJSON(got, v) {
			t.Errorf("data.%s = %#v, want %#v", k, got, v)
		}
	}
	id := data["id"].(string)
	// Retrieve shows the same webhook, its secret hidden.
	got := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id, nil))
	if got["signing_secret"] != nil || got["display_name"] != "Orders" {
		t.Errorf("retrieve: %v", got)
	}
	// Every other secret differs.
	other := e.create(t, `{"display_name": "Orders", "endpoint_url": "https://example.com/hooks"}`)
	if wantSecret(t, other["signing_secret"]) == secret || other["id"] == id {
		t.Errorf("two creates share a secret or an id")
	}
}

func TestCreateWebhookAllFields(t *testing.T) {
	e := newEnv(t, nil)
	data := e.create(t, `{"display_name": "  All  ", "endpoint_url": "http://127.0.0.1:9/x?y=1",
		"event_types": ["messages", "templates", "call"], "event_filters": {"message": ["delivered", "failed"], "call": ["missed"]},
		"retry_count": 5, "timeout_seconds": 120, "is_active": false, "unknown": 1}`)
	for k, v := range map[string]any{
		"display_name": "  All  ", "endpoint_url": "http://127.0.0.1:9/x?y=1", "is_active": true,
		"event_types":   []any{"messages", "templates", "call"},
		"event_filters": map[string]any{"message": []any{"delivered", "failed"}, "call": []any{"missed"}},
		"retry_count":   float64(5), "timeout_seconds": float64(120),
	} {
		if got := data[k]; !equalJSON(got, v) {
			t.Errorf("data.%s = %#v, want %#v", k, got, v)
		}
	}
}

// Every create decision about a bad field: 400 VALIDATION_001 with each
// failing field in details, and nothing saved.
func TestCreateWebhookValidation(t *testing.T) {
	long := strings.Repeat("a", 256)
	longURL := "https://example.com/" + strings.Repeat("a", 2048)
	for name, c := range map[string]struct {
		body   string
		fields []string
	}{
		"no display_name":         {`{"endpoint_url": "https://x.example"}`, []string{"display_name"}},
		"no endpoint_url":         {`{"display_name": "x"}`, []string{"endpoint_url"}},
		"neither":                 {`{}`, []string{"display_name", "endpoint_url"}},
		"blank display_name":      {`{"display_name": "   ", "endpoint_url": "https://x.example"}`, []string{"display_name"}},
		"empty display_name":      {`{"display_name": "", "endpoint_url": "https://x.example"}`, []string{"display_name"}},
		"NUL in display_name":     {`{"display_name": "a\u0000b", "endpoint_url": "https://x.example"}`, []string{"display_name"}},
		"long display_name":       {`{"display_name": "` + long + `", "endpoint_url": "https://x.example"}`, []string{"display_name"}},
		"ftp url":                 {`{"display_name": "x", "endpoint_url": "ftp://x.example"}`, []string{"endpoint_url"}},
		"relative url":            {`{"display_name": "x", "endpoint_url": "/hooks"}`, []string{"endpoint_url"}},
		"url without host":        {`{"display_name": "x", "endpoint_url": "https:///hooks"}`, []string{"endpoint_url"}},
		"long url":                {`{"display_name": "x", "endpoint_url": "` + longURL + `"}`, []string{"endpoint_url"}},
		"empty event_types":       {`{"display_name": "x", "endpoint_url": "https://x.example", "event_types": []}`, []string{"event_types"}},
		"unknown event type":      {`{"display_name": "x", "endpoint_url": "https://x.example", "event_types": ["payments"]}`, []string{"event_types.0"}},
		"repeated event type":     {`{"display_name": "x", "endpoint_url": "https://x.example", "event_types": ["message", "messages"]}`, []string{"event_types"}},
		"filter not subscribed":   {`{"display_name": "x", "endpoint_url": "https://x.example", "event_filters": {"templates": ["approved"]}}`, []string{"event_filters"}},
		"filter unknown sub-type": {`{"display_name": "x", "endpoint_url": "https://x.example", "event_filters": {"message": ["opened"]}}`, []string{"event_filters"}},
		"filter empty list":       {`{"display_name": "x", "endpoint_url": "https://x.example", "event_filters": {"message": []}}`, []string{"event_filters"}},
		"retry_count 0":           {`{"display_name": "x", "endpoint_url": "https://x.example", "retry_count": 0}`, []string{"retry_count"}},
		"retry_count 6":           {`{"display_name": "x", "endpoint_url": "https://x.example", "retry_count": 6}`, []string{"retry_count"}},
		"timeout 4":               {`{"display_name": "x", "endpoint_url": "https://x.example", "timeout_seconds": 4}`, []string{"timeout_seconds"}},
		"timeout 121":             {`{"display_name": "x", "endpoint_url": "https://x.example", "timeout_seconds": 121}`, []string{"timeout_seconds"}},
		"every field at once":     {`{"display_name": 7, "endpoint_url": "x", "retry_count": 9, "timeout_seconds": 1}`, []string{"display_name", "endpoint_url", "retry_count", "timeout_seconds"}},
		"sandbox too":             {`{"display_name": "x", "endpoint_url": "ftp://x", "sandbox": true}`, []string{"endpoint_url"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.acme(t, http.MethodPost, "/v3/webhooks", &c.body)
			wantError(t, r, http.StatusBadRequest, "VALIDATION_001", "Request validation failed")
			for _, f := range c.fields {
				if len(r.Env.Error.Details[f]) == 0 {
					t.Errorf("details has no %q: %v", f, r.Env.Error.Details)
				}
			}
			if len(r.Env.Error.Details) != len(c.fields) {
				t.Errorf("details = %v, want exactly %v", r.Env.Error.Details, c.fields)
			}
			if n := listTotal(t, e, ""); n != 2 {
				t.Errorf("Acme has %d webhooks after a rejected create, want its 2", n)
			}
		})
	}
}

// listTotal is the total_count of Acme's webhooks matching query.
func listTotal(t *testing.T, e *env, query string, headers ...string) int {
	t.Helper()
	data := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks?page=1&page_size=100"+query, nil, headers...))
	return int(data["pagination"].(map[string]any)["total_count"].(float64))
}

func TestCreateWebhookSandbox(t *testing.T) {
	e := newEnv(t, nil)
	r := e.acme(t, http.MethodPost, "/v3/webhooks", str(`{"display_name": "Dry run", "endpoint_url": "https://x.example", "retry_count": 2, "sandbox": true}`))
	if r.Status != http.StatusCreated || r.Header.Get("X-Sandbox") != "true" {
		t.Fatalf("status %d, X-Sandbox %q\n%s", r.Status, r.Header.Get("X-Sandbox"), r.Body)
	}
	wantSecret(t, r.Env.Data["signing_secret"])
	if r.Env.Data["display_name"] != "Dry run" || r.Env.Data["retry_count"] != float64(2) {
		t.Errorf("sandbox create does not echo what was sent: %v", r.Env.Data)
	}
	wantError(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+r.Env.Data["id"].(string), nil), http.StatusNotFound, "RESOURCE_008", "Webhook not found")
	if n := listTotal(t, e, ""); n != 2 {
		t.Errorf("a sandbox create was saved: Acme has %d webhooks", n)
	}
}

func TestCreateWebhookIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"display_name": "Once", "endpoint_url": "https://x.example"}`
	first := e.acme(t, http.MethodPost, "/v3/webhooks", &body, "Idempotency-Key", "create-1")
	again := e.acme(t, http.MethodPost, "/v3/webhooks", &body, "Idempotency-Key", "create-1")
	if first.Status != http.StatusCreated {
		t.Fatalf("status %d\n%s", first.Status, first.Body)
	}
	wantReplayOf(t, again, first)
	if n := listTotal(t, e, ""); n != 3 {
		t.Errorf("Acme has %d webhooks after a create and its replay, want 3", n)
	}
}

func TestCreateWebhookForProfile(t *testing.T) {
	e := newEnv(t, nil)
	data := e.create(t, `{"display_name": "EU", "endpoint_url": "https://eu.example"}`, "x-profile-id", storetest.AcmeEUProfileID)
	id := data["id"].(string)
	wantError(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id, nil), http.StatusNotFound, "RESOURCE_008", "")
	wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id, nil, "x-profile-id", storetest.AcmeEUProfileID))
	wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id, nil, "x-api-key", storetest.AcmeEUKey))
}

// Another account's webhook is 404 RESOURCE_008 on every operation of a
// webhook, and a malformed id is 400 with toggle's message.
func TestWebhookOperationsTenancy(t *testing.T) {
	e := newEnv(t, nil)
	ops := []struct{ method, suffix, body string }{
		{http.MethodGet, "", ""},
		{http.MethodPut, "", `{"display_name": "mine now"}`},
		{http.MethodDelete, "", ""},
		{http.MethodGet, "/events?page=1&page_size=10", ""},
		{http.MethodPost, "/rotate-secret", `{}`},
		{http.MethodPost, "/test", `{}`},
		{http.MethodPatch, "/toggle-status", `{}`},
	}
	for _, op := range ops {
		var body *string
		if op.body != "" {
			body = str(op.body)
		}
		name := op.method + " " + op.suffix
		for _, id := range []string{globexID, euID, "6f1e2d3c-4b5a-4978-8877-665544332211"} {
			wantError(t, e.acme(t, op.method, "/v3/webhooks/"+id+op.suffix, body), http.StatusNotFound, "RESOURCE_008", "Webhook not found")
		}
		r := e.acme(t, op.method, "/v3/webhooks/not-a-uuid"+op.suffix, body)
		wantError(t, r, http.StatusBadRequest, "VALIDATION_001", "Invalid webhook ID format.")
		if t.Failed() {
			t.Fatalf("%s failed", name)
		}
	}
	// Globex's webhook is untouched by all of the above.
	data := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+globexID, nil, "x-api-key", storetest.GlobexOrgKey))
	if data["display_name"] != "Globex Alerts" || data["is_active"] != true {
		t.Errorf("Globex's webhook changed: %v", data)
	}
}

func TestRetrieveWebhook(t *testing.T) {
	e := newEnv(t, nil)
	data := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+strings.ToUpper(receiptsID), nil))
	for k, v := range map[string]any{
		"id": receiptsID, "signing_secret": nil, "is_active": false, "consecutive_failures": float64(10),
		"event_filters": map[string]any{"message": []any{"delivered", "failed"}}, "retry_count": float64(5),
	} {
		if got := data[k]; !equalJSON(got, v) {
			t.Errorf("data.%s = %#v, want %#v", k, got, v)
		}
	}
}

func TestUpdateWebhook(t *testing.T) {
	e := newEnv(t, nil)
	path := "/v3/webhooks/" + receiptsID
	before := wantOK(t, e.acme(t, http.MethodGet, path, nil))

	// An empty body, or one of values it already has, changes nothing.
	e.Clock.Advance(time.Minute)
	for _, body := range []*string{nil, str(`{}`), str(`{"display_name": "Delivery Receipts", "retry_count": 5}`), str(`{"is_active": true, "signing_secret": "x"}`)} {
		got := wantOK(t, e.acme(t, http.MethodPut, path, body))
		if !equalJSON(got, before) {
			t.Errorf("a no-op update changed the webhook:\n%v\nwant\n%v", got, before)
		}
	}

	// Only what is sent changes, and updated_at moves.
	e.Clock.Advance(time.Minute)
	got := wantOK(t, e.acme(t, http.MethodPut, path, str(`{"display_name": "Receipts v2", "timeout_seconds": 60}`)))
	if got["display_name"] != "Receipts v2" || got["timeout_seconds"] != float64(60) || got["retry_count"] != float64(5) ||
		got["endpoint_url"] != before["endpoint_url"] || !equalJSON(got["event_filters"], before["event_filters"]) || got["is_active"] != false {
		t.Errorf("update = %v", got)
	}
	if got["updated_at"] != "2026-03-11T21:52:49.68709+00:00" || got["created_at"] != before["created_at"] || got["signing_secret"] != nil {
		t.Errorf("timestamps or secret: updated_at %v, created_at %v, secret %v", got["updated_at"], got["created_at"], got["signing_secret"])
	}
	if read := wantOK(t, e.acme(t, http.MethodGet, path, nil)); !equalJSON(read, got) {
		t.Errorf("retrieve after update = %v, want %v", read, got)
	}

	// event_filters: null removes them; dropping a family drops its filters.
	if got := wantOK(t, e.acme(t, http.MethodPut, path, str(`{"event_filters": null}`))); got["event_filters"] != nil {
		t.Errorf("event_filters after null = %v", got["event_filters"])
	}
	wantOK(t, e.acme(t, http.MethodPut, path, str(`{"event_types": ["message", "call"], "event_filters": {"message": ["read"], "call": ["missed"]}}`)))
	got = wantOK(t, e.acme(t, http.MethodPut, path, str(`{"event_types": ["call"]}`)))
	if !equalJSON(got["event_filters"], map[string]any{"call": []any{"missed"}}) {
		t.Errorf("event_filters after unsubscribing message = %v", got["event_filters"])
	}
	got = wantOK(t, e.acme(t, http.MethodPut, path, str(`{"event_types": ["templates"]}`)))
	if got["event_filters"] != nil {
		t.Errorf("event_filters of no subscribed family = %v, want null", got["event_filters"])
	}
}

func TestUpdateWebhookValidation(t *testing.T) {
	e := newEnv(t, nil)
	path := "/v3/webhooks/" + receiptsID
	before := wantOK(t, e.acme(t, http.MethodGet, path, nil))
	for body, field := range map[string]string{
		`{"display_name": "  "}`:                                   "display_name",
		`{"endpoint_url": "mailto:x@example.com"}`:                 "endpoint_url",
		`{"event_types": []}`:                                      "event_types",
		`{"event_filters": {"templates": ["approved"]}}`:           "event_filters", // not subscribed
		`{"event_types": ["call"], "event_filters": {"call": []}}`: "event_filters",
		`{"retry_count": 10}`:                                      "retry_count",
		`{"timeout_seconds": 0, "display_name": "ok"}`:             "timeout_seconds",
		`{"display_name": "ok", "event_filters": {"x": ["y"]}}`:    "event_filters",
	} {
		r := e.acme(t, http.MethodPut, path, &body)
		wantError(t, r, http.StatusBadRequest, "VALIDATION_001", "Request validation failed")
		if len(r.Env.Error.Details[field]) == 0 {
			t.Errorf("%s: details = %v, want %s", body, r.Env.Error.Details, field)
		}
	}
	if after := wantOK(t, e.acme(t, http.MethodPut, path, nil)); !equalJSON(after, before) {
		t.Errorf("a rejected update changed the webhook:\n%v\nwant\n%v", after, before)
	}
}

func TestUpdateWebhookSandbox(t *testing.T) {
	e := newEnv(t, nil)
	path := "/v3/webhooks/" + orderID
	r := e.acme(t, http.MethodPut, path, str(`{"display_name": "Dry", "sandbox": true}`))
	if got := wantOK(t, r); got["display_name"] != "Dry" || r.Header.Get("X-Sandbox") != "true" {
		t.Errorf("sandbox update: %v, X-Sandbox %q", got, r.Header.Get("X-Sandbox"))
	}
	if got := wantOK(t, e.acme(t, http.MethodGet, path, nil)); got["display_name"] != "Order Notifications" {
		t.Errorf("a sandbox update was saved: %v", got["display_name"])
	}
	// Never 404: another account's id gets a plausible fake.
	r = e.acme(t, http.MethodPut, "/v3/webhooks/"+globexID, str(`{"retry_count": 1, "sandbox": true}`))
	if got := wantOK(t, r); got["id"] != globexID || got["retry_count"] != float64(1) || got["display_name"] == "Globex Alerts" {
		t.Errorf("sandbox update of an unknown webhook: %v", got)
	}
	wantError(t, e.acme(t, http.MethodPut, path, str(`{"retry_count": 0, "sandbox": true}`)), http.StatusBadRequest, "VALIDATION_001", "")
}

func TestUpdateWebhookIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	path := "/v3/webhooks/" + orderID
	first := e.acme(t, http.MethodPut, path, str(`{"display_name": "First"}`), "Idempotency-Key", "put-1")
	wantOK(t, first)
	wantOK(t, e.acme(t, http.MethodPut, path, str(`{"display_name": "Second"}`)))
	again := e.acme(t, http.MethodPut, path, str(`{"display_name": "First"}`), "Idempotency-Key", "put-1")
	wantReplayOf(t, again, first)
	if got := wantOK(t, e.acme(t, http.MethodGet, path, nil)); got["display_name"] != "Second" {
		t.Errorf("a replayed update ran again: display_name %v", got["display_name"])
	}
}

func TestListWebhooks(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string // newest first
	for _, c := range []string{
		`{"display_name": "Alpha 100%", "endpoint_url": "https://a.example/x_y"}`,
		`{"display_name": "beta", "endpoint_url": "https://B.example/hooks"}`,
		`{"display_name": "Gamma", "endpoint_url": "https://c.example/xzy"}`,
	} {
		e.Clock.Advance(time.Second)
		ids = slices.Insert(ids, 0, e.create(t, c)["id"].(string))

	}
	page := func(query string) (ids []string, pagination map[string]any) {
		t.Helper()
		data := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks?"+query, nil))
		for _, w := range data["webhooks"].([]any) {
			w := w.(map[string]any)
			if w["signing_secret"] != nil {
				t.Errorf("list shows a secret")
			}
			ids = append(ids, w["id"].(string))
		}
		return ids, data["pagination"].(map[string]any)
	}
	// Newest first: the three created now, then the fixture's two (created
	// together, so by id descending).
	got, p := page("page=1&page_size=100")
	fixture := []string{orderID, receiptsID}
	slices.Sort(fixture)
	slices.Reverse(fixture)
	if want := append(slices.Clone(ids), fixture...); !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	wantPagination(t, p, 1, 100, 5, 1, false)

	got, p = page("page=2&page_size=2")
	if !slices.Equal(got, []string{ids[2], fixture[0]}) {
		t.Errorf("page 2 = %v", got)
	}
	wantPagination(t, p, 2, 2, 5, 3, true)
	got, p = page("page=9&page_size=2")
	if len(got) != 0 {
		t.Errorf("a page past the end has %v", got)
	}
	wantPagination(t, p, 9, 2, 5, 3, false)

	for query, want := range map[string][]string{
		"&search=ALPHA":            {ids[2]},
		"&search=b.EXAMPLE":        {ids[1]},
		"&search=100%25":           {ids[2]}, // % is literal
		"&search=x_y":              {ids[2]}, // _ is literal: xzy does not match
		"&search=example.com":      fixture,
		"&is_active=false":         {receiptsID},
		"&is_active=true&search=a": {ids[0], ids[1], ids[2], orderID},
		"&search=nothing":          nil,
	} {
		got, p := page("page=1&page_size=10" + query)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", query, got, want)
		}
		if int(p["total_count"].(float64)) != len(want) {
			t.Errorf("%s: total_count %v, want %d", query, p["total_count"], len(want))
		}
	}
	// The profile's and Globex's webhooks are theirs.
	if got, _ := page("page=1&page_size=100"); slices.Contains(got, euID) || slices.Contains(got, globexID) {
		t.Errorf("Acme's list shows another account's webhook: %v", got)
	}
	data := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks?page=1&page_size=10", nil, "x-profile-id", storetest.AcmeEUProfileID))
	if ws := data["webhooks"].([]any); len(ws) != 1 || ws[0].(map[string]any)["id"] != euID {
		t.Errorf("the profile's list = %v", ws)
	}
}

func wantPagination(t *testing.T, p map[string]any, page, size, total, pages int, more bool) {
	t.Helper()
	want := map[string]any{"page": float64(page), "page_size": float64(size), "total_count": float64(total),
		"total_pages": float64(pages), "has_more": more, "cursors": nil}
	if !equalJSON(p, want) {
		t.Errorf("pagination = %v, want %v", p, want)
	}
}

func TestListValidation(t *testing.T) {
	e := newEnv(t, nil)
	for _, base := range []string{"/v3/webhooks", "/v3/webhooks/" + orderID + "/events"} {
		for query, field := range map[string]string{
			"":                      "page",
			"?page=1":               "page_size",
			"?page_size=10":         "page",
			"?page=0&page_size=10":  "page",
			"?page=-1&page_size=10": "page",
			"?page=1&page_size=0":   "page_size",
			"?page=1&page_size=101": "page_size",
			"?page=x&page_size=10":  "page",
			"?page=1&page_size=10&search=" + strings.Repeat("s", 256): "search",
		} {
			r := e.acme(t, http.MethodGet, base+query, nil)
			wantError(t, r, http.StatusBadRequest, "VALIDATION_001", "")
			if len(r.Env.Error.Details[field]) == 0 {
				t.Errorf("%s%s: details = %v, want %s", base, query, r.Env.Error.Details, field)
			}
		}
	}
	r := e.acme(t, http.MethodGet, "/v3/webhooks?page=1&page_size=10&is_active=maybe", nil)
	wantError(t, r, http.StatusBadRequest, "VALIDATION_001", "")
}

func TestDeleteWebhook(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t, nil)
	id := e.create(t, fmt.Sprintf(`{"display_name": "Doomed", "endpoint_url": %q}`, rc.URL))["id"].(string)
	wantOK(t, e.acme(t, http.MethodPost, "/v3/webhooks/"+id+"/test", str(`{}`)))
	// A body with sandbox is ignored: delete always deletes.
	r := e.acme(t, http.MethodDelete, "/v3/webhooks/"+id, str(`{"sandbox": true}`), "Idempotency-Key", "ignored-on-delete")
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("delete: status %d, body %q", r.Status, r.Body)
	}
	if r.Header.Get("X-Request-Id") == "" || r.Header.Get("X-Sandbox") != "" {
		t.Errorf("delete headers: %v", r.Header)
	}
	wantError(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id, nil), http.StatusNotFound, "RESOURCE_008", "")
	wantError(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id+"/events?page=1&page_size=10", nil), http.StatusNotFound, "RESOURCE_008", "")
	// DELETE ignores Idempotency-Key: the second is a real, failing delete.
	r = e.acme(t, http.MethodDelete, "/v3/webhooks/"+id, nil, "Idempotency-Key", "ignored-on-delete")
	wantError(t, r, http.StatusNotFound, "RESOURCE_008", "Webhook not found")
	if r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("a DELETE was replayed")
	}
}

func TestListWebhookEventTypes(t *testing.T) {
	e := newEnv(t, nil)
	r := e.acme(t, http.MethodGet, "/v3/webhooks/event-types", nil)
	data := wantOK(t, r)
	var families []string
	subs := map[string][]string{}
	for _, f := range data["event_types"].([]any) {
		f := f.(map[string]any)
		name := f["name"].(string)
		families = append(families, name)
		if f["event_type"] != name || f["is_active"] != true || f["display_name"] == "" || f["description"] == "" {
			t.Errorf("family %v", f)
		}
		for _, s := range f["sub_types"].([]any) {
			s := s.(map[string]any)
			subs[name] = append(subs[name], s["name"].(string))
			if s["event_type"] != name+"."+s["name"].(string) || s["sub_types"] != nil {
				t.Errorf("sub-type %v", s)
			}
		}
	}
	if want := []string{"message", "templates", "contact", "channel", "link", "call"}; !slices.Equal(families, want) {
		t.Errorf("families = %v, want %v", families, want)
	}
	for _, s := range []string{"sent", "delivered", "read", "failed"} {
		if !slices.Contains(subs["message"], s) {
			t.Errorf("message has no sub-type %s: %v", s, subs["message"])
		}
	}
	for _, f := range families {
		if len(subs[f]) == 0 {
			t.Errorf("family %s has no sub-types", f)
		}
	}
	wantError(t, e.call(t, http.MethodGet, "/v3/webhooks/event-types", nil), http.StatusUnauthorized, "AUTH_001", "")
}

func TestRotateWebhookSecret(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t, nil)
	created := e.create(t, fmt.Sprintf(`{"display_name": "Rotating", "endpoint_url": %q}`, rc.URL))
	id, old := created["id"].(string), created["signing_secret"].(string)
	path := "/v3/webhooks/" + id

	// Sandbox: a fresh secret, not saved.
	r := e.acme(t, http.MethodPost, path+"/rotate-secret", str(`{"sandbox": true}`))
	if s := wantSecret(t, wantOK(t, r)["signing_secret"]); s == old || r.Header.Get("X-Sandbox") != "true" {
		t.Errorf("sandbox rotate: %s, X-Sandbox %q", s, r.Header.Get("X-Sandbox"))
	}
	wantOK(t, e.acme(t, http.MethodPost, path+"/test", nil))
	if err := verify(rc.requests()[0], old); err != nil {
		t.Errorf("after a sandbox rotate the old secret no longer verifies: %v", err)
	}

	e.Clock.Advance(time.Minute)
	first := e.acme(t, http.MethodPost, path+"/rotate-secret", nil, "Idempotency-Key", "rotate-1")
	rotated := wantSecret(t, wantOK(t, first)["signing_secret"])
	if rotated == old {
		t.Fatal("rotate answered the old secret")
	}
	wantReplayOf(t, e.acme(t, http.MethodPost, path+"/rotate-secret", nil, "Idempotency-Key", "rotate-1"), first)
	got := wantOK(t, e.acme(t, http.MethodGet, path, nil))
	if got["signing_secret"] != nil || got["updated_at"] != "2026-03-11T21:51:49.68709+00:00" {
		t.Errorf("after rotate: secret %v, updated_at %v", got["signing_secret"], got["updated_at"])
	}
	wantOK(t, e.acme(t, http.MethodPost, path+"/test", nil))
	d := rc.requests()[1]
	if err := verify(d, rotated); err != nil {
		t.Errorf("the new secret does not verify a delivery: %v", err)
	}
	if err := verify(d, old); err == nil {
		t.Errorf("the old secret still verifies a delivery after rotate")
	}
}

func TestTestWebhook(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t, nil)
	created := e.create(t, fmt.Sprintf(`{"display_name": "Tested", "endpoint_url": %q, "event_types": ["messages", "templates"]}`, rc.URL+"/hook?x=1"))
	id, secret := created["id"].(string), created["signing_secret"].(string)
	path := "/v3/webhooks/" + id

	r := e.acme(t, http.MethodPost, path+"/test", str(`{"event_type": "templates"}`))
	data := wantOK(t, r)
	if data["success"] != true || !strings.Contains(data["message"].(string), "200") {
		t.Errorf("test = %v", data)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(reqs))
	}
	d := reqs[0]
	if err := verify(d, secret); err != nil {
		t.Errorf("Verify: %v\nheaders %v", err, d.Header)
	}
	var body struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(d.Body, &body); err != nil {
		t.Fatalf("body %s: %v", d.Body, err)
	}
	h := d.Header
	if h.Get("x-webhook-id") != id || h.Get("x-webhook-event-id") != body.ID || h.Get("x-webhook-event-type") != "templates.test" ||
		body.Type != "templates.test" || h.Get("Content-Type") != "application/json" || !strings.Contains(h.Get("User-Agent"), "sentstub") {
		t.Errorf("delivery headers %v, body %s", h, d.Body)
	}
	if ts := h.Get("x-webhook-timestamp"); !regexp.MustCompile(`^\d{10}$`).MatchString(ts) {
		t.Errorf("x-webhook-timestamp = %q", ts)
	}
	if !strings.Contains(string(body.Data), id) || body.CreatedAt != "2026-03-11T21:50:49.68709+00:00" {
		t.Errorf("body = %s", d.Body)
	}

	// The log has it, with what the SDK reads.
	log := wantOK(t, e.acme(t, http.MethodGet, path+"/events?page=1&page_size=10", nil))
	events := log["events"].([]any)
	if len(events) != 1 {
		t.Fatalf("log = %v", log)
	}
	ev := events[0].(map[string]any)
	if ev["event_type"] != "templates.test" || ev["delivery_status"] != "delivered" || ev["delivery_attempts"] != float64(1) ||
		ev["http_status_code"] != float64(200) || ev["response_body"] != `{"received":true}` || ev["error_message"] != nil ||
		ev["processing_started_at"] == nil || ev["processing_completed_at"] == nil {
		t.Errorf("log entry = %v", ev)
	}
	if data, _ := json.Marshal(ev["event_data"]); !jsonEqualBytes(data, d.Body) {
		t.Errorf("event_data = %s, want the delivered body %s", data, d.Body)
	}
	wantPagination(t, log["pagination"].(map[string]any), 1, 10, 1, 1, false)

	// A failing receiver: success false, the status said, the failure count
	// untouched, and a failed entry in the log.
	rc.answer(http.StatusInternalServerError, 0)
	e.Clock.Advance(time.Second)
	data = wantOK(t, e.acme(t, http.MethodPost, path+"/test", nil))
	if data["success"] != false || !strings.Contains(data["message"].(string), "500") {
		t.Errorf("failed test = %v", data)
	}
	if got := wantOK(t, e.acme(t, http.MethodGet, path, nil)); got["consecutive_failures"] != float64(0) {
		t.Errorf("a failed test counted: consecutive_failures %v", got["consecutive_failures"])
	}
	log = wantOK(t, e.acme(t, http.MethodGet, path+"/events?page=1&page_size=1", nil))
	ev = log["events"].([]any)[0].(map[string]any)
	if ev["event_type"] != "message.test" || ev["delivery_status"] != "failed" || ev["http_status_code"] != float64(500) ||
		!strings.Contains(fmt.Sprint(ev["error_message"]), "500") {
		t.Errorf("failed log entry = %v", ev)
	}
	wantPagination(t, log["pagination"].(map[string]any), 1, 1, 2, 2, true)
	if got := wantOK(t, e.acme(t, http.MethodGet, path+"/events?page=1&page_size=10&search=TEMPLATES", nil)); len(got["events"].([]any)) != 1 {
		t.Errorf("search=TEMPLATES: %v", got["events"])
	}
	wantError(t, e.acme(t, http.MethodPost, path+"/test", str(`{"event_type": "payments"}`)), http.StatusBadRequest, "VALIDATION_001", "")
}

func jsonEqualBytes(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && equalJSON(x, y)
}

func TestTestWebhookFailures(t *testing.T) {
	e := newEnv(t, nil)
	wantError(t, e.acme(t, http.MethodPost, "/v3/webhooks/"+receiptsID+"/test", nil), http.StatusBadRequest, "BUSINESS_010", "Webhook is inactive")

	redirect := newReceiver(t)
	target := newReceiver(t)
	redirect.mu.Lock()
	redirect.status, redirect.location = http.StatusFound, target.URL
	redirect.mu.Unlock()
	closed := newReceiver(t)
	closed.Close()
	slow := newReceiver(t)
	slow.answer(http.StatusOK, 10*time.Second)

	for name, c := range map[string]struct {
		url, body, message string
	}{
		"redirect not followed": {redirect.URL, `{"display_name": "r", "endpoint_url": %q}`, "302"},
		"connection refused":    {closed.URL, `{"display_name": "c", "endpoint_url": %q}`, "refused"},
		"slow receiver":         {slow.URL, `{"display_name": "s", "endpoint_url": %q, "timeout_seconds": 5}`, "within 5s"},
	} {
		t.Run(name, func(t *testing.T) {
			id := e.create(t, fmt.Sprintf(c.body, c.url))["id"].(string)
			data := wantOK(t, e.acme(t, http.MethodPost, "/v3/webhooks/"+id+"/test", nil))
			if data["success"] != false || !strings.Contains(data["message"].(string), c.message) {
				t.Errorf("test = %v, want a failure mentioning %q", data, c.message)
			}
			ev := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id+"/events?page=1&page_size=1", nil))["events"].([]any)[0].(map[string]any)
			if ev["delivery_status"] != "failed" || ev["delivery_attempts"] != float64(1) || ev["error_message"] == nil {
				t.Errorf("log entry = %v", ev)
			}
		})
	}
	if n := len(target.requests()); n != 0 {
		t.Errorf("the redirect was followed: its target got %d requests", n)
	}

	// Sandbox sends nothing and records nothing.
	rc := newReceiver(t)
	id := e.create(t, fmt.Sprintf(`{"display_name": "x", "endpoint_url": %q}`, rc.URL))["id"].(string)
	r := e.acme(t, http.MethodPost, "/v3/webhooks/"+id+"/test", str(`{"sandbox": true}`))
	if data := wantOK(t, r); data["success"] != true || r.Header.Get("X-Sandbox") != "true" {
		t.Errorf("sandbox test = %v", data)
	}
	if len(rc.requests()) != 0 {
		t.Errorf("a sandbox test was delivered")
	}
	wantError(t, e.acme(t, http.MethodPost, "/v3/webhooks/"+receiptsID+"/test", str(`{"sandbox": true}`)), http.StatusBadRequest, "BUSINESS_010", "")
}
