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
	return Webhook{
		ID:                       w.ID.String(),
		DisplayName:              w.DisplayName,
		EndpointURL:              w.EndpointURL,
		SigningSecret:            deref(w.SigningSecret),
		IsActive:                 w.IsActive,
		EventTypes:               w.EventTypes,
		EventFilters:             deref(w.EventFilters),
		RetryCount:               w.RetryCount,
		TimeoutSeconds:           w.TimeoutSeconds,
		LastDeliveryAttemptAt:    timePtr(w.LastDeliveryAttemptAt),
		LastSuccessfulDeliveryAt: timePtr(w.LastSuccessfulDeliveryAt),
		ConsecutiveFailures:      w.ConsecutiveFailures,
		CreatedAt:                w.CreatedAt.UTC(),
		UpdatedAt:                timePtr(w.UpdatedAt),
	}
}

func webhookEventFrom(e *genclient.WebhookEvent) WebhookEvent {
	return WebhookEvent{
		ID:                    e.ID.String(),
		EventType:             e.EventType,
		EventData:             e.EventData,
		DeliveryStatus:        DeliveryStatus(e.DeliveryStatus),
		DeliveryAttempts:      e.DeliveryAttempts,
		HTTPStatusCode:        deref(e.HTTPStatusCode),
		ResponseBody:          deref(e.ResponseBody),
		ErrorMessage:          deref(e.ErrorMessage),
		ProcessingStartedAt:   timePtr(e.ProcessingStartedAt),
		ProcessingCompletedAt: timePtr(e.ProcessingCompletedAt),
		CreatedAt:             e.CreatedAt.UTC(),
	}
}

func eventTypeFrom(t *genclient.WebhookEventType) EventType {
	out := EventType{Name: t.Name, DisplayName: t.DisplayName, Description: t.Description,
		EventType: t.EventType, IsActive: t.IsActive}
	if t.SubTypes != nil { // nil stays nil; convertSlice would make it empty
		out.SubTypes = convertSlice(*t.SubTypes, eventTypeFrom)
	}
	return out
}

func paginationFrom(p genclient.Pagination) Pagination {
	out := Pagination{Page: p.Page, PageSize: p.PageSize, TotalCount: p.TotalCount,
		TotalPages: p.TotalPages, HasMore: p.HasMore}
	if p.Cursors != nil {
		out.Cursors = &Cursors{Before: deref(p.Cursors.Before), After: deref(p.Cursors.After)}
	}
	return out
}

func testResultFrom(r genclient.TestResult) TestResult {
	return TestResult{Success: r.Success, Message: r.Message}
}

// convertSlice converts each element of in with from. The result has the
// length of in and is not nil, even when in is.
func convertSlice[S, T any](in []S, from func(*S) T) []T {
	out := make([]T, len(in))
	for i := range in {
		out[i] = from(&in[i])
	}
	return out
}

// deref is *p, or the zero value of T when p is nil. (A non-nil pointer to
// a nil map gives that nil map.)
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// timePtr is a nullable timestamp of the API as a *time.Time in UTC.
func timePtr(t *apitime.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
