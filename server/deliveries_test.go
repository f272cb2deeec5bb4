package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/server/dispatch"
	"github.com/sentstub/sentstub/store/storetest"
)

// hook is a webhook created for a test, with its receiver and secret.
type hook struct {
	id, secret string
	rc         *receiver
}

func (e *env) hook(t *testing.T, settings string, headers ...string) hook {
	t.Helper()
	rc := newReceiver(t)
	body := fmt.Sprintf(`{"display_name": "hook", "endpoint_url": %q%s}`, rc.URL, settings)
	data := e.create(t, body, headers...)
	return hook{id: data["id"].(string), secret: data["signing_secret"].(string), rc: rc}
}

// emit emits an event as Acme and returns the answer's data.
func (e *env) emit(t *testing.T, body string, headers ...string) map[string]any {
	t.Helper()
	r := e.acme(t, http.MethodPost, "/_sentstub/v1/events", &body, headers...)
	if r.Status != http.StatusAccepted || !r.Env.Success {
		t.Fatalf("emit: status %d\n%s", r.Status, r.Body)
	}
	return r.Env.Data
}

// waitFor waits until the receiver has n requests, and a little more to
// catch an extra one; it fails after five seconds.
func (rc *receiver) waitFor(t *testing.T, n int) []delivered {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(rc.requests()) < n {
		select {
		case <-rc.arrived:
		case <-deadline:
			t.Fatalf("the receiver got %d deliveries, want %d", len(rc.requests()), n)
		}
	}
	time.Sleep(30 * time.Millisecond) // six polls: time for an unwanted extra one to show
	return rc.requests()
}

// waitLog waits until the webhook's newest log entry satisfies ok.
func (e *env) waitLog(t *testing.T, id string, ok func(ev map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id+"/events?page=1&page_size=1", nil))
		if evs := data["events"].([]any); len(evs) == 1 && ok(evs[0].(map[string]any)) {
			return evs[0].(map[string]any)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log of %s never got there: %v", id, data["events"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type deliveredBody struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

func wantSigned(t *testing.T, d delivered, h hook) deliveredBody {
	t.Helper()
	if err := verify(d, h.secret); err != nil {
		t.Errorf("Verify: %v", err)
	}
	var b deliveredBody
	if err := json.Unmarshal(d.Body, &b); err != nil {
		t.Fatalf("body %s: %v", d.Body, err)
	}
	if d.Header.Get("x-webhook-id") != h.id || d.Header.Get("x-webhook-event-id") != b.ID || d.Header.Get("x-webhook-event-type") != b.Type {
		t.Errorf("headers %v for body %s", d.Header, d.Body)
	}
	return b
}

// An event goes to every active webhook of the account subscribed to its
// family whose filters, if any, list its sub-type; nobody else gets it.
func TestEmitFansOut(t *testing.T) {
	e := newEnv(t, nil)
	// The fixture's active webhook subscribes to messages too, at an
	// endpoint that does not resolve here.
	wantOK(t, e.toggle(t, orderID, str(`{"is_active": false}`)))
	all := e.hook(t, `, "event_types": ["messages"]`)
	filtered := e.hook(t, `, "event_types": ["message", "call"], "event_filters": {"message": ["delivered"]}`)
	other := e.hook(t, `, "event_filters": {"message": ["failed"]}`)
	templates := e.hook(t, `, "event_types": ["templates"]`)
	inactive := e.hook(t, ``)
	wantOK(t, e.toggle(t, inactive.id, str(`{"is_active": false}`)))
	profile := e.hook(t, ``, "x-profile-id", storetest.AcmeEUProfileID)
	globex := e.hook(t, ``, "x-api-key", storetest.GlobexOrgKey)

	data := e.emit(t, `{"type": "messages.delivered", "data": {"message_id": "m1", "n": 1}}`)
	if data["type"] != "message.delivered" {
		t.Errorf("type = %v", data["type"])
	}
	ids := []string{}
	for _, id := range data["webhook_ids"].([]any) {
		ids = append(ids, id.(string))
	}
	want := []string{filtered.id, all.id}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("webhook_ids = %v, want %v", ids, want)
	}
	for _, h := range []hook{all, filtered} {
		d := h.rc.waitFor(t, 1)[0]
		b := wantSigned(t, d, h)
		if b.ID != data["id"] || b.Type != "message.delivered" || !jsonEqualBytes(b.Data, []byte(`{"message_id": "m1", "n": 1}`)) {
			t.Errorf("delivered %s", d.Body)
		}
		if !strings.Contains(d.Header.Get("User-Agent"), "sentstub") {
			t.Errorf("User-Agent %q", d.Header.Get("User-Agent"))
		}
		ev := e.waitLog(t, h.id, func(ev map[string]any) bool { return ev["delivery_status"] == "delivered" })
		if ev["delivery_attempts"] != float64(1) || ev["http_status_code"] != float64(200) || ev["event_type"] != "message.delivered" {
			t.Errorf("log entry %v", ev)
		}
		w := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+h.id, nil))
		if w["last_delivery_attempt_at"] == nil || w["last_successful_delivery_at"] == nil || w["consecutive_failures"] != float64(0) {
			t.Errorf("webhook after a delivery: %v", w)
		}
	}
	for name, h := range map[string]hook{"filtered out": other, "another family": templates, "inactive": inactive,
		"a profile's": profile, "another organization's": globex} {
		if n := len(h.rc.requests()); n != 0 {
			t.Errorf("%s webhook got %d deliveries", name, n)
		}
	}

	// A sub-type the filters leave out reaches only the unfiltered webhook.
	e.emit(t, `{"type": "message.sent"}`)
	if b := wantSigned(t, all.rc.waitFor(t, 2)[1], all); b.Type != "message.sent" || string(b.Data) != "{}" {
		t.Errorf("second delivery %+v", b)
	}
	if n := len(filtered.rc.requests()); n != 1 {
		t.Errorf("the filtered webhook got %d deliveries, want 1", n)
	}
	// The profile's own event reaches the profile's webhook.
	e.emit(t, `{"type": "message.read"}`, "x-profile-id", storetest.AcmeEUProfileID)
	profile.rc.waitFor(t, 1)
}

