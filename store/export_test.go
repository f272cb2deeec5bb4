package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// FillIdempotencyKeys stores n answers for account directly, in one
// transaction, so that a benchmark can start from a table of a million keys
// in seconds instead of minutes. They expire at expires.
func (s *SQLiteStore) FillIdempotencyKeys(ctx context.Context, account uuid.UUID, n int, expires time.Time) error {
	if err := s.fill(ctx, account, n, expires); err != nil {
		return err
	}
	// Checkpoint now, so that the benchmark does not pay for copying the
	// fill's gigabyte of WAL into the database.
	_, err := s.conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func (s *SQLiteStore) fill(ctx context.Context, account uuid.UUID, n int, expires time.Time) error {
	body := make([]byte, 600) // about a toggle's answer
	for i := range body {
		body[i] = 'x'
	}
	return s.inTx(ctx, func() error {
		stmt, err := s.conn.PrepareContext(ctx, `INSERT INTO idempotency_answers
			(slot, account_id, key, request_id, fingerprint, expires_at, stored_at, status, headers, body)
			VALUES (?, ?, ?, ?, 'fp', ?, ?, 200, '{}', ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			key := fmt.Sprintf("fill-%d", i)
			res, err := stmt.ExecContext(ctx, slotOf(account, key), account.String(), key, "req_fill"+key,
				expires.UnixMicro(), expires.Add(-24*time.Hour).UnixMicro(), body)
			if err != nil {
				return err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			s.answers[answerKeyOf(account, key)] = answerRef{id: id, expires: expires.UnixMicro()}
		}
		return nil
	})
}

// SQLiteDSN is the data source name OpenSQLite uses for path.
func SQLiteDSN(path string) string { return sqliteDSN(path) }

// AnswerIndexSize is how many entries the in-memory index of stored
// answers holds.
func (s *SQLiteStore) AnswerIndexSize() int {
	s.lock(context.Background())
	defer s.unlock()
	return len(s.answers)
}

// WithTracer returns o with a tracer that sees every statement a
// PostgresStore opened with it runs.
func WithTracer(o Options, t pgx.QueryTracer) Options {
	o.tracer = t
	return o
}

// SetSlotOf makes the store compute the slot column of stored answers with
// f until the returned func restores it, so that a test can make keys
// collide there.
func SetSlotOf(f func(account uuid.UUID, key string) int64) (restore func()) {
	old := slotOf
	slotOf = f
	return func() { slotOf = old }
}
