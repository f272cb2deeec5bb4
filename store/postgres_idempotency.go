package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
func (s *PostgresStore) ClaimIdempotencyKey(ctx context.Context, c sentstub.IdempotencyClaim) (*sentstub.IdempotentResponse, bool, error) {
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

// CompleteIdempotencyKey implements sentstub.IdempotencyStore.
func (s *PostgresStore) CompleteIdempotencyKey(ctx context.Context, accountID uuid.UUID, key string, resp *sentstub.IdempotentResponse) (bool, error) {
	headers, err := encodeHeaders(resp.Headers)
	if err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, postgresCompleteKey, resp.StoredAt, resp.Status, headers, resp.Body,
		resp.ExpiresAt, accountID, key, resp.RequestID)
	if err != nil {
		return false, fmt.Errorf("postgres: complete idempotency key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseIdempotencyKey implements sentstub.IdempotencyStore.
func (s *PostgresStore) ReleaseIdempotencyKey(ctx context.Context, accountID uuid.UUID, key, requestID string) error {
	if _, err := s.pool.Exec(ctx, postgresReleaseKey, accountID, key, requestID); err != nil {
		return fmt.Errorf("postgres: release idempotency key: %w", err)
	}
	return nil
}

// SweepIdempotencyKeys implements sentstub.IdempotencyStore. A negative
// limit deletes every expired record, as SQLite's LIMIT does.
func (s *PostgresStore) SweepIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error) {
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
