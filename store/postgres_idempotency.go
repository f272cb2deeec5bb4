package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sentstub/sentstub"
)

// The statements of SQLite's idempotency store, in PostgreSQL's dialect.
// The claim is one upsert: PostgreSQL makes concurrent upserts of one key
// wait for each other, and re-evaluates the WHERE on the row as the winner
// left it, so exactly one claim of an absent or expired key succeeds.
const (
	postgresClaimKey = `INSERT INTO idempotency_keys (account_id, key, request_id, fingerprint, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, key) DO UPDATE SET request_id = excluded.request_id,
			fingerprint = excluded.fingerprint, expires_at = excluded.expires_at,
			stored_at = NULL, status = NULL, headers = NULL, body = NULL
		WHERE idempotency_keys.expires_at <= $6`
	postgresFindKey = `SELECT request_id, fingerprint, expires_at, stored_at, status, headers, body
		FROM idempotency_keys WHERE account_id = $1 AND key = $2`
	postgresCompleteKey = `UPDATE idempotency_keys SET stored_at = $1, status = $2, headers = $3, body = $4, expires_at = $5
		WHERE account_id = $6 AND key = $7 AND request_id = $8 AND stored_at IS NULL`
	postgresReleaseKey = `DELETE FROM idempotency_keys
		WHERE account_id = $1 AND key = $2 AND request_id = $3 AND stored_at IS NULL`
	// The outer condition is checked again on a row that a concurrent claim
	// replaced after the subquery saw it.
	postgresSweepKeys = `DELETE FROM idempotency_keys WHERE ctid IN
		(SELECT ctid FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2) AND expires_at <= $1`
)

// ClaimIdempotencyKey implements sentstub.IdempotencyStore.
func (s *PostgresStore) ClaimIdempotencyKey(ctx context.Context, c sentstub.IdempotencyClaim) (_ *sentstub.IdempotentResponse, _ bool, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	tag, err := s.pool.Exec(ctx, postgresClaimKey, c.AccountID, c.Key, c.RequestID, c.Fingerprint, c.LockedUntil, c.Now)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil, true, nil
	}
	// Each statement sees what was committed when it began: the record as
	// the claim found it, or as it became since (completed, released, or
	// expired and claimed by another request). Any of them is a valid answer.
	stored, err := scanPostgresIdempotentResponse(s.pool.QueryRow(ctx, postgresFindKey, c.AccountID, c.Key))
	return stored, false, err
}

// scanPostgresIdempotentResponse returns the stored response, or nil while
// the record is a claim.
func scanPostgresIdempotentResponse(row pgx.Row) (*sentstub.IdempotentResponse, error) {
	var (
		r        sentstub.IdempotentResponse
		storedAt *time.Time
		status   *int32
		headers  *string
	)
	err := row.Scan(&r.RequestID, &r.Fingerprint, &r.ExpiresAt, &storedAt, &status, &headers, &r.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		// Released between the claim and this read: another request holds
		// it next, or nobody does; either way, ask again.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: find idempotency key: %w", err)
	}
	if storedAt == nil || status == nil || headers == nil {
		return nil, nil
	}
	r.Status = int(*status)
	r.StoredAt = storedAt.UTC()
	r.ExpiresAt = r.ExpiresAt.UTC()
	if r.Headers, err = decodeHeaders(*headers); err != nil {
		return nil, err
	}
	if r.Body == nil {
		r.Body = []byte{}
	}
	return &r, nil
}

// BeginIdempotentRequest implements sentstub.IdempotencyStore. The
// request's first write begins a transaction on a connection of the pool,
// which the request keeps until it ends. Its claim is a committed row,
// which holds the key across replicas meanwhile.
func (s *PostgresStore) BeginIdempotentRequest(ctx context.Context, accountID uuid.UUID, key, requestID string) (context.Context, sentstub.IdempotentRequest) {
	r := &postgresRequest{s: s, ctx: context.WithoutCancel(ctx), account: accountID, key: key, requestID: requestID}
	return context.WithValue(ctx, postgresRequestKey{}, r), r
}

type postgresRequestKey struct{}

