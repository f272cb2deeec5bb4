package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub/client"
	genclient "github.com/sentstub/sentstub/gen/client"
)

// Every field of a generated model has its field, of the same name, in the
// client's own type: a field added to the spec fails this test until
// types.go and convert.go carry it (TestTypesFromAnswer then checks that
// its value is copied).
func TestTypesCoverTheGeneratedModels(t *testing.T) {
	typeOf := reflect.TypeOf
	pairs := []struct{ generated, own reflect.Type }{
		{typeOf(genclient.Webhook{}), typeOf(client.Webhook{})},
		{typeOf(genclient.WebhookEvent{}), typeOf(client.WebhookEvent{})},
		{typeOf(genclient.WebhookEventType{}), typeOf(client.EventType{})},
		{typeOf(genclient.Pagination{}), typeOf(client.Pagination{})},
		{typeOf(genclient.Pagination{}.Cursors).Elem(), typeOf(client.Cursors{})},
		{typeOf(genclient.TestResult{}), typeOf(client.TestResult{})},
		{typeOf(genclient.WebhookList{}), typeOf(client.WebhookPage{})},
		{typeOf(genclient.WebhookEventList{}), typeOf(client.WebhookEventPage{})},
	}
	for _, p := range pairs {
		g, o := p.generated, p.own
		for i := range g.NumField() {
			if _, ok := o.FieldByName(g.Field(i).Name); !ok {
				t.Errorf("client.%s has no field %s, which the generated %s has", o.Name(), g.Field(i).Name, g)
			}
		}
		if o.NumField() != g.NumField() {
			t.Errorf("client.%s has %d fields, the generated %s %d", o.Name(), o.NumField(), g, g.NumField())
		}
	}
}