func TestEmitValidation(t *testing.T) {
	e := newEnv(t, nil)
	for body, field := range map[string]string{
		`{"type": "payments.settled"}`:             "type",
		`{"type": "message"}`:                      "type",
		`{"type": "message.opened"}`:               "type",
		`{"type": "Message.Delivered"}`:            "type",
		`{}`:                                       "type",
		`{"type": "message.sent", "data": [1, 2]}`: "data",
		`{"type": "message.sent", "data": "x"}`:    "data",
	} {
		r := e.acme(t, http.MethodPost, "/_sentstub/v1/events", &body)
		wantError(t, r, http.StatusBadRequest, "VALIDATION_001", "")
		if len(r.Env.Error.Details[field]) == 0 {
			t.Errorf("%s: details %v, want %s", body, r.Env.Error.Details, field)
		}
	}
	wantError(t, e.call(t, http.MethodPost, "/_sentstub/v1/events", str(`{"type": "message.sent"}`)), http.StatusUnauthorized, "AUTH_001", "")
	// No subscriber: accepted, delivered to nobody.
	if data := e.emit(t, `{"type": "link.clicked"}`); len(data["webhook_ids"].([]any)) != 0 {
		t.Errorf("webhook_ids = %v", data["webhook_ids"])
	}
}

// A failed delivery is retried after base, 2*base, 4*base... up to
// retry_count times, with one event id, each attempt signed afresh; then it
// has failed and nothing more is sent.
func TestRetrySchedule(t *testing.T) {
	e := newEnv(t, nil)
	wantOK(t, e.toggle(t, orderID, str(`{"is_active": false}`)))
	h := e.hook(t, `, "retry_count": 3`)
	h.rc.answer(http.StatusServiceUnavailable, 0)
	event := e.emit(t, `{"type": "message.failed"}`)["id"]
	h.rc.waitFor(t, 1)
	ev := e.waitLog(t, h.id, func(ev map[string]any) bool { return ev["delivery_attempts"] == float64(1) })
	if ev["delivery_status"] != "pending" || ev["http_status_code"] != float64(503) || !strings.Contains(fmt.Sprint(ev["error_message"]), "503") {
		t.Errorf("after the first attempt: %v", ev)
	}
	for n, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		e.Clock.Advance(wait - time.Second)
		if got := len(h.rc.waitFor(t, n+1)); got != n+1 {
			t.Fatalf("retry %d came %v early", n+1, time.Second)
		}
		e.Clock.Advance(time.Second)
		h.rc.waitFor(t, n+2)
	}
	reqs := h.rc.requests()
	for _, d := range reqs {
		if b := wantSigned(t, d, h); b.ID != event {
			t.Errorf("a retry carries event id %s, want %s", b.ID, event)
		}
	}
	ev = e.waitLog(t, h.id, func(ev map[string]any) bool { return ev["delivery_attempts"] == float64(4) })
	if ev["delivery_status"] != "failed" {
		t.Errorf("after the last retry: %v", ev)
	}
	w := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+h.id, nil))
	if w["consecutive_failures"] != float64(4) || w["is_active"] != true || w["last_successful_delivery_at"] != nil {
		t.Errorf("webhook after four failures: %v", w)
	}
	e.Clock.Advance(24 * time.Hour)
	if got := len(h.rc.waitFor(t, 4)); got != 4 {
		t.Errorf("%d attempts after the retries ran out, want 4", got)
	}
	// A success resets the count.
	h.rc.answer(http.StatusNoContent, 0)
	e.emit(t, `{"type": "message.sent"}`)
	h.rc.waitFor(t, 5)
	e.waitLog(t, h.id, func(ev map[string]any) bool { return ev["delivery_status"] == "delivered" })
	if w := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+h.id, nil)); w["consecutive_failures"] != float64(0) || w["last_successful_delivery_at"] == nil {
		t.Errorf("webhook after a success: %v", w)
	}
}

