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
	//   - claimed: the caller now holds the key and must complete or
	//     release it;
	//   - stored != nil: the key's request already ran; replay stored;
	//   - neither: another request holds the key; ask again later.
	// A record whose ExpiresAt is not after c.Now (a stored response past
	// its retention, or a claim whose holder died) counts as absent, and
	// the claim replaces it.
	ClaimIdempotencyKey(ctx context.Context, c IdempotencyClaim) (stored *IdempotentResponse, claimed bool, err error)
	// CompleteIdempotencyKey stores resp as the answer for the key held by
	// the claim of resp.RequestID. It reports false, storing nothing, when
	// that claim is no longer held (it expired and another request took
	// the key).
	CompleteIdempotencyKey(ctx context.Context, accountID uuid.UUID, key string, resp *IdempotentResponse) (bool, error)
	// ReleaseIdempotencyKey drops the claim of requestID on the key, if it
	// still holds it, so that the next request with the key runs.
	ReleaseIdempotencyKey(ctx context.Context, accountID uuid.UUID, key, requestID string) error
	// SweepIdempotencyKeys deletes at most limit records whose ExpiresAt is
	// not after now, and returns how many it deleted.
	SweepIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error)
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