// Every field of every answer reaches the client's types, with nulls as
// documented and timestamps in UTC.
func TestTypesFromAnswer(t *testing.T) {
	const (
		hookID  = "d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8"
		eventID = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
		meta    = `"meta":{"request_id":"req_x","timestamp":"2026-03-11T21:50:49.6870902+00:00","version":"v3"}`
	)
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		v = v.UTC()
		return &v
	}
	answers := map[string]string{
		"/v3/webhooks": `{"success":true,"data":{"webhooks":[{"id":"` + hookID + `","display_name":"Orders",` +
			`"endpoint_url":"https://example.com/hooks","signing_secret":"whsec_abc","is_active":true,` +
			`"event_types":["message","templates"],"event_filters":{"message":["delivered","failed"]},` +
			`"retry_count":4,"timeout_seconds":15,"last_delivery_attempt_at":"2026-03-01T10:00:00.123456+00:00",` +
			`"last_successful_delivery_at":"2026-03-01T09:00:00+00:00","consecutive_failures":2,` +
			`"created_at":"2026-01-15T10:30:00+00:00","updated_at":"2026-02-01T09:00:00+01:00"}],` +
			`"pagination":{"page":2,"page_size":1,"total_count":3,"total_pages":3,"has_more":true,` +
			`"cursors":{"before":"b1","after":"a1"}}},"error":null,` + meta + `}`,
		"/v3/webhooks/" + hookID + "/events": `{"success":true,"data":{"events":[{"id":"` + eventID + `",` +
			`"event_type":"message.delivered","event_data":{"id":"evt_1","type":"message.delivered"},` +
			`"delivery_status":"failed","delivery_attempts":3,"http_status_code":502,"response_body":"bad gateway",` +
			`"error_message":"the receiver answered 502","processing_started_at":"2026-03-01T10:00:00+00:00",` +
			`"processing_completed_at":"2026-03-01T10:00:01+00:00","created_at":"2026-03-01T09:59:59+00:00"},` +
			`{"id":"` + eventID + `","event_type":"message.sent","event_data":{},"delivery_status":"pending",` +
			`"delivery_attempts":0,"http_status_code":null,"response_body":null,"error_message":null,` +
			`"processing_started_at":null,"processing_completed_at":null,"created_at":"2026-03-01T09:59:59+00:00"}],` +
			`"pagination":{"page":1,"page_size":20,"total_count":2,"total_pages":1,"has_more":false,"cursors":null}},` +
			`"error":null,` + meta + `}`,
		"/v3/webhooks/event-types": `{"success":true,"data":{"event_types":[{"name":"message","display_name":"Messages",` +
			`"description":"Message events","event_type":"message","is_active":true,"sub_types":[{"name":"delivered",` +
			`"display_name":"Delivered","description":"Delivered to the recipient","event_type":"message.delivered",` +
			`"is_active":false,"sub_types":null}]}]},"error":null,` + meta + `}`,
		"/v3/webhooks/" + hookID + "/test": `{"success":true,"data":{"success":false,"message":"the receiver answered 500"},` +
			`"error":null,` + meta + `}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answers[r.URL.Path]))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	ctx := context.Background()

	page, err := c.ListWebhooks(ctx, client.ListWebhooksParams{Page: 2, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := &client.WebhookPage{
		Webhooks: []client.Webhook{{ID: hookID, DisplayName: "Orders", EndpointURL: "https://example.com/hooks",
			SigningSecret: "whsec_abc", IsActive: true, EventTypes: []string{"message", "templates"},
			EventFilters: map[string][]string{"message": {"delivered", "failed"}}, RetryCount: 4, TimeoutSeconds: 15,
			LastDeliveryAttemptAt:    at("2026-03-01T10:00:00.123456Z"),
			LastSuccessfulDeliveryAt: at("2026-03-01T09:00:00Z"), ConsecutiveFailures: 2,
			CreatedAt: *at("2026-01-15T10:30:00Z"), UpdatedAt: at("2026-02-01T08:00:00Z")}},
		Pagination: client.Pagination{Page: 2, PageSize: 1, TotalCount: 3, TotalPages: 3, HasMore: true,
			Cursors: &client.Cursors{Before: "b1", After: "a1"}},
	}
	if !reflect.DeepEqual(page, want) {
		t.Errorf("ListWebhooks =\n%+v\nwant\n%+v", page, want)
	}

	events, err := c.ListWebhookEvents(ctx, hookID, client.ListWebhookEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := &client.WebhookEventPage{
		Events: []client.WebhookEvent{
			{ID: eventID, EventType: "message.delivered", EventData: json.RawMessage(`{"id":"evt_1","type":"message.delivered"}`),
				DeliveryStatus: client.DeliveryFailed, DeliveryAttempts: 3, HTTPStatusCode: 502, ResponseBody: "bad gateway",
				ErrorMessage: "the receiver answered 502", ProcessingStartedAt: at("2026-03-01T10:00:00Z"),
				ProcessingCompletedAt: at("2026-03-01T10:00:01Z"), CreatedAt: *at("2026-03-01T09:59:59Z")},
			{ID: eventID, EventType: "message.sent", EventData: json.RawMessage(`{}`), DeliveryStatus: client.DeliveryPending,
				CreatedAt: *at("2026-03-01T09:59:59Z")},
		},
		Pagination: client.Pagination{Page: 1, PageSize: 20, TotalCount: 2, TotalPages: 1},
	}
	if !reflect.DeepEqual(events, wantEvents) {
		t.Errorf("ListWebhookEvents =\n%+v\nwant\n%+v", events, wantEvents)
	}

	types, err := c.ListWebhookEventTypes(ctx, client.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []client.EventType{{Name: "message", DisplayName: "Messages", Description: "Message events",
		EventType: "message", IsActive: true, SubTypes: []client.EventType{{Name: "delivered", DisplayName: "Delivered",
			Description: "Delivered to the recipient", EventType: "message.delivered"}}}}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Errorf("ListWebhookEventTypes =\n%+v\nwant\n%+v", types, wantTypes)
	}

	result, err := c.TestWebhook(ctx, hookID, client.TestWebhookParams{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (&client.TestResult{Message: "the receiver answered 500"}); !reflect.DeepEqual(result, want) {
		t.Errorf("TestWebhook = %+v; want %+v", result, want)
	}
}

// Against the real server: ids are the lower-case UUIDs the methods take,
// timestamps are UTC and recent, the secret shows only where documented.
func TestTypesAgainstServer(t *testing.T) {
	ctx := context.Background()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()
	c := newDemoClient(t, startDemo(t))
	before := time.Now().Add(-time.Minute)

	w, err := c.CreateWebhook(ctx, client.CreateWebhookParams{DisplayName: "types", EndpointURL: receiver.URL})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := uuid.Parse(w.ID); err != nil || u.String() != w.ID {
		t.Errorf("ID %q is not a lower-case UUID", w.ID)
	}
	if w.CreatedAt.Before(before) || w.CreatedAt.Location() != time.UTC || w.UpdatedAt == nil || !w.UpdatedAt.Equal(w.CreatedAt) {
		t.Errorf("CreatedAt %v, UpdatedAt %v; want now, in UTC, equal", w.CreatedAt, w.UpdatedAt)
	}
	if w.SigningSecret == "" || w.EventFilters != nil || w.LastDeliveryAttemptAt != nil || len(w.EventTypes) != 1 {
		t.Errorf("created %+v", w)
	}
	if _, err := c.TestWebhook(ctx, w.ID, client.TestWebhookParams{}); err != nil {
		t.Fatal(err)
	}
	events, err := c.ListWebhookEvents(ctx, w.ID, client.ListWebhookEventsParams{})
	if err != nil || len(events.Events) != 1 {
		t.Fatalf("events %+v, %v", events, err)
	}
	ev := events.Events[0]
	var body struct{ ID, Type string }
	if err := json.Unmarshal(ev.EventData, &body); err != nil || body.ID == "" || body.Type != "message.test" ||
		ev.EventType != "message.test" || ev.HTTPStatusCode != http.StatusOK || ev.DeliveryStatus != client.DeliveryDelivered ||
		ev.DeliveryAttempts != 1 || ev.CreatedAt.Before(before) || ev.ErrorMessage != "" {
		t.Errorf("the test's log entry: %+v (event_data %s)", ev, ev.EventData)
	}
	types, err := c.ListWebhookEventTypes(ctx, client.Scope{})
	if err != nil || len(types) == 0 || len(types[0].SubTypes) == 0 || types[0].SubTypes[0].SubTypes != nil {
		t.Errorf("event types %+v, %v; want families with sub-types, which have none", types, err)
	}
}
