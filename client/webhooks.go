package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	genclient "github.com/sentstub/sentstub/gen/client"
)

// Scope names the account a call acts for. The zero value is the API key's
// own account.
type Scope struct {
	// ProfileID, when not empty, is the UUID of a profile of the calling
	// organization to act for (the x-profile-id header).
	ProfileID string
}

// Mutation holds what every mutation takes besides its own parameters.
type Mutation struct {
	Scope
	// IdempotencyKey is sent as the Idempotency-Key header; empty, the
	// client generates one for the call and reuses it on each retry (see
	// ToggleStatusParams.IdempotencyKey).
	IdempotencyKey string
	// Sandbox asks for a realistic answer without anything written or sent.
	Sandbox bool
}

// CreateWebhookParams are the settings of a new webhook. DisplayName and
// EndpointURL are required; a zero RetryCount or TimeoutSeconds, and nil
// EventTypes, take the server's defaults (3, 30 and ["message"]).
type CreateWebhookParams struct {
	Mutation
	DisplayName    string
	EndpointURL    string
	EventTypes     []string
	EventFilters   map[string][]string // sub-types by family; nil: every event of the families
	RetryCount     int
	TimeoutSeconds int
}

// UpdateWebhookParams are the settings to change; nil (and false for
// ClearEventFilters) leaves a setting as it is.
type UpdateWebhookParams struct {
	Mutation
	DisplayName       *string
	EndpointURL       *string
	EventTypes        []string
	EventFilters      map[string][]string
	ClearEventFilters bool // remove the filters (sends "event_filters": null)
	RetryCount        *int
	TimeoutSeconds    *int
}

// ListWebhooksParams select a page of webhooks. Page counts from 1; a zero
// Page is 1 and a zero PageSize is 20.
type ListWebhooksParams struct {
	Scope
	Page     int
	PageSize int
	IsActive *bool  // only active (true) or inactive (false) webhooks
	Search   string // a substring of the display name or URL, any case
}

// ListWebhookEventsParams select a page of a delivery log, like
// ListWebhooksParams.
type ListWebhookEventsParams struct {
	Scope
	Page     int
	PageSize int
	Search   string // a substring of the event type or status, or an event id
}

// TestWebhookParams are the parameters of TestWebhook.
type TestWebhookParams struct {
	Mutation
	EventType string // the family of the test event; empty is "message"
}

// DefaultPageSize is the page size of a list call that names none.
const DefaultPageSize = 20

// CreateWebhook creates a webhook (POST /v3/webhooks) and returns it with
// its signing secret, which only this call and RotateWebhookSecret show.
func (c *Client) CreateWebhook(ctx context.Context, p CreateWebhookParams, opts ...CallOption) (*Webhook, error) {
	const op = "create webhook"
	cs := settings(opts)
	params := &genclient.CreateWebhookParams{}
	var err error
	if params.XProfileID, err = profileID(op, p.ProfileID); err != nil {
		return nil, err
	}
	if params.IdempotencyKey, err = idempotencyKey(op, p.IdempotencyKey); err != nil {
		return nil, err
	}
	body := genclient.CreateWebhookJSONRequestBody{DisplayName: p.DisplayName, EndpointURL: p.EndpointURL,
		EventTypes: eventTypeNames(p.EventTypes), RetryCount: positive(p.RetryCount),
		TimeoutSeconds: positive(p.TimeoutSeconds), Sandbox: sandbox(p.Sandbox)}
	if p.EventFilters != nil {
		f := genclient.EventFilters(p.EventFilters)
		body.EventFilters = &f
	}
	return callWebhook(ctx, c, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.CreateWebhook(ctx, params, body)
	})
}

// RetrieveWebhook returns the webhook id (GET /v3/webhooks/{id}), its
// secret hidden.
func (c *Client) RetrieveWebhook(ctx context.Context, id string, s Scope, opts ...CallOption) (*Webhook, error) {
	const op = "retrieve webhook"
	cs := settings(opts)
	webhookID, profile, err := ids(op, id, s.ProfileID)
	if err != nil {
		return nil, err
	}
	return callWebhook(ctx, c, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.RetrieveWebhook(ctx, webhookID, &genclient.RetrieveWebhookParams{XProfileID: profile})
	})
}

// UpdateWebhook changes the settings p carries (PUT /v3/webhooks/{id}) and
// returns the webhook as saved.
func (c *Client) UpdateWebhook(ctx context.Context, id string, p UpdateWebhookParams, opts ...CallOption) (*Webhook, error) {
	const op = "update webhook"
	cs := settings(opts)
	webhookID, profile, key, err := mutationArgs(op, id, p.ProfileID, p.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	params := &genclient.UpdateWebhookParams{XProfileID: profile, IdempotencyKey: key}
	body := genclient.UpdateWebhookJSONRequestBody{DisplayName: p.DisplayName, EndpointURL: p.EndpointURL,
		EventTypes: eventTypeNames(p.EventTypes), RetryCount: p.RetryCount, TimeoutSeconds: p.TimeoutSeconds,
		Sandbox: sandbox(p.Sandbox)}
	switch {
	case p.ClearEventFilters:
		body.EventFilters = nullable.NewNullNullable[map[string][]string]()
	case p.EventFilters != nil:
		body.EventFilters = nullable.NewNullableWithValue(p.EventFilters)
	}
	return callWebhook(ctx, c, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.UpdateWebhook(ctx, webhookID, params, body)
	})
}

