package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

const (
	sqliteClaimKey = `INSERT INTO idempotency_keys (account_id, key, request_id, fingerprint, expires_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_id, key) DO UPDATE SET request_id = excluded.request_id,
			fingerprint = excluded.fingerprint, expires_at = excluded.expires_at,
			stored_at = NULL, status = NULL, headers = NULL, body = NULL
		WHERE idempotency_keys.expires_at <= ?`
	sqliteFindKey = `SELECT request_id, fingerprint, expires_at, stored_at, status, headers, body
		FROM idempotency_keys WHERE account_id = ? AND key = ?`
	sqliteCompleteKey = `UPDATE idempotency_keys SET stored_at = ?, status = ?, headers = ?, body = ?, expires_at = ?
		WHERE account_id = ? AND key = ? AND request_id = ? AND stored_at IS NULL`
	sqliteReleaseKey = `DELETE FROM idempotency_keys
		WHERE account_id = ? AND key = ? AND request_id = ? AND stored_at IS NULL`
	sqliteSweepKeys = `DELETE FROM idempotency_keys WHERE rowid IN
		(SELECT rowid FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)`
)

// ClaimIdempotencyKey implements sentstub.IdempotencyStore.
func (s *SQLiteStore) ClaimIdempotencyKey(ctx context.Context, c sentstub.IdempotencyClaim) (stored *sentstub.IdempotentResponse, claimed bool, err error) {
	err = s.inTx(ctx, func() error {
		res, err := s.claimKey.ExecContext(ctx, c.AccountID.String(), c.Key, c.RequestID, c.Fingerprint,
			c.LockedUntil.UnixMicro(), c.Now.UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: claim idempotency key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: claim idempotency key: %w", err)
		} else if n == 1 {
			claimed = true
			return nil
		}
		stored, err = scanIdempotentResponse(s.findKey.QueryRowContext(ctx, c.AccountID.String(), c.Key))
		return err
	})
	return stored, claimed, err
}

// scanIdempotentResponse returns the stored response, or nil while the
// record is a claim.
func scanIdempotentResponse(row *sql.Row) (*sentstub.IdempotentResponse, error) {
	var (
		r        sentstub.IdempotentResponse
		expires  int64
		storedAt *int64
		status   *int64
		headers  *string
	)
	err := row.Scan(&r.RequestID, &r.Fingerprint, &expires, &storedAt, &status, &headers, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		// Released between the claim and this read: another request holds
		// it next, or nobody does; either way, ask again.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find idempotency key: %w", err)
	}
	if storedAt == nil || status == nil || headers == nil {
		return nil, nil
	}
	r.Status = int(*status)
	r.StoredAt = microsToTime(*storedAt)
	r.ExpiresAt = microsToTime(expires)
	if r.Headers, err = decodeHeaders(*headers); err != nil {
		return nil, err
	}
	if r.Body == nil {
		r.Body = []byte{}
	}
	return &r, nil
}

// CompleteIdempotencyKey implements sentstub.IdempotencyStore.
func (s *SQLiteStore) CompleteIdempotencyKey(ctx context.Context, accountID uuid.UUID, key string, resp *sentstub.IdempotentResponse) (completed bool, err error) {
	headers, err := encodeHeaders(resp.Headers)
	if err != nil {
		return false, err
	}
	err = s.inTx(ctx, func() error {
		res, err := s.completeKey.ExecContext(ctx, resp.StoredAt.UnixMicro(), resp.Status, headers, resp.Body,
			resp.ExpiresAt.UnixMicro(), accountID.String(), key, resp.RequestID)
		if err != nil {
			return fmt.Errorf("sqlite: complete idempotency key: %w", err)
		}
		n, err := res.RowsAffected()
		completed = n == 1
		return err
	})
	return completed, err
}

// ReleaseIdempotencyKey implements sentstub.IdempotencyStore.
func (s *SQLiteStore) ReleaseIdempotencyKey(ctx context.Context, accountID uuid.UUID, key, requestID string) error {
	return s.inTx(ctx, func() error {
		if _, err := s.releaseKey.ExecContext(ctx, accountID.String(), key, requestID); err != nil {
			return fmt.Errorf("sqlite: release idempotency key: %w", err)
		}
		return nil
	})
}

// SweepIdempotencyKeys implements sentstub.IdempotencyStore.
func (s *SQLiteStore) SweepIdempotencyKeys(ctx context.Context, now time.Time, limit int) (deleted int, err error) {
	err = s.inTx(ctx, func() error {
		res, err := s.sweepKeys.ExecContext(ctx, now.UnixMicro(), limit)
		if err != nil {
			return fmt.Errorf("sqlite: sweep idempotency keys: %w", err)
		}
		n, err := res.RowsAffected()
		deleted = int(n)
		return err
	})
	return deleted, err
}
