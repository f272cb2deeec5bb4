package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/gen"
	"github.com/sentstub/sentstub/server/delivery"
)

// The operations of the webhooks resource. Authentication, request
// validation, profile scoping and idempotency have run before any of them
// (see New); each acts for r.account, so another account's webhook is
// ENOTFOUND like one that does not exist.

// CreateWebhook implements POST /v3/webhooks. It returns EINVALID for an
// invalid setting.
func (s *Server) CreateWebhook(ctx context.Context, req gen.CreateWebhookRequestObject) (gen.CreateWebhookResponseObject, error) {
	r := requestFromContext(ctx)
	body := req.Body
	if body == nil {
		body = &gen.CreateWebhookRequest{}
	}
	w, err := sentstub.NewWebhook(r.account.ID, createSettings(body), s.now())
	if err != nil {
		return nil, err
	}
	if isSet(body.Sandbox) {
		r.sandbox = true
	} else if err := s.store.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return gen.CreateWebhook201JSONResponse{WebhookCreatedJSONResponse: gen.WebhookCreatedJSONResponse{
		Body:    gen.WebhookResponse{Success: true, Data: toWebhook(w, true), Meta: s.meta(r)},
		Headers: gen.WebhookCreatedResponseHeaders(s.okHeaders(r)),
	}}, nil
}

// RetrieveWebhook implements GET /v3/webhooks/{id}. It returns ENOTFOUND.
func (s *Server) RetrieveWebhook(ctx context.Context, req gen.RetrieveWebhookRequestObject) (gen.RetrieveWebhookResponseObject, error) {
	r := requestFromContext(ctx)
	w, err := s.store.FindWebhook(ctx, r.account.ID, req.ID)
	if err != nil {
		return nil, err
	}
	return s.webhookOK(r, w), nil
}

// UpdateWebhook implements PUT /v3/webhooks/{id}: it changes the settings
// the body carries. It returns EINVALID for an invalid setting (changing
// nothing) and ENOTFOUND.
func (s *Server) UpdateWebhook(ctx context.Context, req gen.UpdateWebhookRequestObject) (gen.UpdateWebhookResponseObject, error) {
	r := requestFromContext(ctx)
	body := req.Body
	if body == nil {
		body = &gen.UpdateWebhookRequest{}
	}
	settings := updateSettings(body)
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	var applyErr error
	w, err := s.changeWebhook(ctx, r, req.ID, isSet(body.Sandbox), func(w *sentstub.Webhook) bool {
		var changed bool
		changed, applyErr = w.Apply(settings, s.now()) // the clock is read under the row's lock
		return changed
	})
	if err = errors.Join(err, applyErr); err != nil {
		return nil, err
	}
	return s.webhookOK(r, w), nil
}

// DeleteWebhook implements DELETE /v3/webhooks/{id}, with its delivery log.
// Sandbox does not apply: a delete always deletes. It returns ENOTFOUND.
func (s *Server) DeleteWebhook(ctx context.Context, req gen.DeleteWebhookRequestObject) (gen.DeleteWebhookResponseObject, error) {
	r := requestFromContext(ctx)
	if err := s.store.DeleteWebhook(ctx, r.account.ID, req.ID); err != nil {
		return nil, err
	}
	return gen.DeleteWebhook204Response{Headers: gen.NoContentResponseHeaders(s.okHeaders(r))}, nil
}

// ListWebhooks implements GET /v3/webhooks: a page of the account's
// webhooks, newest first.
func (s *Server) ListWebhooks(ctx context.Context, req gen.ListWebhooksRequestObject) (gen.ListWebhooksResponseObject, error) {
	r := requestFromContext(ctx)
	p := req.Params
	ws, total, err := s.store.ListWebhooks(ctx, r.account.ID, sentstub.WebhookFilter{
		IsActive: p.IsActive, Search: deref(p.Search), Offset: (p.Page - 1) * p.PageSize, Limit: p.PageSize,
	})
	if err != nil {
		return nil, err
	}
	return gen.ListWebhooks200JSONResponse{WebhookListOKJSONResponse: gen.WebhookListOKJSONResponse{
		Body: gen.WebhookListResponse{Success: true, Meta: s.meta(r),
			Data: gen.WebhookList{Webhooks: toWebhooks(ws), Pagination: toPagination(p.Page, p.PageSize, total)}},
		Headers: gen.WebhookListOKResponseHeaders(s.okHeaders(r)),
	}}, nil
}

