package server

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/gen"
)

// ToggleWebhookStatus implements PATCH /v3/webhooks/{id}/toggle-status.
// It returns ENOTFOUND when the acting account has no webhook id.
func (s *Server) ToggleWebhookStatus(ctx context.Context, req gen.ToggleWebhookStatusRequestObject) (gen.ToggleWebhookStatusResponseObject, error) {
	r := requestFromContext(ctx)
	var want *bool
	sandbox := false
	if req.Body != nil {
		want = req.Body.IsActive
		sandbox = req.Body.Sandbox != nil && *req.Body.Sandbox
	}
	if err := simulate(ctx, req.Params.XSentstubDelay, req.Params.XSentstubSimulate); err != nil {
		return nil, err
	}
	var (
		w   *sentstub.Webhook
		err error
	)
	if sandbox {
		w, err = s.sandboxToggle(ctx, r.account.ID, req.ID, want, s.now())
	} else {
		// The clock is read under the row lock (see UpdateWebhook), so
		// that updated_at follows the order in which toggles commit.
		w, err = s.store.UpdateWebhook(ctx, r.account.ID, req.ID, func(w *sentstub.Webhook) bool {
			return w.SetActive(want, s.now())
		})
	}
	if err != nil {
		return nil, err
	}
	return gen.ToggleWebhookStatus200JSONResponse{
		Body:    gen.WebhookResponse{Success: true, Data: toWebhook(w), Meta: s.meta(r)},
		Headers: s.okHeaders(r),
	}, nil
}

// maxSimulatedDelay bounds X-Sentstub-Delay, below the server's write
// timeout.
const maxSimulatedDelay = 30 * time.Second

// simulate applies the stub-only headers: X-Sentstub-Delay makes the
// operation slow, X-Sentstub-Simulate: internal_error makes it fail.
func simulate(ctx context.Context, delay *string, failure *gen.ToggleWebhookStatusParamsXSentstubSimulate) error {
	if delay != nil {
		d, err := time.ParseDuration(*delay)
		if err != nil || d > maxSimulatedDelay {
			return &sentstub.Error{Code: sentstub.EINVALID, Message: validationFailed,
				Details: map[string][]string{"X-Sentstub-Delay": {"must be a duration of at most 30s, like 500ms or 7s"}}}
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if failure != nil && *failure == gen.ToggleWebhookStatusParamsXSentstubSimulateInternalError {
		return errors.New("simulated internal error (X-Sentstub-Simulate: internal_error)")
	}
	return nil
}

// sandboxToggle answers a sandbox toggle without writing anything and never
// with 404: the caller's webhook with the change applied as a real toggle
// would apply it, or, when the caller has no such webhook, a plausible
// active webhook with that id and the change applied.
func (s *Server) sandboxToggle(ctx context.Context, owner, id uuid.UUID, want *bool, now time.Time) (*sentstub.Webhook, error) {
	r := requestFromContext(ctx)
	r.sandbox = true
	w, err := s.store.FindWebhook(ctx, owner, id)
	switch sentstub.ErrorCode(err) {
	case "":
	case sentstub.ENOTFOUND:
		created := sentstub.Timestamp(now)
		w = &sentstub.Webhook{
			ID:             id,
			OwnerID:        owner,
			DisplayName:    "Sandbox Webhook",
			EndpointURL:    "https://example.com/webhooks/sandbox",
			IsActive:       true,
			EventTypes:     []string{"messages"},
			RetryCount:     sentstub.DefaultRetryCount,
			TimeoutSeconds: sentstub.DefaultTimeoutSeconds,
			CreatedAt:      created,
			UpdatedAt:      &created,
		}
	default:
		return nil, err
	}
	w.SetActive(want, now)
	return w, nil
}

// okHeaders are the headers of a 200 answer to r. X-Response-Time is only
// known when the header is sent: begin writes it then, over this value.
func (s *Server) okHeaders(r *request) gen.ToggleWebhookStatus200ResponseHeaders {
	h := gen.ToggleWebhookStatus200ResponseHeaders{
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
