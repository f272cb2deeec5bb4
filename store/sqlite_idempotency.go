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

// The SQLite store keeps claims (requests in flight) in memory and writes
// only stored responses. The file belongs to one process, so a claim can
// only ever be seen by that process, and a crash that loses the claims
// loses nothing a persisted claim would keep: either way the key runs again
// when retried, at once here rather than after the lock timeout. It saves a
// write per request: a toggle with a fresh key costs one more INSERT, not
// three more transactions.

type sqliteClaim struct {
	requestID   string
	lockedUntil time.Time
}

type claimSlot struct {
	account uuid.UUID
	key     string
}

const (
	sqliteFindKey = `SELECT request_id, fingerprint, expires_at, stored_at, status, headers, body
		FROM idempotency_keys WHERE account_id = ? AND key = ? AND expires_at > ?`
	sqliteStoreKey = `INSERT INTO idempotency_keys
		(account_id, key, request_id, fingerprint, expires_at, stored_at, status, headers, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, key) DO UPDATE SET request_id = excluded.request_id,
			fingerprint = excluded.fingerprint, expires_at = excluded.expires_at,
			stored_at = excluded.stored_at, status = excluded.status,
			headers = excluded.headers, body = excluded.body
		WHERE idempotency_keys.expires_at <= ?`
	sqliteSweepKeys = `DELETE FROM idempotency_keys WHERE rowid IN
		(SELECT rowid FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)`
)

// ClaimIdempotencyKey implements sentstub.IdempotencyStore.
func (s *SQLiteStore) ClaimIdempotencyKey(ctx context.Context, c sentstub.IdempotencyClaim) (stored *sentstub.IdempotentResponse, claimed bool, err error) {
	err = s.read(ctx, func() error {
		slot := claimSlot{c.AccountID, c.Key}
		if held, ok := s.claims[slot]; ok && held.lockedUntil.After(c.Now) {
			return nil // in flight
		}
		stored, err = scanIdempotentResponse(s.findKey.QueryRowContext(ctx, c.AccountID.String(), c.Key, c.Now.UnixMicro()))
		if err != nil || stored != nil {
			return err
		}
		s.claims[slot] = sqliteClaim{requestID: c.RequestID, lockedUntil: c.LockedUntil}
		claimed = true
		return nil
	})
	return stored, claimed, err
}

// scanIdempotentResponse returns the stored response, or nil if none.
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
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find idempotency key: %w", err)
	}
	if storedAt == nil || status == nil || headers == nil {
		return nil, nil // a claim (PostgreSQL keeps them in the table)
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
	err = s.read(ctx, func() error {
		slot := claimSlot{accountID, key}
		if held, ok := s.claims[slot]; !ok || held.requestID != resp.RequestID {
			return nil // the claim was lost
		}
		if _, err := s.storeKey.ExecContext(ctx, accountID.String(), key, resp.RequestID, resp.Fingerprint,
			resp.ExpiresAt.UnixMicro(), resp.StoredAt.UnixMicro(), resp.Status, headers, resp.Body,
			resp.StoredAt.UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: store idempotent response: %w", err)
		}
		delete(s.claims, slot)
		completed = true
		return nil
	})
	return completed, err
}

// ReleaseIdempotencyKey implements sentstub.IdempotencyStore.
func (s *SQLiteStore) ReleaseIdempotencyKey(ctx context.Context, accountID uuid.UUID, key, requestID string) error {
	return s.read(ctx, func() error {
		slot := claimSlot{accountID, key}
		if held, ok := s.claims[slot]; ok && held.requestID == requestID {
			delete(s.claims, slot)
		}
		return nil
	})
}

// SweepIdempotencyKeys implements sentstub.IdempotencyStore: abandoned
// claims first, then stored responses past their retention.
func (s *SQLiteStore) SweepIdempotencyKeys(ctx context.Context, now time.Time, limit int) (deleted int, err error) {
	err = s.read(ctx, func() error {
		for slot, held := range s.claims {
			if deleted == limit {
				return nil
			}
			if !held.lockedUntil.After(now) {
				delete(s.claims, slot)
				deleted++
			}
		}
		res, err := s.sweepKeys.ExecContext(ctx, now.UnixMicro(), limit-deleted)
		if err != nil {
			return fmt.Errorf("sqlite: sweep idempotency keys: %w", err)
		}
		n, err := res.RowsAffected()
		deleted += int(n)
		return err
	})
	return deleted, err
}