// ListWebhookEventTypes implements GET /v3/webhooks/event-types.
func (s *Server) ListWebhookEventTypes(ctx context.Context, _ gen.ListWebhookEventTypesRequestObject) (gen.ListWebhookEventTypesResponseObject, error) {
	r := requestFromContext(ctx)
	return gen.ListWebhookEventTypes200JSONResponse{EventTypeListOKJSONResponse: gen.EventTypeListOKJSONResponse{
		Body: gen.EventTypeListResponse{Success: true, Meta: s.meta(r),
			Data: gen.EventTypeList{EventTypes: eventTypes}},
		Headers: gen.EventTypeListOKResponseHeaders(s.okHeaders(r)),
	}}, nil
}

// ListWebhookEvents implements GET /v3/webhooks/{id}/events: a page of the
// webhook's delivery log, newest first. It returns ENOTFOUND.
func (s *Server) ListWebhookEvents(ctx context.Context, req gen.ListWebhookEventsRequestObject) (gen.ListWebhookEventsResponseObject, error) {
	r := requestFromContext(ctx)
	p := req.Params
	ds, total, err := s.store.ListDeliveries(ctx, r.account.ID, req.ID, sentstub.DeliveryFilter{
		Search: deref(p.Search), Offset: (p.Page - 1) * p.PageSize, Limit: p.PageSize,
	})
	if err != nil {
		return nil, err
	}
	return gen.ListWebhookEvents200JSONResponse{WebhookEventListOKJSONResponse: gen.WebhookEventListOKJSONResponse{
		Body: gen.WebhookEventListResponse{Success: true, Meta: s.meta(r),
			Data: gen.WebhookEventList{Events: toWebhookEvents(ds), Pagination: toPagination(p.Page, p.PageSize, total)}},
		Headers: gen.WebhookEventListOKResponseHeaders(s.okHeaders(r)),
	}}, nil
}

// RotateWebhookSecret implements POST /v3/webhooks/{id}/rotate-secret: a
// new secret, answered in full; the old one signs nothing more. It returns
// ENOTFOUND.
func (s *Server) RotateWebhookSecret(ctx context.Context, req gen.RotateWebhookSecretRequestObject) (gen.RotateWebhookSecretResponseObject, error) {
	r := requestFromContext(ctx)
	var secret string
	if req.Body != nil && isSet(req.Body.Sandbox) {
		r.sandbox = true
		secret = sentstub.NewSigningSecret()
	} else if _, err := s.store.UpdateWebhook(ctx, r.account.ID, req.ID, func(w *sentstub.Webhook) bool {
		secret = w.RotateSecret(s.now())
		return true
	}); err != nil {
		return nil, err
	}
	return gen.RotateWebhookSecret200JSONResponse{SigningSecretOKJSONResponse: gen.SigningSecretOKJSONResponse{
		Body: gen.SigningSecretResponse{Success: true, Meta: s.meta(r),
			Data: gen.SigningSecret{SigningSecret: secret}},
		Headers: gen.SigningSecretOKResponseHeaders(s.okHeaders(r)),
	}}, nil
}

// TestWebhook implements POST /v3/webhooks/{id}/test: one signed delivery
// of a "<family>.test" event, made now, without retry, recorded in the
// delivery log. A failed test leaves the webhook's failure count alone. It
// returns EINACTIVE for an inactive webhook and ENOTFOUND.
func (s *Server) TestWebhook(ctx context.Context, req gen.TestWebhookRequestObject) (gen.TestWebhookResponseObject, error) {
	r := requestFromContext(ctx)
	family, sandbox := "message", false
	if req.Body != nil {
		if req.Body.EventType != nil {
			family, _ = sentstub.CanonicalFamily(string(*req.Body.EventType)) // the spec allows only families
		}
		sandbox = isSet(req.Body.Sandbox)
	}
	var (
		w   *sentstub.Webhook
		err error
	)
	if sandbox {
		w, err = s.sandboxWebhook(ctx, r, req.ID)
	} else {
		w, err = s.store.FindWebhook(ctx, r.account.ID, req.ID)
	}
	if err != nil {
		return nil, err
	}
	if !w.IsActive {
		return nil, &sentstub.Error{Code: sentstub.EINACTIVE, Message: "Webhook is inactive"}
	}
	result := gen.TestResult{Success: true, Message: "Sandbox: the test event was not sent"}
	if !sandbox {
		if result, err = s.testDelivery(ctx, w, family+".test"); err != nil {
			return nil, err
		}
	}
	return gen.TestWebhook200JSONResponse{TestResultOKJSONResponse: gen.TestResultOKJSONResponse{
		Body:    gen.WebhookTestResponse{Success: true, Meta: s.meta(r), Data: result},
		Headers: gen.TestResultOKResponseHeaders(s.okHeaders(r)),
	}}, nil
}

