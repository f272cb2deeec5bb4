package server

import (
	"time"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/api/apitime"
	"github.com/sentstub/sentstub/gen"
)

// This file is the one place where domain types become generated models.

// toWebhook returns the API's view of w. The signing secret is always null:
// only create and rotate-secret reveal it.
func toWebhook(w *sentstub.Webhook) gen.Webhook {
	out := gen.Webhook{
		ID:                       w.ID,
		DisplayName:              w.DisplayName,
		EndpointURL:              w.EndpointURL,
		SigningSecret:            nil,
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
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if w.EventFilters != nil {
		filters := w.EventFilters
		out.EventFilters = &filters
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
