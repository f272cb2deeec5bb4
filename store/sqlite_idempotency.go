package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/internal/memlog"
)

// The SQLite store owns its file, so it keeps the bookkeeping of
// idempotency in memory and writes only what must survive a restart:
//
//   - Claims (requests in flight) are memory only. A crash loses nothing a
//     persisted claim would keep: either way the key runs again when
//     retried, here at once rather than after the lock timeout.
//   - Stored answers are appended to idempotency_answers; an in-memory
//     index maps the SHA-256 of each (account, key) to its newest row and
//     expiry, and is rebuilt from the table at start. A claim of a fresh key
//     reads nothing from the database, and storing its answer is one append.
//   - A database in memory (":memory:") keeps its answers in a memlog.Log
//     (see kept.go), off the Go heap, not in the table: there they would
//     last no longer, and each would cost an INSERT and, because modernc's
//     allocator rounds every page of an in-memory database up to twice its
//     size, about 2 KB. (An INSERT was a third of a keyed toggle's CPU under
//     load, with the page faults of the memory it took.) The index maps such
//     an answer to its position in the log. It enters the index when the
//     request's transaction has committed, under the connection, as a row
//     would become visible then, and is not indexed if it rolls back.
//
// The index, and the claims, are keyed by the full hash, never by a shorter
// one: two keys that shared an entry would share one answer (the later
// one's, and a retry of the earlier would run again). An entry is 48 bytes,
// 55 to 110 with the map's room to grow. The table's 64-bit slot column,
// an older index key, is still written, so that an older sentstub can open
// the file, but is not read.

type sqliteClaim struct {
	requestID   string
	lockedUntil time.Time
}

// answerKey is the index key of (account, key): the SHA-256 of the
// account's 16 bytes and the key's, as stored.
type answerKey [sha256.Size]byte

func answerKeyOf(account uuid.UUID, key string) answerKey {
	var buf [16 + 255]byte // room for the longest key the API accepts
	return sha256.Sum256(append(append(buf[:0], account[:]...), key...))
}

// answerRef locates the stored answer of a key: its row, or for a
// database in memory its position in the log. It holds no pointer, so the
// collector does not scan the index.
type answerRef struct {
	id      int64 // the row's id, or the memlog.Pos
	expires int64 // microseconds since the epoch
}

