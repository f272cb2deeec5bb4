package client

import (
	"time"

	"github.com/sentstub/sentstub/api/apitime"
	genclient "github.com/sentstub/sentstub/gen/client"
)

// This file is the one place where the generated models (package
// gen/client) become the package's own types (types.go). A field added to
// the spec shows up in the generated models after `make generate`; it
// reaches callers once a line here copies it.

func webhookFrom(w *genclient.Webhook) Webhook {
	out := Webhook{
		ID:                       w.ID.String(),
		DisplayName:              w.DisplayName,
		EndpointURL:              w.EndpointURL,
		IsActive:                 w.IsActive,
		EventTypes:               w.EventTypes,
		RetryCount:               w.RetryCount,
		TimeoutSeconds:           w.TimeoutSeconds,
		LastDeliveryAttemptAt:    timePtr(w.LastDeliveryAttemptAt),
		LastSuccessfulDeliveryAt: timePtr(w.LastSuccessfulDeliveryAt),
		ConsecutiveFailures:      w.ConsecutiveFailures,
		CreatedAt:                w.CreatedAt.UTC(),
		UpdatedAt:                timePtr(w.UpdatedAt),
	}
	if w.SigningSecret != nil {
		out.SigningSecret = *w.SigningSecret
	}
	if w.EventFilters != nil {
		out.EventFilters = *w.EventFilters
	}
	return out
}

func webhooksFrom(ws []genclient.Webhook) []Webhook {
	out := make([]Webhook, len(ws))
	for i := range ws {
		out[i] = webhookFrom(&ws[i])
	}
	return out
}

func webhookEventFrom(e *genclient.WebhookEvent) WebhookEvent {
	out := WebhookEvent{
		ID:                    e.ID.String(),
		EventType:             e.EventType,
		EventData:             e.EventData,
		DeliveryStatus:        DeliveryStatus(e.DeliveryStatus),
		DeliveryAttempts:      e.DeliveryAttempts,
		ProcessingStartedAt:   timePtr(e.ProcessingStartedAt),
		ProcessingCompletedAt: timePtr(e.ProcessingCompletedAt),
		CreatedAt:             e.CreatedAt.UTC(),
	}
	if e.HTTPStatusCode != nil {
		out.HTTPStatusCode = *e.HTTPStatusCode
	}
	if e.ResponseBody != nil {
		out.ResponseBody = *e.ResponseBody
	}
	if e.ErrorMessage != nil {
		out.ErrorMessage = *e.ErrorMessage
	}
	return out
}

func webhookEventsFrom(es []genclient.WebhookEvent) []WebhookEvent {
	out := make([]WebhookEvent, len(es))
	for i := range es {
		out[i] = webhookEventFrom(&es[i])
	}
	return out
}

func eventTypesFrom(ts []genclient.WebhookEventType) []EventType {
	out := make([]EventType, len(ts))
	for i, t := range ts {
		out[i] = EventType{Name: t.Name, DisplayName: t.DisplayName, Description: t.Description,
			EventType: t.EventType, IsActive: t.IsActive}
		if t.SubTypes != nil {
			out[i].SubTypes = eventTypesFrom(*t.SubTypes)
		}
	}
	return out
}

func paginationFrom(p genclient.Pagination) Pagination {
	out := Pagination{Page: p.Page, PageSize: p.PageSize, TotalCount: p.TotalCount,
		TotalPages: p.TotalPages, HasMore: p.HasMore}
	if p.Cursors != nil {
		out.Cursors = &Cursors{}
		if p.Cursors.Before != nil {
			out.Cursors.Before = *p.Cursors.Before
		}
		if p.Cursors.After != nil {
			out.Cursors.After = *p.Cursors.After
		}
	}
	return out
}

func testResultFrom(r genclient.TestResult) TestResult {
	return TestResult{Success: r.Success, Message: r.Message}
}

// timePtr is a nullable timestamp of the API as a *time.Time in UTC.
func timePtr(t *apitime.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
