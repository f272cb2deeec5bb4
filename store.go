package sentstub

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// AccountStore finds the accounts behind API keys.
type AccountStore interface {
	// FindAccountByKey returns the account that owns the API key with hash h,
	// or ENOTFOUND.
	FindAccountByKey(ctx context.Context, h KeyHash) (*Account, error)
	// FindAccount returns the account with id, or ENOTFOUND.
	FindAccount(ctx context.Context, id uuid.UUID) (*Account, error)
}

// WebhookStore keeps webhooks. Every method is scoped to an owner: another
// owner's webhook does not exist for it. Writes made with the context of an
// idempotent request (IdempotencyStore.BeginIdempotentRequest) commit when
// the request ends, and reads with it see them.
type WebhookStore interface {
	// FindWebhook returns the webhook id owned by owner, or ENOTFOUND.
	FindWebhook(ctx context.Context, owner, id uuid.UUID) (*Webhook, error)
	// CreateWebhook saves the new webhook w, whose ID and OwnerID are set.
	// An owner that does not exist is ENOTFOUND.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// UpdateWebhook reads the webhook id owned by owner, calls update on it
	// and, if update reports a change, saves it, all as one atomic
	// read-modify-write: concurrent updates of one webhook are serialized and
	// none is lost. It returns the webhook as saved (or as read, when
	// nothing changed), or ENOTFOUND. With the context of an idempotent
	// request (IdempotencyStore.BeginIdempotentRequest), the write commits
	// when the request ends. update runs under the webhook's lock, so a
	// timestamp it sets must be read from the clock there, not before: then
	// timestamps follow the order in which updates commit.
	UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*Webhook) (changed bool)) (*Webhook, error)
	// DeleteWebhook deletes the webhook id owned by owner with its delivery
	// log, or returns ENOTFOUND.
	DeleteWebhook(ctx context.Context, owner, id uuid.UUID) error
	// ListWebhooks returns one page of owner's webhooks that match f, newest
	// first (by created_at, then by id, both descending), and how many match
	// in all.
	ListWebhooks(ctx context.Context, owner uuid.UUID, f WebhookFilter) (page []*Webhook, total int, err error)
}

// WebhookFilter selects a page of webhooks.
type WebhookFilter struct {
	IsActive *bool // nil: either
	// Search, when not empty, keeps the webhooks whose display_name or
	// endpoint_url contains it, ignoring the case of ASCII letters. It is a
	// literal: "%" and "_" match themselves.
	Search string
	Offset int // webhooks to skip
	Limit  int // the page's size, > 0
}

// DeliveryStore keeps the delivery log of each webhook, which is also the
// outbox of deliveries to make: a pending delivery is due at its
// NextAttemptAt, and a dispatcher leases it (ClaimDeliveries), attempts it
// and records the outcome (FinishDelivery).
type DeliveryStore interface {
	// CreateDelivery adds d to the log of its webhook (d.WebhookID). A
	// webhook that does not exist (deleted meanwhile) is ENOTFOUND.
	CreateDelivery(ctx context.Context, d *Delivery) error
	// ListDeliveries returns one page of the log of webhook id owned by
	// owner, newest first (by created_at, then by id, both descending), and
	// how many entries match in all; ENOTFOUND when owner has no such
	// webhook.
	ListDeliveries(ctx context.Context, owner, id uuid.UUID, f DeliveryFilter) (page []*Delivery, total int, err error)
	// EnqueueDeliveries adds the pending deliveries ds (an event fanned out
	// to its webhooks) in one transaction: all of them or none. A webhook
	// that does not exist is ENOTFOUND, and nothing is added.
	EnqueueDeliveries(ctx context.Context, ds []*Delivery) error
	// ClaimDeliveries leases at most limit pending deliveries that are due
	// at now (NextAttemptAt not after now) and not leased (or whose lease
	// ended by now), the earliest due first, until the lease's end, and
	// returns them with their webhooks. While leased, a delivery is claimed
	// by no one else, in this process or another sharing the database.
	ClaimDeliveries(ctx context.Context, now time.Time, until time.Time, limit int) ([]Claimed, error)
	// FinishDelivery records an attempt of a claimed delivery: it reads the
	// delivery and its webhook, locked together, calls record on them and
	// saves both, in one transaction. When record reports that the webhook
	// was disabled, the webhook's other pending deliveries are dropped
	// (Delivery.Drop) in the same transaction. The lease ends. When the
	// lease is no longer lease (it ended and another claim took the
	// delivery), or the delivery or its webhook is gone, it returns
	// ECONFLICT or ENOTFOUND and saves nothing.
	FinishDelivery(ctx context.Context, id, lease uuid.UUID, record func(d *Delivery, w *Webhook) (disabled bool)) error
	// ReleaseDeliveries ends the leases of the deliveries ids (claimed with
	// lease) without an attempt, so that they are due again at once: a
	// dispatcher that stops hands back what it did not send.
	ReleaseDeliveries(ctx context.Context, lease uuid.UUID, ids []uuid.UUID) error
}

// Claimed is a delivery leased to a dispatcher, with its webhook as it was
// when claimed.
type Claimed struct {
	Delivery *Delivery
	Webhook  *Webhook
	Lease    uuid.UUID // the lease's token, for FinishDelivery and ReleaseDeliveries
}

// DeliveryFilter selects a page of a delivery log.
type DeliveryFilter struct {
	// Search, when not empty, keeps the entries whose event_type or
	// delivery status contains it, ignoring the case of ASCII letters, or
	// whose event id is it; a literal, like WebhookFilter.Search.
	Search string
	Offset int
	Limit  int
}

// Store is everything the server keeps.
type Store interface {
	AccountStore
	WebhookStore
	DeliveryStore
	IdempotencyStore
	// Provision inserts the accounts, keys and webhooks of p that the store
	// does not have yet, in one transaction, and never changes what it has.
	// An API key that already belongs to a different account is EINVALID
	// and nothing is inserted.
	Provision(ctx context.Context, p *Provision) error
	// ResetAccount restores an account to a fixture's state in one
	// transaction: its webhooks (and with them their delivery logs and
	// pending deliveries) are deleted, webhooks (all owned by account) are
	// inserted, and the idempotent answers stored for account as a calling
	// account are deleted. Other accounts are untouched.
	ResetAccount(ctx context.Context, account uuid.UUID, webhooks []Webhook) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Provision is a set of accounts and webhooks to load into a store, such as
// a fixtures file. Organizations come before their profiles.
type Provision struct {
	Accounts []ProvisionedAccount
	Webhooks []Webhook
}

// ProvisionedAccount is an account with the hashes of its API keys.
type ProvisionedAccount struct {
	Account
	Keys []ProvisionedKey
}

// ProvisionedKey is an API key's hash with a name for error messages (the
// key's position in the file, never the key itself).
type ProvisionedKey struct {
	Hash  KeyHash
	Label string
}
