package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store/storetest"
)

const (
	orderID    = storetest.OrderWebhookID
	receiptsID = storetest.ReceiptsWebhookID
	euID       = storetest.EUWebhookID
	globexID   = storetest.GlobexWebhookID
)

// The seed's 200: the docs page's example request answers the docs page's
// example response (but for times and ids).
func TestToggleSeedExample(t *testing.T) {
	e := newEnv(t, nil)
	r := e.toggle(t, orderID, str(`{"is_active": false, "sandbox": false}`), "Idempotency-Key", "req_abc123_retry1")
	data := wantOK(t, r)
	want := map[string]any{
		"id":                          orderID,
		"display_name":                "Order Notifications",
		"endpoint_url":                "https://example.com/webhooks/orders",
		"signing_secret":              nil,
		"is_active":                   false,
		"event_types":                 []any{"messages", "templates"},
		"event_filters":               nil,
		"retry_count":                 float64(3),
		"timeout_seconds":             float64(30),
		"last_delivery_attempt_at":    nil,
		"last_successful_delivery_at": nil,
		"consecutive_failures":        float64(0),
		"created_at":                  "2026-01-15T10:30:00+00:00",
		"updated_at":                  "2026-03-11T21:50:49.68709+00:00",
	}
	if len(data) != len(want) {
		t.Errorf("data has %d fields, want %d: %s", len(data), len(want), r.Body)
	}
	for k, v := range want {
		if got, ok := data[k]; !ok || !equalJSON(got, v) {
			t.Errorf("data.%s = %#v, want %#v", k, got, v)
		}
	}
	if r.Env.Meta.Version != "v3" || r.Env.Meta.Timestamp != "2026-03-11T21:50:49.6870902+00:00" {
		t.Errorf("meta = %+v", r.Env.Meta)
	}
	if !regexp.MustCompile(`^req_[A-Za-z0-9]{10}$`).MatchString(r.Env.Meta.RequestID) {
		t.Errorf("meta.request_id = %q, want req_ and ten base-62 characters", r.Env.Meta.RequestID)
	}
	if got := r.Header.Get("X-Request-Id"); got != r.Env.Meta.RequestID {
		t.Errorf("X-Request-Id = %q, want meta.request_id %q", got, r.Env.Meta.RequestID)
	}
	if got := r.Header.Get("X-API-Version"); got != "v3" {
		t.Errorf("X-API-Version = %q", got)
	}
	if got := r.Header.Get("X-Response-Time"); !regexp.MustCompile(`^\d+\.\d{2}ms$`).MatchString(got) {
		t.Errorf("X-Response-Time = %q, want like 1.84ms", got)
	}
	if got := r.Header.Get("X-Sandbox"); got != "" {
		t.Errorf("X-Sandbox = %q on a real toggle", got)
	}
	// Body field order follows the seed.
	if !strings.HasPrefix(string(r.Body), `{"success":true,"data":{"id":`) {
		t.Errorf("body does not start like the seed's: %.60s", r.Body)
	}
}

