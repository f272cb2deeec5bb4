package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// resourceReport is what testdata/sdk/resource.mjs prints.
type resourceReport struct {
	ReceiverURL string                  `json:"receiver_url"`
	Steps       map[string]resourceStep `json:"steps"`
	Received    []struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"received"`
}

type resourceStep struct {
	OK      bool            `json:"ok"`
	Status  int             `json:"status"`
	Sandbox *string         `json:"sandbox"`
	Body    json.RawMessage `json:"body"` // what the SDK resolved to
	Class   string          `json:"class"`
	Message string          `json:"message"`
	Error   *struct {
		Error struct {
			Code    string              `json:"code"`
			Details map[string][]string `json:"details"`
		} `json:"error"`
	} `json:"error"`
}

// data decodes the step's envelope's data into v.
func (s resourceStep) data(t *testing.T, name string, v any) {
	t.Helper()
	if !s.OK {
		t.Fatalf("%s: the SDK threw %s (%d): %s", name, s.Class, s.Status, s.Message)
	}
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(s.Body, &env); err != nil || !env.Success {
		t.Fatalf("%s: resolved to %s", name, s.Body)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("%s: data %s: %v", name, env.Data, err)
	}
}

func (s resourceStep) threw(t *testing.T, name, class string, status int, code string) {
	t.Helper()
	if s.OK || s.Class != class || s.Status != status || s.Error == nil || s.Error.Error.Code != code {
		t.Errorf("%s: got ok=%v %s %d %+v, want a thrown %s %d %s", name, s.OK, s.Class, s.Status, s.Error, class, status, code)
	}
}

// TestOfficialTypeScriptSDKResource calls all ten webhook methods of the
// official TypeScript SDK against the binary and checks what each returned,
// including a test delivery to a receiver the script serves, verified here
// with the Standard Webhooks library and the rotated secret.
func TestOfficialTypeScriptSDKResource(t *testing.T) {
	stdout, _ := runSDKScript(t, "resource.mjs")
	var rep resourceReport
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("resource.mjs output: %v\n%s", err, stdout)
	}
	defer func() {
		if t.Failed() {
			t.Logf("resource.mjs output:\n%s", stdout)
		}
	}()
	step := func(name string) resourceStep {
		t.Helper()
		s, ok := rep.Steps[name]
		if !ok {
			t.Fatalf("resource.mjs reported no step %q", name)
		}
		return s
	}
	type webhook struct {
		ID            string              `json:"id"`
		DisplayName   string              `json:"display_name"`
		EndpointURL   string              `json:"endpoint_url"`
		SigningSecret *string             `json:"signing_secret"`
		IsActive      bool                `json:"is_active"`
		EventTypes    []string            `json:"event_types"`
		EventFilters  map[string][]string `json:"event_filters"`
		RetryCount    int                 `json:"retry_count"`
	}

	var created webhook
	c := step("create")
	c.data(t, "create", &created)
	if c.Status != http.StatusCreated || created.SigningSecret == nil || created.EndpointURL != rep.ReceiverURL ||
		!created.IsActive || len(created.EventTypes) != 2 || len(created.EventFilters["message"]) != 2 {
		t.Errorf("create: status %d, %+v", c.Status, created)
	}
	wantSecret(t, *created.SigningSecret)
	var replay webhook
	step("create_replay").data(t, "create_replay", &replay)
	if replay.ID != created.ID {
		t.Errorf("create with the same Idempotency-Key made %s, then %s", created.ID, replay.ID)
	}
	invalid := step("create_invalid")
	invalid.threw(t, "create_invalid", "BadRequestError", 400, "VALIDATION_001")
	if invalid.Error != nil && (len(invalid.Error.Error.Details["endpoint_url"]) == 0 || len(invalid.Error.Error.Details["retry_count"]) == 0) {
		t.Errorf("create_invalid: details %v", invalid.Error.Error.Details)
	}

	var got webhook
	step("retrieve").data(t, "retrieve", &got)
	if got.ID != created.ID || got.SigningSecret != nil {
		t.Errorf("retrieve: %+v", got)
	}
	step("update").data(t, "update", &got)
	if got.DisplayName != "SDK hook v2" || got.RetryCount != 4 || got.EndpointURL != rep.ReceiverURL || got.SigningSecret != nil {
		t.Errorf("update: %+v", got)
	}

	var list struct {
		Webhooks   []webhook `json:"webhooks"`
		Pagination struct {
			Page       int  `json:"page"`
			PageSize   int  `json:"page_size"`
			TotalCount int  `json:"total_count"`
			TotalPages int  `json:"total_pages"`
			HasMore    bool `json:"has_more"`
		} `json:"pagination"`
	}
	step("list").data(t, "list", &list)
	if p := list.Pagination; len(list.Webhooks) != 2 || list.Webhooks[0].ID != created.ID || p.Page != 1 || p.PageSize != 2 ||
		p.TotalCount != 3 || p.TotalPages != 2 || !p.HasMore {
		t.Errorf("list: %+v", list)
	}
	step("list_search").data(t, "list_search", &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].ID != created.ID {
		t.Errorf("list_search: %+v", list)
	}

	var types struct {
		EventTypes []struct {
			Name     string `json:"name"`
			SubTypes []struct {
				EventType string `json:"event_type"`
			} `json:"sub_types"`
		} `json:"event_types"`
	}
	step("event_types").data(t, "event_types", &types)
	if len(types.EventTypes) != 6 || types.EventTypes[0].Name != "message" || len(types.EventTypes[0].SubTypes) < 4 {
		t.Errorf("event_types: %+v", types)
	}

	var rotated struct {
		SigningSecret string `json:"signing_secret"`
	}
	step("rotate").data(t, "rotate", &rotated)
	if wantSecret(t, rotated.SigningSecret) == *created.SigningSecret {
		t.Errorf("rotate answered the old secret")
	}

	var result struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	}
	step("test").data(t, "test", &result)
	if !result.Success || !strings.Contains(result.Message, "200") {
		t.Errorf("test: %+v", result)
	}
	if len(rep.Received) != 1 {
		t.Fatalf("the script's receiver got %d requests, want 1", len(rep.Received))
	}
	rx := rep.Received[0]
	d := delivered{Header: http.Header{}, Body: []byte(rx.Body)}
	for k, v := range rx.Headers {
		d.Header.Set(k, v)
	}
	if err := verify(d, rotated.SigningSecret); err != nil {
		t.Errorf("the delivery does not verify with the rotated secret: %v", err)
	}
	if err := verify(d, *created.SigningSecret); err == nil {
		t.Errorf("the delivery verifies with the secret from before the rotation")
	}
	if d.Header.Get("x-webhook-id") != created.ID || d.Header.Get("x-webhook-event-type") != "message.test" {
		t.Errorf("delivery headers: %v", rx.Headers)
	}

	var events struct {
		Events []struct {
			EventType        string          `json:"event_type"`
			EventData        json.RawMessage `json:"event_data"`
			DeliveryStatus   string          `json:"delivery_status"`
			DeliveryAttempts int             `json:"delivery_attempts"`
			HTTPStatusCode   *int            `json:"http_status_code"`
		} `json:"events"`
	}
	step("events").data(t, "events", &events)
	if len(events.Events) != 1 {
		t.Fatalf("events: %+v", events)
	}
	ev := events.Events[0]
	if ev.EventType != "message.test" || ev.DeliveryStatus != "delivered" || ev.DeliveryAttempts != 1 ||
		ev.HTTPStatusCode == nil || *ev.HTTPStatusCode != 200 || !jsonEqualBytes(ev.EventData, d.Body) {
		t.Errorf("events: %+v", ev)
	}

	step("deactivate").data(t, "deactivate", &got)
	if got.IsActive {
		t.Errorf("deactivate: still active")
	}
	step("test_inactive").threw(t, "test_inactive", "BadRequestError", 400, "BUSINESS_010")
	sb := step("sandbox_update")
	sb.data(t, "sandbox_update", &got)
	if got.DisplayName != "dry" || sb.Sandbox == nil || *sb.Sandbox != "true" {
		t.Errorf("sandbox_update: %+v, X-Sandbox %v", got, sb.Sandbox)
	}
	del := step("delete")
	if !del.OK || del.Status != http.StatusNoContent {
		t.Errorf("delete: %+v", del)
	}
	step("retrieve_deleted").threw(t, "retrieve_deleted", "NotFoundError", 404, "RESOURCE_008")
	step("delete_again").threw(t, "delete_again", "NotFoundError", 404, "RESOURCE_008")
}
