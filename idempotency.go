package sentstub

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// IdempotencyStore keeps the answers of idempotent requests, one record per
// (account, Idempotency-Key). A record is first a claim (a request with the
// key is running) and then, once completed, the stored response that every
// later request with the key gets back. Expiry is the caller's policy: each
// record carries the instant after which it counts as absent.
type IdempotencyStore interface {
	// ClaimIdempotencyKey tries to claim (c.AccountID, c.Key) for request
	// c.RequestID. Exactly one of three things is true on success:
	//   - claimed: the caller now holds the key, and must begin its
	//     request (BeginIdempotentRequest) and end it;
	//   - stored != nil: the key's request already ran; replay stored;
	//   - neither: another request holds the key; ask again later.
	// A record whose ExpiresAt is not after c.Now (a stored response past
	// its retention, or a claim whose holder died) counts as absent, and
	// the claim replaces it.
	ClaimIdempotencyKey(ctx context.Context, c IdempotencyClaim) (stored *IdempotentResponse, claimed bool, err error)
	// BeginIdempotentRequest starts the request that holds the claim of
	// requestID on (accountID, key), and returns the context to run it with.
	// The store's writes made with that context do not commit on their own:
	// they commit with the request's answer, in one transaction, or not at
	// all. A crash before the end commits neither, and a retry runs the
	// request again; it never finds the request's effect without its
	// answer. Exactly one of the returned request's methods must end it.
	// The transaction begins at the first write and holds what the store
	// needs for it (SQLite: its only connection) until the end, so the
	// request must end soon after that write.
	BeginIdempotentRequest(ctx context.Context, accountID uuid.UUID, key, requestID string) (context.Context, IdempotentRequest)
	// SweepIdempotencyKeys deletes at most limit records whose ExpiresAt is
	// not after now, and returns how many it deleted.
	SweepIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error)
}

// IdempotentRequest is a claimed request that is running. Its methods use
// the context the request began with, without its cancellation: a request
// whose client went away still ends.
type IdempotentRequest interface {
	// Complete commits the request's writes and stores resp as the key's
	// answer, atomically. It reports false, committing the writes without
	// storing the answer, when the claim is no longer held (it expired and
	// another request took the key). When it fails, nothing is committed
	// and the key is freed (at the latest when the claim's lock times out).
	// resp and its body are the caller's again when it returns: a store
	// copies what it keeps.
	Complete(resp *IdempotentResponse) (stored bool, err error)
	// Release commits the request's writes without an answer and frees the
	// key, so that the next request with it runs. When it fails, nothing is
	// committed, and the key is freed as by a failed Complete.
	Release() error
	// Abort rolls the request's writes back and frees the key.
	Abort() error
}

// IdempotencyClaim is a request's attempt to take an Idempotency-Key.
type IdempotencyClaim struct {
	AccountID   uuid.UUID
	Key         string
	RequestID   string
	Fingerprint string    // what the request was: method, path, profile and body digest
	Now         time.Time // records expired at Now are replaced
	LockedUntil time.Time // the claim is abandoned after this unless completed
}

// IdempotentResponse is the stored answer to an idempotent request.
type IdempotentResponse struct {
	RequestID   string // the original request's id
	Fingerprint string // the original request's fingerprint
	Status      int
	Headers     map[string]string // the response headers that are replayed
	Body        []byte
	StoredAt    time.Time
	ExpiresAt   time.Time
}