// Ten consecutive failures turn a webhook inactive and drop its pending
// retries; it gets nothing more until toggled back, which clears the count.
func TestAutoDisable(t *testing.T) {
	e := newEnv(t, nil, func(c *server.Config) { c.Dispatch.PerEndpoint = 1 })
	wantOK(t, e.toggle(t, orderID, str(`{"is_active": false}`)))
	h := e.hook(t, `, "retry_count": 5`)
	h.rc.answer(http.StatusInternalServerError, 0)
	for range 4 {
		e.emit(t, `{"type": "message.sent"}`)
	}
	h.rc.waitFor(t, 4) // four failures; retries due after a minute
	for i := 1; len(h.rc.requests()) < sentstub.AutoDisableAfter && i < 10; i++ {
		e.Clock.Advance(time.Duration(1<<(i-1)) * time.Minute)
		h.rc.waitFor(t, min(4*(i+1), sentstub.AutoDisableAfter))
	}
	if got := len(h.rc.waitFor(t, sentstub.AutoDisableAfter)); got != sentstub.AutoDisableAfter {
		t.Fatalf("%d attempts, want %d", got, sentstub.AutoDisableAfter)
	}
	w := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+h.id, nil))
	if w["is_active"] != false || w["consecutive_failures"] != float64(10) {
		t.Fatalf("after ten failures: %v", w)
	}
	// Its pending retries were dropped: none is made however long we wait.
	e.Clock.Advance(48 * time.Hour)
	if got := len(h.rc.waitFor(t, 10)); got != 10 {
		t.Errorf("%d attempts after auto-disable, want 10", got)
	}
	log := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+h.id+"/events?page=1&page_size=10&search=pending", nil))
	if n := log["pagination"].(map[string]any)["total_count"]; n != float64(0) {
		t.Errorf("%v deliveries still pending", n)
	}
	if data := e.emit(t, `{"type": "message.sent"}`); len(data["webhook_ids"].([]any)) != 0 {
		t.Errorf("an event went to a disabled webhook: %v", data["webhook_ids"])
	}
	// Re-enabled by a toggle: the count is cleared and deliveries resume.
	if w := wantOK(t, e.toggle(t, h.id, str(`{"is_active": true}`))); w["consecutive_failures"] != float64(0) {
		t.Errorf("after re-enabling: %v", w)
	}
	h.rc.answer(http.StatusOK, 0)
	e.emit(t, `{"type": "message.sent"}`)
	h.rc.waitFor(t, 11)
	e.waitLog(t, h.id, func(ev map[string]any) bool { return ev["delivery_status"] == "delivered" })
}