// postgresRequest implements sentstub.IdempotentRequest.
type postgresRequest struct {
	s         *PostgresStore
	ctx       context.Context
	account   uuid.UUID
	key       string
	requestID string
	ended     bool
	tx        pgx.Tx // begun by the request's first write
}

// requestOf returns the idempotent request of s that ctx runs, if any.
func (s *PostgresStore) requestOf(ctx context.Context) *postgresRequest {
	r, _ := ctx.Value(postgresRequestKey{}).(*postgresRequest)
	if r == nil || r.s != s || r.ended {
		return nil
	}
	return r
}

// exec runs a statement of the request's end: in its transaction if a write
// began one, on the pool otherwise.
func (r *postgresRequest) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if r.tx != nil {
		return r.tx.Exec(ctx, sql, args...)
	}
	return r.s.pool.Exec(ctx, sql, args...)
}

// Complete implements sentstub.IdempotentRequest.
func (r *postgresRequest) Complete(resp *sentstub.IdempotentResponse) (stored bool, err error) {
	headers, err := encodeHeaders(resp.Headers)
	if err != nil {
		return false, errors.Join(err, r.Abort())
	}
	err = r.finish(func(ctx context.Context) error {
		tag, err := r.exec(ctx, postgresCompleteKey, resp.StoredAt, resp.Status, headers, resp.Body,
			resp.ExpiresAt, r.account, r.key, r.requestID)
		if err != nil {
			return r.fail(ctx, fmt.Errorf("postgres: complete idempotency key: %w", err))
		}
		stored = tag.RowsAffected() == 1
		return r.commit(ctx)
	})
	return stored && err == nil, err
}

// Release implements sentstub.IdempotentRequest.
func (r *postgresRequest) Release() error {
	return r.finish(func(ctx context.Context) error {
		if _, err := r.exec(ctx, postgresReleaseKey, r.account, r.key, r.requestID); err != nil {
			return r.fail(ctx, fmt.Errorf("postgres: release idempotency key: %w", err))
		}
		return r.commit(ctx)
	})
}

// Abort implements sentstub.IdempotentRequest.
func (r *postgresRequest) Abort() error {
	return r.finish(func(ctx context.Context) error { return r.fail(ctx, nil) })
}

// finish ends the request with last, within the store's timeout, as a
// call of its own.
func (r *postgresRequest) finish(last func(ctx context.Context) error) (err error) {
	if r.ended {
		return errors.New("postgres: idempotent request already ended")
	}
	r.ended = true
	ctx, call := bound(r.ctx, r.s.timeout)
	defer call.end(&err)
	return last(ctx)
}

// commit commits the request's transaction, if a write began one.
func (r *postgresRequest) commit(ctx context.Context) error {
	if r.tx == nil {
		return nil
	}
	if err := r.tx.Commit(ctx); err != nil {
		return r.fail(ctx, fmt.Errorf("postgres: commit: %w", err))
	}
	return nil
}

// fail rolls the request's transaction back, if a write began one, and
// frees the key; if the key cannot be freed now, its claim's lock timeout
// frees it. It returns cause with whatever else failed.
func (r *postgresRequest) fail(ctx context.Context, cause error) error {
	errs := []error{cause}
	if r.tx != nil {
		if err := r.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			errs = append(errs, fmt.Errorf("postgres: rollback: %w", err))
		}
	}
	if _, err := r.s.pool.Exec(ctx, postgresReleaseKey, r.account, r.key, r.requestID); err != nil {
		errs = append(errs, fmt.Errorf("postgres: release idempotency key: %w", err))
	}
	return errors.Join(errs...)
}

// SweepIdempotencyKeys implements sentstub.IdempotencyStore. A negative
// limit deletes every expired record, as SQLite's LIMIT does.
func (s *PostgresStore) SweepIdempotencyKeys(ctx context.Context, now time.Time, limit int) (_ int, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	var lim *int64 // NULL: LIMIT ALL
	if limit >= 0 {
		l := int64(limit)
		lim = &l
	}
	tag, err := s.pool.Exec(ctx, postgresSweepKeys, now, lim)
	if err != nil {
		return 0, fmt.Errorf("postgres: sweep idempotency keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