// testDelivery delivers a test event of eventType to w once and records it.
func (s *Server) testDelivery(ctx context.Context, w *sentstub.Webhook, eventType string) (gen.TestResult, error) {
	event, err := delivery.NewEvent(eventType, map[string]any{
		"webhook_id": w.ID,
		"test":       true,
		"message":    "A test event sent by POST /v3/webhooks/{id}/test",
	}, s.now())
	if err != nil {
		return gen.TestResult{}, err
	}
	d := event.To(w.ID)
	a := s.sender.Deliver(ctx, w, d, s.now)
	d.Record(a)
	if err := s.store.CreateDelivery(ctx, d); err != nil {
		return gen.TestResult{}, fmt.Errorf("record test delivery: %w", err)
	}
	return gen.TestResult{Success: a.Delivered, Message: a.Message}, nil
}

// ToggleWebhookStatus implements PATCH /v3/webhooks/{id}/toggle-status.
// It returns ENOTFOUND when the acting account has no webhook id.
func (s *Server) ToggleWebhookStatus(ctx context.Context, req gen.ToggleWebhookStatusRequestObject) (gen.ToggleWebhookStatusResponseObject, error) {
	r := requestFromContext(ctx)
	var want *bool
	sandbox := false
	if req.Body != nil {
		want = req.Body.IsActive
		sandbox = isSet(req.Body.Sandbox)
	}
	// The clock is read under the row lock (see UpdateWebhook), so
	// that updated_at follows the order in which toggles commit.
	w, err := s.changeWebhook(ctx, r, req.ID, sandbox, func(w *sentstub.Webhook) bool {
		return w.SetActive(want, s.now())
	})
	if err != nil {
		return nil, err
	}
	return s.webhookOK(r, w), nil
}

// sandboxWebhook is what a sandbox request works on, and marks r as a
// sandbox request: nothing is written, and the answer is never 404. It is
// the caller's webhook when it exists, else a plausible active webhook with
// that id, created now.
func (s *Server) sandboxWebhook(ctx context.Context, r *request, id uuid.UUID) (*sentstub.Webhook, error) {
	r.sandbox = true
	w, err := s.store.FindWebhook(ctx, r.account.ID, id)
	if sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		return w, err
	}
	created := sentstub.Timestamp(s.now())
	return &sentstub.Webhook{
		ID:             id,
		OwnerID:        r.account.ID,
		DisplayName:    "Sandbox Webhook",
		EndpointURL:    "https://example.com/webhooks/sandbox",
		IsActive:       true,
		EventTypes:     []string{"messages"},
		RetryCount:     sentstub.DefaultRetryCount,
		TimeoutSeconds: sentstub.DefaultTimeoutSeconds,
		CreatedAt:      created,
		UpdatedAt:      &created,
	}, nil
}

// changeWebhook applies change to the webhook id of r's account: in the
// store, under the row's lock, or for a sandbox request to sandboxWebhook's
// webhook, writing nothing.
func (s *Server) changeWebhook(ctx context.Context, r *request, id uuid.UUID, sandbox bool, change func(*sentstub.Webhook) bool) (*sentstub.Webhook, error) {
	if !sandbox {
		return s.store.UpdateWebhook(ctx, r.account.ID, id, change)
	}
	w, err := s.sandboxWebhook(ctx, r, id)
	if err == nil {
		change(w)
	}
	return w, err
}

// webhookOK is the 200 answer with w, its secret hidden.
func (s *Server) webhookOK(r *request, w *sentstub.Webhook) webhookAnswer {
	return webhookAnswer{
		body:    gen.WebhookResponse{Success: true, Data: toWebhook(w, false), Meta: s.meta(r)},
		sandbox: r.sandbox,
	}
}

// okHeaders are the headers of every successful answer to r; the spec gives
// every success response the same set, so each operation's header type is
// a conversion of this one. X-Response-Time is only known when the header
// is sent: begin writes it then, over this value.
func (s *Server) okHeaders(r *request) gen.WebhookOKResponseHeaders {
	h := gen.WebhookOKResponseHeaders{
		XRequestID:    r.id,
		XAPIVersion:   apiVersion,
		XResponseTime: "0.00ms",
	}
	if r.sandbox {
		yes := "true"
		h.XSandbox = &yes
	}
	return h
}

func isSet(b *bool) bool { return b != nil && *b }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