// A receiver slower than timeout_seconds counts as failed.
func TestSlowReceiverFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	wantOK(t, e.toggle(t, orderID, str(`{"is_active": false}`)))
	h := e.hook(t, `, "timeout_seconds": 5, "retry_count": 1`)
	h.rc.answer(http.StatusOK, 7*time.Second)
	e.emit(t, `{"type": "message.sent"}`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		data := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+h.id+"/events?page=1&page_size=1", nil))
		if evs := data["events"].([]any); len(evs) == 1 && evs[0].(map[string]any)["delivery_attempts"] == float64(1) {
			ev := evs[0].(map[string]any)
			if ev["delivery_status"] != "pending" || ev["http_status_code"] != nil || !strings.Contains(fmt.Sprint(ev["error_message"]), "within 5s") {
				t.Errorf("after a slow answer: %v", ev)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow attempt was never recorded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if w := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+h.id, nil)); w["consecutive_failures"] != float64(1) {
		t.Errorf("webhook after a slow answer: %v", w)
	}
}

// Reset restores the account's webhooks to the fixture's and forgets its
// deliveries and stored answers; other accounts keep theirs.
func TestResetAccount(t *testing.T) {
	e := newEnv(t, nil)
	wantOK(t, e.toggle(t, orderID, str(`{"is_active": false}`)))
	h := e.hook(t, ``)
	e.emit(t, `{"type": "message.sent"}`)
	h.rc.waitFor(t, 1)
	wantOK(t, e.toggle(t, orderID, str(`{"is_active": false}`), "Idempotency-Key", "before-reset"))
	globex := e.hook(t, ``, "x-api-key", storetest.GlobexOrgKey)
	wantOK(t, e.toggle(t, globexID, str(`{"is_active": false}`), "x-api-key", storetest.GlobexOrgKey, "Idempotency-Key", "globex-key"))

	r := e.acme(t, http.MethodPost, "/_sentstub/v1/reset", nil)
	data := wantOK(t, r)
	ids := []string{}
	for _, id := range data["webhook_ids"].([]any) {
		ids = append(ids, id.(string))
	}
	slices.Sort(ids)
	want := []string{orderID, receiptsID}
	slices.Sort(want)
	if data["account_id"] != storetest.AcmeOrgID || !slices.Equal(ids, want) {
		t.Errorf("reset answered %v", data)
	}
	if n := listTotal(t, e, ""); n != 2 {
		t.Errorf("Acme has %d webhooks after a reset, want the fixture's 2", n)
	}
	wantError(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+h.id, nil), http.StatusNotFound, "RESOURCE_008", "")
	order := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+orderID, nil))
	if order["is_active"] != true {
		t.Errorf("the fixture's webhook after reset: %v", order)
	}
	// The stored answer is forgotten: the key runs again.
	again := e.toggle(t, orderID, str(`{"is_active": false}`), "Idempotency-Key", "before-reset")
	if again.Header.Get("Idempotent-Replayed") != "" || wantOK(t, again)["is_active"] != false {
		t.Errorf("after reset the key replayed: %s", again.Body)
	}
	// Globex is untouched: its webhook, its state and its stored answer.
	wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+globex.id, nil, "x-api-key", storetest.GlobexOrgKey))
	if g := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+globexID, nil, "x-api-key", storetest.GlobexOrgKey)); g["is_active"] != false {
		t.Errorf("Globex's webhook changed: %v", g)
	}
	replay := e.toggle(t, globexID, str(`{"is_active": false}`), "x-api-key", storetest.GlobexOrgKey, "Idempotency-Key", "globex-key")
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Globex's stored answer was forgotten")
	}
}

// The deliveries counter counts outcomes.
func TestDeliveryMetrics(t *testing.T) {
	e := newEnv(t, nil)
	wantOK(t, e.toggle(t, orderID, str(`{"is_active": false}`)))
	h := e.hook(t, ``)
	e.emit(t, `{"type": "message.sent"}`)
	h.rc.waitFor(t, 1)
	e.waitLog(t, h.id, func(ev map[string]any) bool { return ev["delivery_status"] == "delivered" })
	res, err := e.Client.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := `sentstub_deliveries_total{outcome="` + dispatch.OutcomeDelivered + `"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %s:\n%s", want, body)
	}
}