const (
	sqliteLoadAnswers = `SELECT id, account_id, key, expires_at FROM idempotency_answers ORDER BY id`
	sqliteFindAnswer  = `SELECT account_id, key, request_id, fingerprint, expires_at, stored_at, status, headers, body
		FROM idempotency_answers WHERE id = ?`
	sqliteStoreAnswer = `INSERT INTO idempotency_answers
		(slot, account_id, key, request_id, fingerprint, expires_at, stored_at, status, headers, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// Oldest first: answers are appended in the order they are stored.
	sqliteSweepAnswers = `DELETE FROM idempotency_answers WHERE id IN
		(SELECT id FROM idempotency_answers ORDER BY id LIMIT ?) AND expires_at <= ? RETURNING id, account_id, key`
	// ResetAccount's: every answer the account stored, whatever its key.
	sqliteDeleteAccountAnswers = `DELETE FROM idempotency_answers WHERE account_id = ? RETURNING id, account_id, key`
)

// slotOf is the slot column of (account, key): FNV-1a, 64 bits. (A var,
// so that a test can make slots collide.)
var slotOf = func(account uuid.UUID, key string) int64 {
	h := fnv.New64a()
	h.Write(account[:])
	h.Write([]byte(key))
	return int64(h.Sum64())
}

// loadAnswers rebuilds the in-memory index of stored answers. Expired ones
// are loaded too: a claim checks expiry against its own clock, and the
// sweeper drops them.
func (s *SQLiteStore) loadAnswers(ctx context.Context) error {
	rows, err := s.conn.QueryContext(ctx, sqliteLoadAnswers)
	if err != nil {
		return fmt.Errorf("sqlite: load idempotency index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ref     answerRef
			account uuid.UUID
			key     string
		)
		if err := rows.Scan(&ref.id, &account, &key, &ref.expires); err != nil {
			return fmt.Errorf("sqlite: load idempotency index: %w", err)
		}
		s.answers[answerKeyOf(account, key)] = ref
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: load idempotency index: %w", err)
	}
	return nil
}

// ClaimIdempotencyKey implements sentstub.IdempotencyStore.
func (s *SQLiteStore) ClaimIdempotencyKey(ctx context.Context, c sentstub.IdempotencyClaim) (stored *sentstub.IdempotentResponse, claimed bool, err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	err = s.withConn(ctx, func() error {
		slot := answerKeyOf(c.AccountID, c.Key)
		if held, ok := s.claims[slot]; ok && held.lockedUntil.After(c.Now) {
			return nil // in flight
		}
		if ref, ok := s.answers[slot]; ok && ref.expires > c.Now.UnixMicro() {
			if s.kept != nil {
				if stored = keptResponse(s.kept.At(memlog.Pos(ref.id)), c.AccountID, c.Key); stored != nil {
					return nil
				}
			} else if stored, err = scanIdempotentResponse(s.findAnswer.QueryRowContext(ctx, ref.id), c.AccountID, c.Key); err != nil || stored != nil {
				return err
			}
		}
		s.claims[slot] = sqliteClaim{requestID: c.RequestID, lockedUntil: c.LockedUntil}
		claimed = true
		return nil
	})
	return stored, claimed, err
}

// scanIdempotentResponse returns the answer in row if it is (account,
// key)'s, and nil otherwise (gone). The index found it by the hash of the
// two; comparing them costs nothing.
func scanIdempotentResponse(row *sql.Row, account uuid.UUID, key string) (*sentstub.IdempotentResponse, error) {
	var (
		r                 sentstub.IdempotentResponse
		rowAccount        uuid.UUID
		rowKey, headers   string
		expires, storedAt int64
	)
	err := row.Scan(&rowAccount, &rowKey, &r.RequestID, &r.Fingerprint, &expires, &storedAt, &r.Status, &headers, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find idempotent answer: %w", err)
	}
	if rowAccount != account || rowKey != key {
		return nil, nil
	}
	r.StoredAt = microsToTime(storedAt)
	r.ExpiresAt = microsToTime(expires)
	if r.Headers, err = decodeHeaders(headers); err != nil {
		return nil, err
	}
	if r.Body == nil {
		r.Body = []byte{}
	}
	return &r, nil
}

// BeginIdempotentRequest implements sentstub.IdempotencyStore. The
// request's first write takes the connection and begins a transaction; the
// connection stays taken, so that nothing else reads what the request wrote
// before it commits, until the request ends. (In a database in memory, a
// first write that updates one webhook does without the transaction: see
// sqliteRequest.early.)
func (s *SQLiteStore) BeginIdempotentRequest(ctx context.Context, accountID uuid.UUID, key, requestID string) (context.Context, sentstub.IdempotentRequest) {
	r := &sqliteRequest{s: s, ctx: context.WithoutCancel(ctx), account: accountID, key: key,
		slot: answerKeyOf(accountID, key), requestID: requestID}
	r.undo = r.undoFirst[:0]
	return context.WithValue(ctx, sqliteRequestKey{}, r), r
}

type sqliteRequestKey struct{}

// sqliteRequest implements sentstub.IdempotentRequest.
type sqliteRequest struct {
	s         *SQLiteStore
	ctx       context.Context
	account   uuid.UUID
	key       string
	slot      answerKey // of (account, key), in claims and answers
	requestID string
	ended     bool
	held      bool // a write took the connection, which the request holds until it ends
	began     bool // the request's transaction has begun
	// undo lists the cached webhooks as they were before the request (nil:
	// absent), once each; it starts in undoFirst (a request changes one
	// webhook or two).
	undo      []undoEntry
	undoFirst [2]undoEntry

	// early is, in a database in memory, the webhook as it was before the
	// request's first write, an update of it alone, which committed on its
	// own: the request holds the connection, so nothing else can read it
	// before the request ends, and a crash, which would leave it without
	// the request's answer, loses the database with it. Ending the request
	// in error writes early back. This spares a keyed toggle the BEGIN and
	// COMMIT of a transaction around its one UPDATE (about a microsecond of
	// the 16 it takes in process). Later writes begin the transaction as
	// usual.
	early *sentstub.Webhook
}

// undoEntry is a cached webhook as it was before a request.
type undoEntry struct {
	id  uuid.UUID
	was *sentstub.Webhook // nil: absent
}

// mayWriteAlone reports whether the request's next write, an update of one
// webhook, may commit on its own (see early).
func (r *sqliteRequest) mayWriteAlone() bool {
	return r.s.kept != nil && !r.began && r.early == nil
}

// wroteAlone records, when r is a request whose transaction has not begun,
// that its write of the webhook old, as it was before, committed on its
// own. r may be nil: a write outside a request.
func (r *sqliteRequest) wroteAlone(old *sentstub.Webhook) {
	if r != nil && !r.began {
		r.early = old
	}
}

// begin begins the request's transaction, unless it has begun.
func (r *sqliteRequest) begin(ctx context.Context) error {
	if r.began {
		return nil
	}
	if _, err := r.s.begin.ExecContext(ctx); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	r.began = true
	return nil
}

// requestOf returns the idempotent request of s that ctx runs, if any.
func (s *SQLiteStore) requestOf(ctx context.Context) *sqliteRequest {
	r, _ := ctx.Value(sqliteRequestKey{}).(*sqliteRequest)
	if r == nil || r.s != s || r.ended {
		return nil
	}
	return r
}

// Complete implements sentstub.IdempotentRequest.
func (r *sqliteRequest) Complete(resp *sentstub.IdempotentResponse) (stored bool, err error) {
	err = r.finish(func() error {
		if !r.holdsClaim() {
			return r.commit()
		}
		ref := answerRef{expires: resp.ExpiresAt.UnixMicro()}
		if r.s.kept != nil {
			// Kept before the commit, so that nothing can fail after it; if
			// the commit fails, the record is not indexed, and leaves the
			// log when it expires.
			pos, err := r.s.keepAnswer(r.account, r.key, resp)
			if err != nil {
				return errors.Join(fmt.Errorf("sqlite: keep idempotent answer: %w", err), r.rollback())
			}
			ref.id = int64(pos)
		} else {
			headers, err := encodeHeaders(resp.Headers)
			if err != nil {
				return errors.Join(err, r.rollback())
			}
			res, err := r.s.storeAnswer.ExecContext(r.ctx, slotOf(r.account, r.key), r.account.String(), r.key, resp.RequestID,
				resp.Fingerprint, resp.ExpiresAt.UnixMicro(), resp.StoredAt.UnixMicro(), resp.Status, headers, resp.Body)
			if err != nil {
				return errors.Join(fmt.Errorf("sqlite: store idempotent answer: %w", err), r.rollback())
			}
			if ref.id, err = res.LastInsertId(); err != nil {
				return errors.Join(fmt.Errorf("sqlite: store idempotent answer: %w", err), r.rollback())
			}
		}
		if err := r.commit(); err != nil {
			return err
		}
		r.s.answers[r.slot] = ref
		stored = true
		return nil
	})
	return stored, err
}

// Release implements sentstub.IdempotentRequest.
func (r *sqliteRequest) Release() error { return r.finish(r.commit) }

// Abort implements sentstub.IdempotentRequest.
func (r *sqliteRequest) Abort() error { return r.finish(r.rollback) }

// finish ends the request with last, holding the connection, then frees
// the request's claim if it still holds it. The wait for the connection,
// when no write took it, is bounded as a call of its own: if it times out,
// the claim is left to expire at its lock timeout.
func (r *sqliteRequest) finish(last func() error) (err error) {
	if r.ended {
		return errors.New("sqlite: idempotent request already ended")
	}
	r.ended = true
	if !r.held { // no write took the connection
		ctx, call := r.s.bound(r.ctx)
		err = r.s.lock(ctx)
		call.end(&err)
		if err != nil {
			return err
		}
	}
	defer r.s.unlock()
	defer r.freeClaim()
	return last()
}

func (r *sqliteRequest) holdsClaim() bool {
	held, ok := r.s.claims[r.slot]
	return ok && held.requestID == r.requestID
}

func (r *sqliteRequest) freeClaim() {
	if r.holdsClaim() {
		delete(r.s.claims, r.slot)
	}
}

// commit commits the request's writes: its transaction, if one began, and
// rolls them back when that fails.
func (r *sqliteRequest) commit() error {
	if !r.held {
		return nil
	}
	if r.began {
		if _, err := r.s.commit.ExecContext(r.ctx); err != nil {
			return errors.Join(fmt.Errorf("sqlite: commit: %w", err), r.rollback())
		}
	}
	r.held, r.began, r.early = false, false, nil
	for _, u := range r.undo { // what the request changed is committed now
		r.s.publish(u.id)
	}
	return nil
}

// rollback undoes the request's writes: it rolls its transaction back, if
// one began, writes back the webhook its first write committed on its own,
// if any, and restores the webhooks it cached.
func (r *sqliteRequest) rollback() error {
	if !r.held {
		return nil
	}
	began, early := r.began, r.early
	r.held, r.began, r.early = false, false, nil
	for _, u := range r.undo {
		if u.was == nil {
			delete(r.s.webhooks, u.id)
		} else {
			r.s.webhooks[u.id] = u.was
		}
	}
	var errs []error
	if began {
		if _, err := r.s.rollback.ExecContext(r.ctx); err != nil {
			errs = append(errs, fmt.Errorf("sqlite: rollback: %w", err))
		}
	}
	if early != nil {
		if err := r.s.overwriteWebhook(r.ctx, early); err != nil {
			errs = append(errs, fmt.Errorf("sqlite: roll back an idempotent request's update of webhook %s: %w", early.ID, err))
		}
	}
	return errors.Join(errs...)
}

// SweepIdempotencyKeys implements sentstub.IdempotencyStore: abandoned
// claims first, then the oldest stored answers, while they are expired.
func (s *SQLiteStore) SweepIdempotencyKeys(ctx context.Context, now time.Time, limit int) (deleted int, err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	err = s.withConn(ctx, func() error {
		for slot, held := range s.claims {
			if deleted == limit {
				return nil
			}
			if !held.lockedUntil.After(now) {
				delete(s.claims, slot)
				deleted++
			}
		}
		if deleted == limit {
			return nil
		}
		if s.kept != nil {
			deleted += s.sweepKept(now, limit-deleted)
			return nil
		}
		rows, err := s.sweepAnswers.QueryContext(ctx, limit-deleted, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: sweep idempotent answers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id      int64
				account uuid.UUID
				key     string
			)
			if err := rows.Scan(&id, &account, &key); err != nil {
				return fmt.Errorf("sqlite: sweep idempotent answers: %w", err)
			}
			if k := answerKeyOf(account, key); s.answers[k].id == id {
				delete(s.answers, k)
			}
			deleted++
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: sweep idempotent answers: %w", err)
		}
		return nil
	})
	return deleted, err
}

// keepAnswer adds the kept answer of (account, key) to the log.
func (s *SQLiteStore) keepAnswer(account uuid.UUID, key string, resp *sentstub.IdempotentResponse) (memlog.Pos, error) {
	s.keptBuf = appendKept(s.keptBuf[:0], account, key, resp)
	pos, err := s.kept.Append(s.keptBuf)
	if cap(s.keptBuf) > maxKeptBuf {
		s.keptBuf = nil
	}
	return pos, err
}

// maxKeptBuf is the largest buffer keepAnswer holds on to between answers.
const maxKeptBuf = 64 << 10

// sweepKept drops up to limit expired answers from the log, oldest first,
// and returns how many. It counts as the table's sweep counts rows: an
// answer that a later answer to the same key replaced in the index still
// counts when it leaves the log. (So does one that a reset dropped, whose
// row would be gone already.)
func (s *SQLiteStore) sweepKept(now time.Time, limit int) (dropped int) {
	for ; dropped < limit; dropped++ {
		pos, rec, ok := s.kept.Oldest()
		if !ok {
			break
		}
		key, expires := keptSlot(rec)
		if expires > now.UnixMicro() {
			break
		}
		if s.answers[key].id == int64(pos) {
			delete(s.answers, key)
		}
		s.kept.DropOldest()
	}
	return dropped
}

// keptOf lists the answers that a database in memory keeps for account,
// as a reset deletes them.
func (s *SQLiteStore) keptOf(account uuid.UUID) []deletedAnswer {
	var kept []deletedAnswer
	for key, ref := range s.answers {
		if keptAccount(s.kept.At(memlog.Pos(ref.id))) == account {
			kept = append(kept, deletedAnswer{id: ref.id, key: key})
		}
	}
	return kept
}
