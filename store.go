package sentstub

import (
	"context"

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
// owner's webhook does not exist for it.
type WebhookStore interface {
	// FindWebhook returns the webhook id owned by owner, or ENOTFOUND.
	FindWebhook(ctx context.Context, owner, id uuid.UUID) (*Webhook, error)
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
}

// Store is everything the server keeps.
type Store interface {
	AccountStore
	WebhookStore
	IdempotencyStore
	// Provision inserts the accounts, keys and webhooks of p that the store
	// does not have yet, in one transaction, and never changes what it has.
	// An API key that already belongs to a different account is EINVALID
	// and nothing is inserted.
	Provision(ctx context.Context, p *Provision) error
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
