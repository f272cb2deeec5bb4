package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// FillIdempotencyKeys stores n answers for account directly, in one
// transaction, so that a benchmark can start from a table of a million keys
// in seconds instead of minutes. They expire at expires.
func (s *SQLiteStore) FillIdempotencyKeys(ctx context.Context, account uuid.UUID, n int, expires time.Time) error {
	body := make([]byte, 600) // about a toggle's answer
	for i := range body {
		body[i] = 'x'
	}
	return s.inTx(ctx, func() error {
		stmt, err := s.conn.PrepareContext(ctx, `INSERT INTO idempotency_keys
			(account_id, key, request_id, fingerprint, expires_at, stored_at, status, headers, body)
			VALUES (?, ?, ?, 'fp', ?, ?, 200, '{}', ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			if _, err := stmt.ExecContext(ctx, account.String(), fmt.Sprintf("fill-%d", i), fmt.Sprintf("req_fill%d", i),
				expires.UnixMicro(), expires.Add(-24*time.Hour).UnixMicro(), body); err != nil {
				return err
			}
		}
		return nil
	})
}