func equalJSON(a, b any) bool {
	switch av := a.(type) {
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !equalJSON(av[i], bv[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, v := range av {
			if w, ok := bv[k]; !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func TestToggleSemantics(t *testing.T) {
	t.Run("omitted is_active flips, and flips back", func(t *testing.T) {
		e := newEnv(t, nil)
		for i, want := range []bool{false, true, false} {
			data := wantOK(t, e.toggle(t, orderID, str(`{}`)))
			if data["is_active"] != want {
				t.Fatalf("flip %d: is_active = %v, want %v", i+1, data["is_active"], want)
			}
		}
	})
	t.Run("an empty body counts as {}", func(t *testing.T) {
		e := newEnv(t, nil)
		if data := wantOK(t, e.toggle(t, orderID, nil)); data["is_active"] != false {
			t.Fatalf("is_active = %v, want false", data["is_active"])
		}
		// An empty body sent as application/json, too.
		if data := wantOK(t, e.toggle(t, orderID, str(""))); data["is_active"] != true {
			t.Fatalf("is_active = %v, want true", data["is_active"])
		}
	})
	t.Run("explicit is_active sets the state", func(t *testing.T) {
		e := newEnv(t, nil)
		if data := wantOK(t, e.toggle(t, orderID, str(`{"is_active":false}`))); data["is_active"] != false {
			t.Fatalf("is_active = %v", data["is_active"])
		}
		if data := wantOK(t, e.toggle(t, orderID, str(`{"is_active":true}`))); data["is_active"] != true {
			t.Fatalf("is_active = %v", data["is_active"])
		}
	})
	t.Run("setting the current state changes nothing, updated_at included", func(t *testing.T) {
		e := newEnv(t, nil)
		first := wantOK(t, e.toggle(t, orderID, str(`{"is_active":false}`)))
		e.Clock.Advance(time.Hour)
		again := wantOK(t, e.toggle(t, orderID, str(`{"is_active":false}`)))
		if again["updated_at"] != first["updated_at"] || again["is_active"] != false {
			t.Errorf("no-op changed the webhook: updated_at %v -> %v", first["updated_at"], again["updated_at"])
		}
		// The receipts webhook is inactive with 10 failures: deactivating it
		// keeps the failures.
		r := wantOK(t, e.toggle(t, receiptsID, str(`{"is_active":false}`)))
		if r["consecutive_failures"] != float64(10) || r["updated_at"] != "2026-01-15T10:30:00+00:00" {
			t.Errorf("no-op deactivation changed failures or updated_at: %v, %v", r["consecutive_failures"], r["updated_at"])
		}
	})
	t.Run("activating resets consecutive_failures; deactivating keeps them", func(t *testing.T) {
		e := newEnv(t, nil)
		data := wantOK(t, e.toggle(t, receiptsID, str(`{"is_active":true}`)))
		if data["is_active"] != true || data["consecutive_failures"] != float64(0) {
			t.Errorf("after activation: is_active %v, consecutive_failures %v", data["is_active"], data["consecutive_failures"])
		}
		if data["updated_at"] != "2026-03-11T21:50:49.68709+00:00" {
			t.Errorf("updated_at = %v, want the clock's time at microsecond precision", data["updated_at"])
		}
		if data["event_filters"] == nil || data["retry_count"] != float64(5) || data["timeout_seconds"] != float64(10) {
			t.Errorf("other fields changed: %v", data)
		}
		w, _ := e.Store.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(receiptsID))
		w.ConsecutiveFailures = 4
		if _, err := e.Store.UpdateWebhook(context.Background(), w.OwnerID, w.ID, func(x *sentstub.Webhook) bool {
			x.ConsecutiveFailures = 4
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if data := wantOK(t, e.toggle(t, receiptsID, str(`{"is_active":false}`))); data["consecutive_failures"] != float64(4) {
			t.Errorf("deactivation changed consecutive_failures to %v", data["consecutive_failures"])
		}
	})
	t.Run("the change is stored", func(t *testing.T) {
		e := newEnv(t, nil)
		wantOK(t, e.toggle(t, orderID, str(`{"is_active":false}`)))
		w, err := e.Store.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(orderID))
		if err != nil || w.IsActive {
			t.Fatalf("stored webhook: %+v, %v", w, err)
		}
	})
	t.Run("white space around the JSON body is allowed", func(t *testing.T) {
		e := newEnv(t, nil)
		if data := wantOK(t, e.toggle(t, orderID, str(" \n{\"is_active\":false}\r\n\t "))); data["is_active"] != false {
			t.Errorf("is_active = %v", data["is_active"])
		}
	})
	t.Run("unknown body fields are ignored", func(t *testing.T) {
		e := newEnv(t, nil)
		if data := wantOK(t, e.toggle(t, orderID, str(`{"is_active":false,"colour":"blue"}`))); data["is_active"] != false {
			t.Errorf("is_active = %v", data["is_active"])
		}
	})
	t.Run("ids in upper case and of any version are accepted; answers are lower case", func(t *testing.T) {
		e := newEnv(t, nil)
		data := wantOK(t, e.toggle(t, strings.ToUpper(orderID), str(`{}`)))
		if data["id"] != orderID {
			t.Errorf("id = %v, want %s", data["id"], orderID)
		}
		v7 := "01890a5d-ac96-774b-bcce-b302099a8057"
		wantError(t, e.toggle(t, v7, str(`{}`)), http.StatusNotFound, "RESOURCE_008", "Webhook not found")
	})
}

func TestToggleErrors(t *testing.T) {
	e := newEnv(t, nil)
	bigBody := `{"is_active":false,"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name    string
		id      string
		body    *string
		headers []string
		status  int
		code    string
		message string
		details map[string][]string // nil: error.details must be null
	}{
		{"malformed id (seed)", "not-a-uuid", str(`{"is_active":false}`), nil,
			400, "VALIDATION_001", "Invalid webhook ID format.", nil},
		{"id with a bad hex digit", "g4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8", str(`{}`), nil,
			400, "VALIDATION_001", "Invalid webhook ID format.", nil},
		{"malformed id and body: every problem reported", "nope", str(`{"is_active":"yes"}`), nil,
			400, "VALIDATION_001", "Invalid webhook ID format.", map[string][]string{"id": {"must be a UUID"}, "is_active": {"must be a boolean"}}},
		{"is_active null", orderID, str(`{"is_active":null}`), nil,
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"is_active": {"must be a boolean"}}},
		{"is_active a string", orderID, str(`{"is_active":"false"}`), nil,
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"is_active": {"must be a boolean"}}},
		{"sandbox a number", orderID, str(`{"sandbox":1}`), nil,
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"sandbox": {"must be a boolean"}}},
		{"body not JSON", orderID, str(`{"is_active":`), nil,
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"body": {"must be valid JSON"}}},
		{"data after the JSON body", orderID, str(`{"is_active":false} garbage`), nil,
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"body": {"must be valid JSON"}}},
		{"two JSON values", orderID, str(`{"is_active":false}{"is_active":true}`), nil,
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"body": {"must be valid JSON"}}},
		{"data after the JSON body, and a malformed id", "nope", str(`{} x`), nil,
			400, "VALIDATION_001", "Invalid webhook ID format.", map[string][]string{"id": {"must be a UUID"}, "body": {"must be valid JSON"}}},
		{"body not an object", orderID, str(`[true]`), nil,
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"body": {"must be a object"}}},
		{"body not application/json", orderID, str(`is_active=false`), []string{"Content-Type", "<unset>", "Content-Type", "application/x-www-form-urlencoded"},
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"Content-Type": {"must be application/json"}}},
		{"malformed x-profile-id", orderID, str(`{}`), []string{"x-profile-id", "acme-eu"},
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"x-profile-id": {"must be a UUID"}}},
		{"Idempotency-Key with a space", orderID, str(`{}`), []string{"Idempotency-Key", "a b"},
			400, "VALIDATION_007", "Invalid Idempotency-Key format", map[string][]string{"Idempotency-Key": {"must match ^[a-zA-Z0-9_-]+$"}}},
		{"Idempotency-Key too long", orderID, str(`{}`), []string{"Idempotency-Key", strings.Repeat("k", 256)},
			400, "VALIDATION_007", "Invalid Idempotency-Key format", map[string][]string{"Idempotency-Key": {"maximum string length is 255"}}},
		{"Idempotency-Key reported before every other problem", "nope", str(`{"is_active":null}`), []string{"Idempotency-Key", "bad key!", "x-profile-id", "zz"},
			400, "VALIDATION_007", "Invalid Idempotency-Key format", map[string][]string{"Idempotency-Key": {"must match ^[a-zA-Z0-9_-]+$"}}},
		{"no x-api-key", orderID, str(`{}`), []string{"x-api-key", ""},
			401, "AUTH_001", "User is not authenticated", nil},
		{"unknown x-api-key", orderID, str(`{}`), []string{"x-api-key", "sk_test_nobody"},
			401, "AUTH_002", "Invalid or missing API key", nil},
		{"authentication comes before validation", "nope", str(`{"is_active":null}`), []string{"x-api-key", "", "Idempotency-Key", "bad key!"},
			401, "AUTH_001", "", nil},
		{"two x-api-key headers", orderID, str(`{}`), []string{"x-api-key", storetest.AcmeOrgKey, "x-api-key", storetest.GlobexOrgKey},
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"x-api-key": {"must be sent at most once"}}},
		{"the same x-api-key twice", orderID, str(`{}`), []string{"x-api-key", storetest.AcmeOrgKey, "x-api-key", storetest.AcmeOrgKey},
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"x-api-key": {"must be sent at most once"}}},
		{"two x-api-key headers are refused before anything else", "nope", str(`{"is_active":null}`), []string{"x-api-key", "sk_test_nobody", "x-api-key", "", "Idempotency-Key", "bad key!"},
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"x-api-key": {"must be sent at most once"}}},
		{"two x-profile-id headers", orderID, str(`{}`), []string{"x-profile-id", storetest.AcmeEUProfileID, "x-profile-id", storetest.AcmeEUProfileID},
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"x-profile-id": {"must be sent at most once"}}},
		{"two Idempotency-Key headers", orderID, str(`{}`), []string{"Idempotency-Key", "k1", "Idempotency-Key", "k2"},
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"Idempotency-Key": {"must be sent at most once"}}},
		{"repeated headers, and other problems", "nope", str(`{"is_active":1}`), []string{"x-profile-id", "zz", "x-profile-id", "zz", "Idempotency-Key", "k1", "Idempotency-Key", "k1"},
			400, "VALIDATION_001", "Invalid webhook ID format.", map[string][]string{"id": {"must be a UUID"}, "is_active": {"must be a boolean"},
				"x-profile-id": {"must be a UUID", "must be sent at most once"}, "Idempotency-Key": {"must be sent at most once"}}},
		{"two Idempotency-Key headers, one malformed", orderID, str(`{}`), []string{"Idempotency-Key", "bad key!", "Idempotency-Key", "k2"},
			400, "VALIDATION_007", "Invalid Idempotency-Key format", map[string][]string{"Idempotency-Key": {"must match ^[a-zA-Z0-9_-]+$", "must be sent at most once"}}},
		{"profile key with x-profile-id", euID, str(`{}`), []string{"x-api-key", storetest.AcmeEUKey, "x-profile-id", storetest.AcmeEUProfileID},
			403, "AUTH_004", "Insufficient permissions", nil},
		{"another organization's profile", globexID, str(`{}`), []string{"x-api-key", storetest.GlobexOrgKey, "x-profile-id", storetest.AcmeEUProfileID},
			403, "AUTH_004", "Insufficient permissions", nil},
		{"a profile that does not exist", orderID, str(`{}`), []string{"x-profile-id", uuid.NewString()},
			403, "AUTH_004", "Insufficient permissions", nil},
		{"an organization as x-profile-id", orderID, str(`{}`), []string{"x-profile-id", storetest.AcmeOrgID},
			403, "AUTH_004", "Insufficient permissions", nil},
		{"validation comes before profile authorization", orderID, str(`{"is_active":1}`), []string{"x-api-key", storetest.GlobexOrgKey, "x-profile-id", storetest.AcmeEUProfileID},
			400, "VALIDATION_001", "Request validation failed", map[string][]string{"is_active": {"must be a boolean"}}},
		{"another organization's webhook", globexID, str(`{"is_active":false}`), nil,
			404, "RESOURCE_008", "Webhook not found", nil},
		{"a webhook that does not exist", uuid.NewString(), str(`{}`), nil,
			404, "RESOURCE_008", "Webhook not found", nil},
		{"an organization key does not see its profile's webhooks without x-profile-id", euID, str(`{}`), nil,
			404, "RESOURCE_008", "Webhook not found", nil},
		{"a profile key does not see its organization's webhooks", orderID, str(`{}`), []string{"x-api-key", storetest.AcmeEUKey},
			404, "RESOURCE_008", "Webhook not found", nil},
		{"acting for a profile hides the organization's webhooks", orderID, str(`{}`), []string{"x-profile-id", storetest.AcmeEUProfileID},
			404, "RESOURCE_008", "Webhook not found", nil},
		{"body over 1 MiB", orderID, &bigBody, nil,
			413, "VALIDATION_001", "Request body must not exceed 1048576 bytes", map[string][]string{"body": {"must not exceed 1048576 bytes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.toggle(t, tt.id, tt.body, tt.headers...)
			wantError(t, r, tt.status, tt.code, tt.message)
			if tt.details == nil && r.Env.Error.Details != nil {
				t.Errorf("error.details = %v, want null", r.Env.Error.Details)
			}
			if tt.details != nil {
				if len(r.Env.Error.Details) != len(tt.details) {
					t.Errorf("error.details = %v, want %v", r.Env.Error.Details, tt.details)
				}
				for field, msgs := range tt.details {
					if got := strings.Join(r.Env.Error.Details[field], "|"); got != strings.Join(msgs, "|") {
						t.Errorf("error.details[%q] = %q, want %q", field, got, msgs)
					}
				}
			}
		})
	}
	// None of the refused requests changed anything.
	w, err := e.Store.FindWebhook(context.Background(), uuid.MustParse(storetest.GlobexOrgID), uuid.MustParse(globexID))
	if err != nil || !w.IsActive {
		t.Errorf("a refused request changed Globex's webhook: %+v %v", w, err)
	}
	o, _ := e.Store.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(orderID))
	if !o.IsActive {
		t.Errorf("a refused request changed Acme's webhook")
	}
}

func TestProfileScoping(t *testing.T) {
	e := newEnv(t, nil)
	// An organization key acts for its profile with x-profile-id.
	data := wantOK(t, e.toggle(t, euID, str(`{"is_active":false}`), "x-profile-id", storetest.AcmeEUProfileID))
	if data["is_active"] != false {
		t.Fatalf("is_active = %v", data["is_active"])
	}
	// The profile's own key sees the same webhook.
	data = wantOK(t, e.toggle(t, euID, str(`{}`), "x-api-key", storetest.AcmeEUKey))
	if data["is_active"] != true {
		t.Fatalf("is_active = %v after the profile key flipped it back", data["is_active"])
	}
	// x-profile-id in upper case is the same profile.
	wantOK(t, e.toggle(t, euID, str(`{}`), "x-profile-id", strings.ToUpper(storetest.AcmeEUProfileID)))
}

func TestSandbox(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	acme := uuid.MustParse(storetest.AcmeOrgID)
	before, _ := e.Store.FindWebhook(ctx, acme, uuid.MustParse(receiptsID))

	t.Run("a visible webhook: the real toggle's answer, nothing written", func(t *testing.T) {
		r := e.toggle(t, receiptsID, str(`{"sandbox":true}`))
		data := wantOK(t, r)
		if r.Header.Get("X-Sandbox") != "true" {
			t.Errorf("X-Sandbox = %q, want true", r.Header.Get("X-Sandbox"))
		}
		if data["is_active"] != true || data["consecutive_failures"] != float64(0) || data["display_name"] != "Delivery Receipts" ||
			data["updated_at"] != "2026-03-11T21:50:49.68709+00:00" {
			t.Errorf("sandbox answer is not the toggled webhook: %v", data)
		}
		after, _ := e.Store.FindWebhook(ctx, acme, uuid.MustParse(receiptsID))
		assertSameWebhook(t, after, before)
	})
	t.Run("an unknown webhook: a plausible fake, never 404", func(t *testing.T) {
		id := uuid.NewString()
		r := e.toggle(t, id, str(`{"sandbox":true}`))
		data := wantOK(t, r)
		if r.Header.Get("X-Sandbox") != "true" || data["id"] != id || data["is_active"] != false {
			t.Errorf("fake = %v (X-Sandbox %q), want id %s, is_active false", data, r.Header.Get("X-Sandbox"), id)
		}
		data = wantOK(t, e.toggle(t, id, str(`{"sandbox":true,"is_active":true}`)))
		if data["is_active"] != true {
			t.Errorf("fake with is_active true: %v", data["is_active"])
		}
	})
	t.Run("another customer's webhook is not revealed", func(t *testing.T) {
		data := wantOK(t, e.toggle(t, globexID, str(`{"sandbox":true}`)))
		if data["display_name"] == "Globex Alerts" {
			t.Errorf("sandbox revealed another customer's webhook: %v", data)
		}
	})
	t.Run("malformed requests still get their real 400", func(t *testing.T) {
		wantError(t, e.toggle(t, "nope", str(`{"sandbox":true}`)), 400, "VALIDATION_001", "Invalid webhook ID format.")
		wantError(t, e.toggle(t, orderID, str(`{"sandbox":true,"is_active":null}`)), 400, "VALIDATION_001", "")
		wantError(t, e.toggle(t, orderID, str(`{"sandbox":true}`), "x-api-key", "sk_test_nobody"), 401, "AUTH_002", "")
	})
	t.Run("sandbox false is a real toggle", func(t *testing.T) {
		r := e.toggle(t, orderID, str(`{"sandbox":false}`))
		if wantOK(t, r)["is_active"] != false || r.Header.Get("X-Sandbox") != "" {
			t.Errorf("sandbox:false did not toggle for real")
		}
	})
}

func assertSameWebhook(t *testing.T, got, want *sentstub.Webhook) {
	t.Helper()
	if got.IsActive != want.IsActive || got.ConsecutiveFailures != want.ConsecutiveFailures ||
		(got.UpdatedAt == nil) != (want.UpdatedAt == nil) || got.UpdatedAt != nil && !got.UpdatedAt.Equal(*want.UpdatedAt) {
		t.Errorf("webhook changed: %+v, want %+v", got, want)
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, nil)
	key := []string{"x-api-key", storetest.AcmeOrgKey}
	toggle := "/v3/webhooks/" + orderID + "/toggle-status"
	// Every method a path does not serve, OPTIONS included, is a 405 with
	// the methods it serves in Allow.
	for _, m := range []string{http.MethodOptions, http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		r := e.call(t, m, toggle, str(`{}`), key...)
		wantError(t, r, 405, "VALIDATION_001", "Method not allowed")
		if got := r.Header.Values("Allow"); len(got) != 1 || got[0] != "PATCH" {
			t.Errorf("%s %s: Allow = %q, want PATCH", m, toggle, got)
		}
	}
	r := e.call(t, http.MethodOptions, "/healthz", nil)
	wantError(t, r, 405, "VALIDATION_001", "Method not allowed")
	if got := r.Header.Get("Allow"); got != "GET" {
		t.Errorf("OPTIONS /healthz: Allow = %q, want GET", got)
	}
	// Under /v3, authentication comes first, OPTIONS included.
	wantError(t, e.call(t, http.MethodOptions, toggle, nil), 401, "AUTH_001", "")
	wantError(t, e.call(t, http.MethodGet, "/v3/templates", nil, key...), 404, "RESOURCE_013", "Resource not found")
	wantError(t, e.call(t, http.MethodPatch, "/v3/webhooks/"+orderID+"/toggle", str(`{}`), key...), 404, "RESOURCE_013", "Resource not found")
	wantError(t, e.call(t, http.MethodGet, "/v3/templates", nil), 401, "AUTH_001", "")
	wantError(t, e.call(t, http.MethodGet, "/favicon.ico", nil), 404, "RESOURCE_013", "Resource not found")
}

func TestHealth(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := e.call(t, http.MethodGet, path, nil)
		if r.Status != 200 || string(r.Body) != "{\"status\":\"ok\"}\n" {
			t.Errorf("%s = %d %s", path, r.Status, r.Body)
		}
	}
	broken := &faultyStore{Store: e.Store, pingErr: context.DeadlineExceeded}
	e2 := newEnv(t, broken)
	r := e2.call(t, http.MethodGet, "/readyz", nil)
	if r.Status != 503 || !strings.Contains(string(r.Body), "unavailable") {
		t.Errorf("/readyz with a broken store = %d %s", r.Status, r.Body)
	}
}