// DeleteWebhook deletes the webhook id with its delivery log
// (DELETE /v3/webhooks/{id}). DELETE takes no Idempotency-Key: a retry
// after a lost answer may find the webhook gone and return an *Error that
// IsNotFound.
func (c *Client) DeleteWebhook(ctx context.Context, id string, s Scope, opts ...CallOption) error {
	const op = "delete webhook"
	cs := settings(opts)
	webhookID, profile, err := ids(op, id, s.ProfileID)
	if err != nil {
		return err
	}
	return c.call(ctx, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.DeleteWebhook(ctx, webhookID, &genclient.DeleteWebhookParams{XProfileID: profile})
	}, func([]byte) error { return nil })
}

// ListWebhooks returns one page of the webhooks (GET /v3/webhooks), newest
// first. Webhooks iterates over all of them.
func (c *Client) ListWebhooks(ctx context.Context, p ListWebhooksParams, opts ...CallOption) (*WebhookPage, error) {
	const op = "list webhooks"
	cs := settings(opts)
	profile, err := profileID(op, p.ProfileID)
	if err != nil {
		return nil, err
	}
	params := &genclient.ListWebhooksParams{Page: pageOr1(p.Page), PageSize: pageSizeOrDefault(p.PageSize),
		IsActive: p.IsActive, XProfileID: profile}
	if p.Search != "" {
		params.Search = &p.Search
	}
	var out genclient.WebhookListResponse
	if err := c.call(ctx, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.ListWebhooks(ctx, params)
	}, decodeInto(&out)); err != nil {
		return nil, err
	}
	return &WebhookPage{Webhooks: convertSlice(out.Data.Webhooks, webhookFrom), Pagination: paginationFrom(out.Data.Pagination)}, nil
}

// Webhooks iterates over every webhook that p selects, from p.Page on,
// fetching a page at a time as the loop asks for more. An error ends the
// iteration: it is yielded once, with a nil webhook. opts apply to each
// page's call.
func (c *Client) Webhooks(ctx context.Context, p ListWebhooksParams, opts ...CallOption) iter.Seq2[*Webhook, error] {
	return pages(p.Page, func(page int) ([]Webhook, bool, error) {
		p.Page = page
		res, err := c.ListWebhooks(ctx, p, opts...)
		if err != nil {
			return nil, false, err
		}
		return res.Webhooks, res.Pagination.HasMore, nil
	})
}

// ListWebhookEventTypes returns the event types a webhook can subscribe to
// (GET /v3/webhooks/event-types).
func (c *Client) ListWebhookEventTypes(ctx context.Context, s Scope, opts ...CallOption) ([]EventType, error) {
	const op = "list webhook event types"
	cs := settings(opts)
	profile, err := profileID(op, s.ProfileID)
	if err != nil {
		return nil, err
	}
	var out genclient.EventTypeListResponse
	if err := c.call(ctx, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.ListWebhookEventTypes(ctx, &genclient.ListWebhookEventTypesParams{XProfileID: profile})
	}, decodeInto(&out)); err != nil {
		return nil, err
	}
	return convertSlice(out.Data.EventTypes, eventTypeFrom), nil
}

// ListWebhookEvents returns one page of the delivery log of the webhook id
// (GET /v3/webhooks/{id}/events), newest first. WebhookEvents iterates
// over all of it.
func (c *Client) ListWebhookEvents(ctx context.Context, id string, p ListWebhookEventsParams, opts ...CallOption) (*WebhookEventPage, error) {
	const op = "list webhook events"
	cs := settings(opts)
	webhookID, profile, err := ids(op, id, p.ProfileID)
	if err != nil {
		return nil, err
	}
	params := &genclient.ListWebhookEventsParams{Page: pageOr1(p.Page), PageSize: pageSizeOrDefault(p.PageSize), XProfileID: profile}
	if p.Search != "" {
		params.Search = &p.Search
	}
	var out genclient.WebhookEventListResponse
	if err := c.call(ctx, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.ListWebhookEvents(ctx, webhookID, params)
	}, decodeInto(&out)); err != nil {
		return nil, err
	}
	return &WebhookEventPage{Events: convertSlice(out.Data.Events, webhookEventFrom), Pagination: paginationFrom(out.Data.Pagination)}, nil
}

// WebhookEvents iterates over the delivery log of the webhook id, as
// Webhooks does over webhooks.
func (c *Client) WebhookEvents(ctx context.Context, id string, p ListWebhookEventsParams, opts ...CallOption) iter.Seq2[*WebhookEvent, error] {
	return pages(p.Page, func(page int) ([]WebhookEvent, bool, error) {
		p.Page = page
		res, err := c.ListWebhookEvents(ctx, id, p, opts...)
		if err != nil {
			return nil, false, err
		}
		return res.Events, res.Pagination.HasMore, nil
	})
}

