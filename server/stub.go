package server

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/gen"
	"github.com/sentstub/sentstub/server/delivery"
)

// The stub's own controls, under /_sentstub/v1: api.sent.dm serves none of
// them. They authenticate and scope like /v3.

// EmitEvent implements POST /_sentstub/v1/events: the event goes to every
// active webhook of the account that subscribes to its type, as pending
// deliveries written in one transaction; the dispatcher makes them. It
// returns EINVALID for a type the catalog does not have.
func (s *Server) EmitEvent(ctx context.Context, req gen.EmitEventRequestObject) (gen.EmitEventResponseObject, error) {
	r := requestFromContext(ctx)
	family, sub, ok := sentstub.ParseEventType(req.Body.Type)
	if !ok {
		return nil, &sentstub.Error{Code: sentstub.EINVALID, Message: sentstub.ValidationFailed,
			Details: map[string][]string{"type": {"must be <family>.<sub-type> of GET /v3/webhooks/event-types, like message.delivered"}}}
	}
	eventType := family + "." + sub
	data := req.Body.Data
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	targets, err := s.subscribers(ctx, r.account.ID, eventType)
	if err != nil {
		return nil, err
	}
	event, err := delivery.NewEvent(eventType, data, s.now())
	if err != nil {
		return nil, err
	}
	ds := make([]*sentstub.Delivery, len(targets))
	ids := make([]uuid.UUID, len(targets))
	for i, w := range targets {
		ds[i] = event.To(w.ID)
		ds[i].NextAttemptAt = &event.Created
		ids[i] = w.ID
	}
	eventID := event.ID
	if len(ds) > 0 {
		if err := s.store.EnqueueDeliveries(ctx, ds); err != nil {
			return nil, err
		}
		s.dispatch.Wake()
	}
	return gen.EmitEvent202JSONResponse{EventAcceptedJSONResponse: gen.EventAcceptedJSONResponse{
		Body: gen.EventAcceptedResponse{Success: true, Meta: s.meta(r),
			Data: gen.EmittedEvent{ID: eventID, Type: eventType, WebhookIds: ids}},
		Headers: gen.EventAcceptedResponseHeaders(s.okHeaders(r)),
	}}, nil
}

// subscribers are owner's active webhooks that receive events of the full
// type t, newest first.
func (s *Server) subscribers(ctx context.Context, owner uuid.UUID, t string) ([]*sentstub.Webhook, error) {
	const page = 100
	active := true
	var out []*sentstub.Webhook
	for offset := 0; ; offset += page {
		ws, total, err := s.store.ListWebhooks(ctx, owner, sentstub.WebhookFilter{IsActive: &active, Offset: offset, Limit: page})
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			if w.Subscribes(t) {
				out = append(out, w)
			}
		}
		if offset+page >= total || len(ws) == 0 {
			return out, nil
		}
	}
}

// ResetAccount implements POST /_sentstub/v1/reset: the account's webhooks
// become the fixture's again, created now (with the secrets the fixture
// names, or those generated when it was loaded), their delivery logs and
// pending deliveries are gone, and so are the idempotent answers stored for
// the account.
func (s *Server) ResetAccount(ctx context.Context, _ gen.ResetAccountRequestObject) (gen.ResetAccountResponseObject, error) {
	r := requestFromContext(ctx)
	now := sentstub.Timestamp(s.now())
	var webhooks []sentstub.Webhook
	ids := []uuid.UUID{}
	if s.fixtures != nil {
		for _, w := range s.fixtures.Webhooks {
			if w.OwnerID != r.account.ID {
				continue
			}
			w := *w.Clone()
			w.CreatedAt, w.UpdatedAt = now, &now
			webhooks = append(webhooks, w)
			ids = append(ids, w.ID)
		}
	}
	if err := s.store.ResetAccount(ctx, r.account.ID, webhooks); err != nil {
		return nil, err
	}
	return gen.ResetAccount200JSONResponse{AccountResetJSONResponse: gen.AccountResetJSONResponse{
		Body: gen.AccountResetResponse{Success: true, Meta: s.meta(r),
			Data: gen.ResetAccount{AccountID: r.account.ID, WebhookIds: ids}},
		Headers: gen.AccountResetResponseHeaders(s.okHeaders(r)),
	}}, nil
}

// RunDeliveries makes the deliveries of emitted events until ctx ends, then
// lets those in flight finish (see dispatch.Dispatcher.Run).
func (s *Server) RunDeliveries(ctx context.Context) { s.dispatch.Run(ctx) }
