package server

import (
	"time"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/api/apitime"
	"github.com/sentstub/sentstub/gen"
)

// This file is the one place where domain types and generated models meet.

// toWebhook returns the API's view of w. The signing secret is null unless
// showSecret: only create and rotate-secret reveal it.
func toWebhook(w *sentstub.Webhook, showSecret bool) gen.Webhook {
	out := gen.Webhook{
		ID:                       w.ID,
		DisplayName:              w.DisplayName,
		EndpointURL:              w.EndpointURL,
		IsActive:                 w.IsActive,
		EventTypes:               w.EventTypes,
		RetryCount:               w.RetryCount,
		TimeoutSeconds:           w.TimeoutSeconds,
		ConsecutiveFailures:      w.ConsecutiveFailures,
		LastDeliveryAttemptAt:    toTimestamp(w.LastDeliveryAttemptAt),
		LastSuccessfulDeliveryAt: toTimestamp(w.LastSuccessfulDeliveryAt),
		CreatedAt:                apitime.New(w.CreatedAt),
		UpdatedAt:                toTimestamp(w.UpdatedAt),
	}
	if showSecret {
		secret := w.SigningSecret
		out.SigningSecret = &secret
	}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if w.EventFilters != nil {
		filters := w.EventFilters
		out.EventFilters = &filters
	}
	return out
}

func toWebhooks(ws []*sentstub.Webhook) []gen.Webhook {
	out := make([]gen.Webhook, len(ws))
	for i, w := range ws {
		out[i] = toWebhook(w, false)
	}
	return out
}

func toTimestamp(t *time.Time) *apitime.Time {
	if t == nil {
		return nil
	}
	v := apitime.New(*t)
	return &v
}

func toWebhookEvents(ds []*sentstub.Delivery) []gen.WebhookEvent {
	out := make([]gen.WebhookEvent, len(ds))
	for i, d := range ds {
		out[i] = gen.WebhookEvent{
			ID:                    d.ID,
			EventType:             d.EventType,
			EventData:             d.EventData,
			DeliveryStatus:        gen.WebhookEventDeliveryStatus(d.Status),
			DeliveryAttempts:      d.Attempts,
			HTTPStatusCode:        d.HTTPStatusCode,
			ResponseBody:          d.ResponseBody,
			ErrorMessage:          d.ErrorMessage,
			ProcessingStartedAt:   toTimestamp(d.ProcessingStartedAt),
			ProcessingCompletedAt: toTimestamp(d.ProcessingCompletedAt),
			CreatedAt:             apitime.New(d.CreatedAt),
		}
	}
	return out
}

// eventTypes is the catalog as the API lists it: each family with its
// sub-types, whose event_type is the full type ("message.delivered").
var eventTypes = func() []gen.WebhookEventType {
	out := make([]gen.WebhookEventType, len(sentstub.EventFamilies))
	for i, f := range sentstub.EventFamilies {
		subs := make([]gen.WebhookEventType, len(f.SubTypes))
		for j, st := range f.SubTypes {
			subs[j] = gen.WebhookEventType{Name: st.Name, DisplayName: st.DisplayName, Description: st.Description,
				EventType: f.Name + "." + st.Name, IsActive: true}
		}
		out[i] = gen.WebhookEventType{Name: f.Name, DisplayName: f.DisplayName, Description: f.Description,
			EventType: f.Name, IsActive: true, SubTypes: &subs}
	}
	return out
}()

// createSettings are the settings a create request carries.
func createSettings(b *gen.CreateWebhookRequest) sentstub.WebhookSettings {
	// The spec requires display_name and endpoint_url: both are carried.
	s := sentstub.WebhookSettings{DisplayName: &b.DisplayName, EndpointURL: &b.EndpointURL,
		RetryCount: b.RetryCount, TimeoutSeconds: b.TimeoutSeconds}
	s.EventTypes = eventTypeNames(b.EventTypes)
	if b.EventFilters != nil {
		s.EventFilters, s.SetEventFilters = *b.EventFilters, true
	}
	return s
}

// updateSettings are the settings an update request carries.
func updateSettings(b *gen.UpdateWebhookRequest) sentstub.WebhookSettings {
	s := sentstub.WebhookSettings{DisplayName: b.DisplayName, EndpointURL: b.EndpointURL,
		RetryCount: b.RetryCount, TimeoutSeconds: b.TimeoutSeconds, EventTypes: eventTypeNames(b.EventTypes)}
	if b.EventFilters.IsSpecified() {
		s.SetEventFilters = true
		if !b.EventFilters.IsNull() {
			s.EventFilters = b.EventFilters.MustGet()
		}
	}
	return s
}

func eventTypeNames(types *[]gen.EventTypeName) *[]string {
	if types == nil {
		return nil
	}
	names := make([]string, len(*types))
	for i, t := range *types {
		names[i] = string(t)
	}
	return &names
}

// toPagination describes page (from 1) of size items among total.
func toPagination(page, size, total int) gen.Pagination {
	pages := (total + size - 1) / size
	return gen.Pagination{Page: page, PageSize: size, TotalCount: total, TotalPages: pages, HasMore: page < pages}
}