// RotateWebhookSecret gives the webhook id a new signing secret
// (POST /v3/webhooks/{id}/rotate-secret) and returns it; the old one signs
// nothing more.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string, m Mutation, opts ...CallOption) (string, error) {
	const op = "rotate webhook secret"
	cs := settings(opts)
	webhookID, profile, key, err := mutationArgs(op, id, m.ProfileID, m.IdempotencyKey)
	if err != nil {
		return "", err
	}
	params := &genclient.RotateWebhookSecretParams{XProfileID: profile, IdempotencyKey: key}
	var out genclient.SigningSecretResponse
	if err := c.call(ctx, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.RotateWebhookSecret(ctx, webhookID, params, genclient.SandboxRequest{Sandbox: sandbox(m.Sandbox)})
	}, decodeInto(&out)); err != nil {
		return "", err
	}
	return out.Data.SigningSecret, nil
}

// TestWebhook makes the server deliver one signed test event to the
// webhook id now (POST /v3/webhooks/{id}/test) and returns what came of it.
// An inactive webhook is an *Error with CodeWebhookInactive.
func (c *Client) TestWebhook(ctx context.Context, id string, p TestWebhookParams, opts ...CallOption) (*TestResult, error) {
	const op = "test webhook"
	cs := settings(opts)
	webhookID, profile, key, err := mutationArgs(op, id, p.ProfileID, p.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	params := &genclient.TestWebhookParams{XProfileID: profile, IdempotencyKey: key}
	body := genclient.TestWebhookJSONRequestBody{Sandbox: sandbox(p.Sandbox)}
	if p.EventType != "" {
		t := genclient.EventTypeName(p.EventType)
		body.EventType = &t
	}
	var out genclient.WebhookTestResponse
	if err := c.call(ctx, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.TestWebhook(ctx, webhookID, params, body)
	}, decodeInto(&out)); err != nil {
		return nil, err
	}
	r := testResultFrom(out.Data)
	return &r, nil
}

// callWebhook runs an operation that answers a webhook.
func callWebhook(ctx context.Context, c *Client, op string, cs callSettings, send sendFunc) (*Webhook, error) {
	var out genclient.WebhookResponse
	err := c.call(ctx, op, cs, send, func(b []byte) error {
		if err := json.Unmarshal(b, &out); err != nil {
			return err
		}
		if out.Data.ID == uuid.Nil {
			return errors.New("the answer has no webhook in data")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w := webhookFrom(&out.Data)
	return &w, nil
}

func decodeInto(v any) decodeFunc {
	return func(b []byte) error { return json.Unmarshal(b, v) }
}

// pages iterates over the items of the pages fetch returns, from page
// first (0 is 1) until one says there are no more.
func pages[T any](first int, fetch func(page int) (items []T, more bool, err error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for page := pageOr1(first); ; page++ {
			items, more, err := fetch(page)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range items {
				if !yield(&items[i], nil) {
					return
				}
			}
			if !more || len(items) == 0 {
				return
			}
		}
	}
}

// ids parses a webhook id and an optional profile id.
func ids(op, id, profile string) (uuid.UUID, *uuid.UUID, error) {
	webhookID, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, nil, fmt.Errorf("sentdm: %s: webhook id %q is not a uuid: %w", op, id, err)
	}
	p, err := profileID(op, profile)
	return webhookID, p, err
}

// mutationArgs parses the ids of a mutation of the webhook id, as ids does,
// then picks its Idempotency-Key, as idempotencyKey does.
func mutationArgs(op, id, profile, key string) (uuid.UUID, *uuid.UUID, *string, error) {
	webhookID, p, err := ids(op, id, profile)
	if err != nil {
		return uuid.Nil, nil, nil, err
	}
	k, err := idempotencyKey(op, key)
	if err != nil {
		return uuid.Nil, nil, nil, err
	}
	return webhookID, p, k, nil
}

func profileID(op, s string) (*uuid.UUID, error) {
	if s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("sentdm: %s: profile id %q is not a uuid: %w", op, s, err)
	}
	return &id, nil
}

// idempotencyKey is the key to send: the caller's, or a new one.
func idempotencyKey(op, key string) (*string, error) {
	if key == "" {
		key = NewIdempotencyKey()
	} else if !validHeaderValue(key) {
		return nil, fmt.Errorf("sentdm: %s: the idempotency key contains characters not allowed in an HTTP header", op)
	}
	return &key, nil
}

func eventTypeNames(types []string) *[]genclient.EventTypeName {
	if types == nil {
		return nil
	}
	out := make([]genclient.EventTypeName, len(types))
	for i, t := range types {
		out[i] = genclient.EventTypeName(t)
	}
	return &out
}

func positive(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

func sandbox(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}

func pageOr1(p int) int { return max(p, 1) }

func pageSizeOrDefault(n int) int {
	if n <= 0 {
		return DefaultPageSize
	}
	return n
}
