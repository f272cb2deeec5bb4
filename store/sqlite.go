package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/internal/ctxlock"
	"github.com/sentstub/sentstub/internal/memlog"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

var _ sentstub.Store = (*SQLiteStore)(nil)

// SQLiteStore is the embedded store. It owns its database file: one
// connection in SQLite's exclusive locking mode does every read and write,
// one at a time. SQLite allows a single writer anyway, and with the file
// to itself it skips the shared-memory locking that WAL otherwise does on
// every transaction (system calls that cost more than the transaction),
// never answers SQLITE_BUSY, and makes ":memory:" one database for every
// caller. A second process cannot open the file while the store is open.
//
// Because nothing else can write the file, the store keeps the webhooks it
// has read in memory, written through on every change: a toggle is then
// one UPDATE, and reads need no query at all.
type SQLiteStore struct {
	db      *sql.DB
	conn    *sql.Conn     // the one connection
	connMu  ctxlock.Mutex // held while conn is in use
	timeout time.Duration // of every call, waiting for conn included; see bound

	begin, commit, rollback             *sql.Stmt
	savepoint, releaseSP, rollbackSP    *sql.Stmt
	findWebhook, update                 *sql.Stmt
	updateState                         *sql.Stmt
	insertWebhook, deleteWebhook        *sql.Stmt
	deleteOwnedWebhooks                 *sql.Stmt
	listWebhooks, countWebhooks         *sql.Stmt
	insertDelivery                      *sql.Stmt
	listDeliveries, countDeliveries     *sql.Stmt
	claimDeliveries, findLeasedDelivery *sql.Stmt
	finishDelivery, dropDeliveries      *sql.Stmt
	releaseDelivery                     *sql.Stmt
	findByKey, findAccount              *sql.Stmt
	findAnswer, storeAnswer             *sql.Stmt
	sweepAnswers, deleteAccountAnswers  *sql.Stmt
	stmts                               []*sql.Stmt // all of the above, for Close

	webhooks map[uuid.UUID]*sentstub.Webhook // guarded by connMu; written through
	// published holds the committed entries of webhooks, for FindWebhook to
	// read without the connection: it is written by whoever holds the
	// connection, once what it writes is committed (an idempotent request's
	// entries at its commit), so no reader sees a write that may yet roll
	// back. Its values are never modified.
	published sync.Map                  // uuid.UUID -> *sentstub.Webhook
	claims    map[answerKey]sqliteClaim // guarded by connMu; see sqlite_idempotency.go
	answers   map[answerKey]answerRef   // guarded by connMu; see sqlite_idempotency.go
	// A database in memory keeps its stored answers in kept (nil for a
	// file), encoding each in keptBuf first. Both guarded by connMu.
	kept    *memlog.Log
	keptBuf []byte
}

// OpenSQLite opens (creating if needed) the SQLite database at path, or a
// private in-memory database for ":memory:", and applies the migrations.
// Of opts, only Timeout applies.
func OpenSQLite(ctx context.Context, path string, opts Options) (*SQLiteStore, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("sqlite: negative timeout %v", opts.Timeout)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &SQLiteStore{db: db, timeout: orDefaultTimeout(opts.Timeout), webhooks: map[uuid.UUID]*sentstub.Webhook{},
		claims: map[answerKey]sqliteClaim{}, answers: map[answerKey]answerRef{}}
	if path == ":memory:" {
		s.kept = memlog.New(0)
		// Its sections never wait for a disk: a few microseconds, which
		// a locker is better off yielding for than parking. Under wrk
		// (2 CPUs, 32 connections), a quarter of keyed toggles parked
		// once, and the CPUs idled 10-13% of the time; yielding twice
		// raised keyed toggles from a median of 77% of keyless ones to
		// 83%. A file's commits write the WAL: there, yields mostly
		// failed and toggles were 3-5% slower.
		s.connMu.Yields = 2
	}
	if s.conn, err = db.Conn(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.loadAnswers(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN is the data source name of the database at path: a WAL file
// that this process holds exclusively, with 1 KiB pages (a toggle rewrites
// one page, and a small page is a cheaper WAL frame), or a private
// in-memory database for ":memory:". There is no busy timeout: this
// process's one connection never waits for a lock, and a second process
// that finds the file held fails at once with SQLITE_BUSY, rather than after
// a wait that would end the same way.
func sqliteDSN(path string) string {
	if path == ":memory:" {
		return ":memory:?_foreign_keys=1"
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_busy_timeout=0&_foreign_keys=1&_journal_mode=WAL&_synchronous=NORMAL&_pragma=locking_mode(EXCLUSIVE)&_pragma=page_size(1024)"
}

const sqliteWebhookColumns = `id, owner_id, display_name, endpoint_url, is_active, event_types, event_filters,
	retry_count, timeout_seconds, consecutive_failures, last_delivery_attempt_at,
	last_successful_delivery_at, created_at, updated_at, signing_secret`

// The statements of ListWebhooks. ?1 is the owner, ?2 is_active or NULL,
// ?3 the search as searchText returns it (empty for none), ?4 and ?5 the
// limit and offset. The page carries the total, counted in the same
// statement; an empty page cannot, and the count runs on its own.
const (
	sqliteWebhookMatch = `owner_id = ?1 AND (?2 IS NULL OR is_active = ?2)
		AND (?3 = '' OR instr(lower(display_name), ?3) > 0 OR instr(lower(endpoint_url), ?3) > 0)`
	sqliteListWebhooks = `SELECT ` + sqliteWebhookColumns + `, (SELECT count(*) FROM webhooks WHERE ` + sqliteWebhookMatch + `)
		FROM webhooks WHERE ` + sqliteWebhookMatch + ` ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5`
	sqliteCountWebhooks = `SELECT count(*) FROM webhooks WHERE ` + sqliteWebhookMatch
)

func (s *SQLiteStore) prepare(ctx context.Context) error {
	for _, p := range []struct {
		query string
		stmt  **sql.Stmt
	}{
		{`BEGIN IMMEDIATE`, &s.begin},
		{`COMMIT`, &s.commit},
		{`ROLLBACK`, &s.rollback},
		{`SAVEPOINT atomic`, &s.savepoint},
		{`RELEASE atomic`, &s.releaseSP},
		{`ROLLBACK TO atomic`, &s.rollbackSP},
		{`SELECT ` + sqliteWebhookColumns + ` FROM webhooks WHERE id = ?`, &s.findWebhook},
		{`UPDATE webhooks SET display_name = ?, endpoint_url = ?, is_active = ?, event_types = ?,
			event_filters = ?, retry_count = ?, timeout_seconds = ?, consecutive_failures = ?,
			last_delivery_attempt_at = ?, last_successful_delivery_at = ?, updated_at = ?,
			signing_secret = ? WHERE id = ?`, &s.update},
		{`UPDATE webhooks SET is_active = ?, consecutive_failures = ?, updated_at = ? WHERE id = ?`, &s.updateState},
		{`INSERT INTO webhooks (` + sqliteWebhookColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, &s.insertWebhook},
		{`DELETE FROM webhooks WHERE id = ? AND owner_id = ?`, &s.deleteWebhook},
		{`DELETE FROM webhooks WHERE owner_id = ? RETURNING id`, &s.deleteOwnedWebhooks},
		{sqliteListWebhooks, &s.listWebhooks},
		{sqliteCountWebhooks, &s.countWebhooks},
		{sqliteInsertDelivery, &s.insertDelivery},
		{sqliteListDeliveries, &s.listDeliveries},
		{sqliteCountDeliveries, &s.countDeliveries},
		{sqliteClaimDeliveries, &s.claimDeliveries},
		{sqliteFindLeasedDelivery, &s.findLeasedDelivery},
		{sqliteFinishDelivery, &s.finishDelivery},
		{sqliteDropDeliveries, &s.dropDeliveries},
		{sqliteReleaseDelivery, &s.releaseDelivery},
		{`SELECT a.id, a.organization_id, a.name FROM api_keys k
			JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?`, &s.findByKey},
		{`SELECT id, organization_id, name FROM accounts WHERE id = ?`, &s.findAccount},
		{sqliteFindAnswer, &s.findAnswer},
		{sqliteStoreAnswer, &s.storeAnswer},
		{sqliteSweepAnswers, &s.sweepAnswers},
		{sqliteDeleteAccountAnswers, &s.deleteAccountAnswers},
	} {
		stmt, err := s.conn.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*p.stmt = stmt
		s.stmts = append(s.stmts, stmt)
	}
	return nil
}

func (s *SQLiteStore) unlock() { s.connMu.Unlock() }

// inTx runs fn in a write transaction on the connection. fn must use only
// the connection's prepared statements and must not call other methods of
// s. The transaction is rolled back when fn fails. Inside an idempotent
// request that holds the connection, fn runs in the request's transaction,
// begun if need be.
func (s *SQLiteStore) inTx(ctx context.Context, fn func() error) error {
	if r := s.heldBy(ctx); r != nil {
		if err := r.begin(ctx); err != nil {
			return err
		}
		return fn()
	}
	return s.withConn(ctx, func() error { return s.transact(ctx, fn) })
}

// transact runs fn in a transaction of its own on the connection, which
// the caller holds: committed when fn succeeds, rolled back otherwise.
func (s *SQLiteStore) transact(ctx context.Context, fn func() error) error {
	if _, err := s.begin.ExecContext(ctx); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(); err != nil {
		// Not ctx: a cancelled request must still end its transaction.
		if _, rbErr := s.rollback.ExecContext(context.Background()); rbErr != nil {
			return errors.Join(err, fmt.Errorf("sqlite: rollback: %w", rbErr))
		}
		return err
	}
	if _, err := s.commit.ExecContext(context.Background()); err != nil {
		s.rollback.ExecContext(context.Background())
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// atomic runs fn, holding the connection, as one write of several
// statements that are all kept or none. Outside an idempotent request it
// is a transaction of its own. Inside one, fn runs in the request's
// transaction (begun if this is its first write, as by write) under a
// savepoint: SQLite does not abort a transaction whose statement failed,
// so without it a failure halfway would leave fn's first writes to commit
// with the request. fn must not take the connection itself: it runs the
// connection's statements, directly or through helpers such as
// webhookByID and saveWebhook, and calls none of the store's exported
// methods.
//
// fn returns, when it succeeds, what to apply to the cache (or nil). It
// is applied once fn's writes are kept, before the connection is let go,
// so that nobody reads or writes between the commit and the cache; it
// gets the request, if any, to record what it changes (see cache).
func (s *SQLiteStore) atomic(ctx context.Context, fn func() (done func(r *sqliteRequest), err error)) error {
	if s.requestOf(ctx) == nil {
		return s.withConn(ctx, func() error {
			var done func(*sqliteRequest)
			if err := s.transact(ctx, func() (err error) {
				done, err = fn()
				return err
			}); err != nil {
				return err
			}
			if done != nil {
				done(nil)
			}
			return nil
		})
	}
	return s.write(ctx, func(r *sqliteRequest) error {
		if _, err := s.savepoint.ExecContext(ctx); err != nil {
			return fmt.Errorf("sqlite: savepoint: %w", err)
		}
		done, err := fn()
		if err == nil {
			if _, err = s.releaseSP.ExecContext(context.Background()); err != nil {
				err = fmt.Errorf("sqlite: release savepoint: %w", err)
			}
		}
		if err != nil {
			// ROLLBACK TO keeps the savepoint open; RELEASE then ends it.
			// Not ctx, as in transact.
			if _, rbErr := s.rollbackSP.ExecContext(context.Background()); rbErr != nil {
				return errors.Join(err, fmt.Errorf("sqlite: rollback to savepoint: %w", rbErr))
			}
			if _, relErr := s.releaseSP.ExecContext(context.Background()); relErr != nil {
				return errors.Join(err, fmt.Errorf("sqlite: release savepoint: %w", relErr))
			}
			return err
		}
		if done != nil {
			done(r)
		}
		return nil
	})
}

// withConn runs fn holding the connection. A single statement needs no
// more: it commits on its own, and nothing else runs meanwhile, so a read
// followed by one write is atomic too. Several writes that must commit
// together use inTx. Inside an idempotent request that holds the
// connection, fn runs in the request's transaction, if it has begun; it
// must only read there (a request's writes go through write).
func (s *SQLiteStore) withConn(ctx context.Context, fn func() error) error {
	if s.heldBy(ctx) != nil {
		return fn()
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	return fn()
}

// heldBy returns the idempotent request of s that ctx runs, if it holds
// the connection.
func (s *SQLiteStore) heldBy(ctx context.Context) *sqliteRequest {
	if r := s.requestOf(ctx); r != nil && r.held {
		return r
	}
	return nil
}

// write is withConn for a write. Inside an idempotent request, whose first
// write takes the connection until the request ends, fn runs in the
// request's transaction, begun if need be, and gets the request, to record
// what it changes in the cache.
func (s *SQLiteStore) write(ctx context.Context, fn func(r *sqliteRequest) error) error {
	return s.requestWrite(ctx, false, fn)
}

// requestWrite is write. With alone, fn's only statement is an UPDATE of
// one cached webhook, which it reports to the request (see wroteAlone):
// then, as a request's first write in a database in memory, it is not
// begun a transaction for (see sqliteRequest.early).
func (s *SQLiteStore) requestWrite(ctx context.Context, alone bool, fn func(r *sqliteRequest) error) error {
	r := s.requestOf(ctx)
	if r == nil {
		return s.withConn(ctx, func() error { return fn(nil) })
	}
	if !r.held {
		if err := s.lock(ctx); err != nil {
			return err
		}
		r.held = true
	}
	if !alone || !r.mayWriteAlone() {
		if err := r.begin(ctx); err != nil {
			return err
		}
	}
	return fn(r)
}

// cache writes w through to the cache; w is the cache's from then on. Its
// timestamps are kept as the database keeps them (UTC, microseconds), so
// that a read from the cache answers what a read from the file would.
// Inside an idempotent request r, the entry it replaces is kept, to restore
// on rollback.
func (s *SQLiteStore) cache(r *sqliteRequest, w *sentstub.Webhook) {
	s.keep(r, w.ID)
	w.LastDeliveryAttemptAt = timestampPtr(w.LastDeliveryAttemptAt)
	w.LastSuccessfulDeliveryAt = timestampPtr(w.LastSuccessfulDeliveryAt)
	w.CreatedAt = sentstub.Timestamp(w.CreatedAt)
	w.UpdatedAt = timestampPtr(w.UpdatedAt)
	s.webhooks[w.ID] = w
	if r == nil {
		s.publish(w.ID)
	}
}

// publish makes the cache's entry of id, committed, what FindWebhook reads
// without the connection (or drops it there, when there is none). The
// caller holds the connection.
func (s *SQLiteStore) publish(id uuid.UUID) {
	if w, ok := s.webhooks[id]; ok {
		s.published.Store(id, w)
	} else {
		s.published.Delete(id)
	}
}

// uncache drops the webhook id, deleted, from the cache. Inside an
// idempotent request r, the entry is kept, to restore on rollback.
func (s *SQLiteStore) uncache(r *sqliteRequest, id uuid.UUID) {
	s.keep(r, id)
	delete(s.webhooks, id)
	if r == nil {
		s.published.Delete(id)
	}
}

// keep records, inside an idempotent request r, the cache entry of id as
// it was before r's transaction (nil: absent), once: r's rollback puts
// back what keep recorded. Outside a request it does nothing.
func (s *SQLiteStore) keep(r *sqliteRequest, id uuid.UUID) {
	if r == nil {
		return
	}
	for _, u := range r.undo {
		if u.id == id {
			return
		}
	}
	r.undo = append(r.undo, undoEntry{id, s.webhooks[id]})
}

// timestampPtr returns a new pointer to sentstub.Timestamp(*t), or nil.
func timestampPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := sentstub.Timestamp(*t)
	return &u
}

// migrate applies, in one transaction each, the embedded migrations the
// database has not seen, in file-name order.
func (s *SQLiteStore) migrate(ctx context.Context) error {
	if _, err := s.conn.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY) STRICT`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(sqliteMigrations, "migrations/sqlite/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.migrateOne(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLiteStore) migrateOne(ctx context.Context, name string) error {
	tx, err := s.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(sqliteMigrations, name)
	if err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES (?)`, name); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", name, err)
	}
	return nil
}

// Close closes the database. Statements go first: SQLite will not close a
// connection that has any, and would keep the file locked.
func (s *SQLiteStore) Close() error {
	var errs []error
	for _, stmt := range s.stmts {
		errs = append(errs, stmt.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.kept != nil {
		s.kept.Close()
	}
	return errors.Join(append(errs, s.db.Close())...)
}

// Ping reports whether the database answers a query within the store's
// timeout.
func (s *SQLiteStore) Ping(ctx context.Context) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.withConn(ctx, func() error {
		var one int
		if err := s.conn.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			return fmt.Errorf("sqlite: ping: %w", err)
		}
		return nil
	})
}

// FindAccountByKey implements sentstub.AccountStore.
func (s *SQLiteStore) FindAccountByKey(ctx context.Context, h sentstub.KeyHash) (a *sentstub.Account, err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	err = s.withConn(ctx, func() error {
		a, err = scanAccount(s.findByKey.QueryRowContext(ctx, h[:]))
		return err
	})
	return a, err
}

// FindAccount implements sentstub.AccountStore.
func (s *SQLiteStore) FindAccount(ctx context.Context, id uuid.UUID) (a *sentstub.Account, err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	err = s.withConn(ctx, func() error {
		a, err = scanAccount(s.findAccount.QueryRowContext(ctx, id.String()))
		return err
	})
	return a, err
}

func scanAccount(row *sql.Row) (*sentstub.Account, error) {
	var a sentstub.Account
	var org sql.Null[uuid.UUID]
	if err := row.Scan(&a.ID, &org, &a.Name); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFoundAccount()
		}
		return nil, fmt.Errorf("sqlite: find account: %w", err)
	}
	a.OrganizationID = org.V
	return &a, nil
}

// FindWebhook implements sentstub.WebhookStore. A webhook read before is
// answered from the committed cache without waiting for the connection;
// inside an idempotent request, which must see its own writes, and on a
// miss, it is read holding the connection.
func (s *SQLiteStore) FindWebhook(ctx context.Context, owner, id uuid.UUID) (w *sentstub.Webhook, err error) {
	if s.requestOf(ctx) == nil {
		if v, ok := s.published.Load(id); ok {
			if w = v.(*sentstub.Webhook); w.OwnerID != owner {
				return nil, notFoundWebhook()
			}
			return w.Clone(), nil
		}
	}
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	err = s.withConn(ctx, func() error {
		w, err = s.webhook(ctx, owner, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return w.Clone(), nil
}

// webhook returns the cached webhook id of owner, reading it on a miss.
// The caller holds the connection and must not modify the result.
func (s *SQLiteStore) webhook(ctx context.Context, owner, id uuid.UUID) (*sentstub.Webhook, error) {
	w, err := s.webhookByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if w.OwnerID != owner {
		return nil, notFoundWebhook()
	}
	return w, nil
}

// webhookByID returns the cached webhook id, whoever owns it, reading it
// on a miss. The caller holds the connection and must not modify the
// result. A read inside an idempotent request's transaction may find what
// the request wrote (Provision's rows are not cached as they are written),
// so its entry is dropped again if the request rolls back.
func (s *SQLiteStore) webhookByID(ctx context.Context, id uuid.UUID) (*sentstub.Webhook, error) {
	if w, ok := s.webhooks[id]; ok {
		return w, nil
	}
	w, err := scanSQLiteWebhook(s.findWebhook.QueryRowContext(ctx, id.String()))
	if err != nil {
		return nil, err
	}
	s.webhooks[id] = w
	if r := s.heldBy(ctx); r != nil {
		s.keep(r, id)
	} else {
		s.published.Store(id, w) // no transaction is open: what was read is committed
	}
	return w, nil
}

// UpdateWebhook implements sentstub.WebhookStore. Holding the only
// connection makes the read, update and write one atomic step; the write is
// a single UPDATE, so it needs no explicit transaction of its own.
func (s *SQLiteStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (w *sentstub.Webhook, err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	err = s.requestWrite(ctx, true, func(r *sqliteRequest) error {
		cached, err := s.webhook(ctx, owner, id)
		if err != nil {
			return err
		}
		w = cached.Clone()
		if !update(w) {
			w = cached.Clone()
			return nil
		}
		if err := s.saveWebhook(ctx, cached, w); err != nil {
			return err
		}
		r.wroteAlone(cached)
		s.cache(r, w.Clone())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// CreateWebhook implements sentstub.WebhookStore.
func (s *SQLiteStore) CreateWebhook(ctx context.Context, w *sentstub.Webhook) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.createWebhookWithin(ctx, w)
}

func (s *SQLiteStore) createWebhookWithin(ctx context.Context, w *sentstub.Webhook) error {
	args, err := sqliteWebhookArgs(w)
	if err != nil {
		return err
	}
	return s.write(ctx, func(r *sqliteRequest) error {
		if _, err := s.insertWebhook.ExecContext(ctx, args...); err != nil {
			if sqliteIsCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
				return notFoundAccount()
			}
			return fmt.Errorf("sqlite: create webhook: %w", err)
		}
		s.cache(r, w.Clone())
		return nil
	})
}

// DeleteWebhook implements sentstub.WebhookStore. The delivery log goes
// with the webhook, by the foreign key's ON DELETE CASCADE, in the same
// statement.
func (s *SQLiteStore) DeleteWebhook(ctx context.Context, owner, id uuid.UUID) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.deleteWebhookWithin(ctx, owner, id)
}

func (s *SQLiteStore) deleteWebhookWithin(ctx context.Context, owner, id uuid.UUID) error {
	return s.write(ctx, func(r *sqliteRequest) error {
		res, err := s.deleteWebhook.ExecContext(ctx, id.String(), owner.String())
		if err != nil {
			return fmt.Errorf("sqlite: delete webhook: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: delete webhook: %w", err)
		}
		if n == 0 {
			return notFoundWebhook()
		}
		s.uncache(r, id)
		return nil
	})
}

// ListWebhooks implements sentstub.WebhookStore. It reads the file, not
// the cache, which holds only the webhooks read so far; what it returns is
// the caller's.
func (s *SQLiteStore) ListWebhooks(ctx context.Context, owner uuid.UUID, f sentstub.WebhookFilter) (page []*sentstub.Webhook, total int, err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.listWebhooksWithin(ctx, owner, f)
}

func (s *SQLiteStore) listWebhooksWithin(ctx context.Context, owner uuid.UUID, f sentstub.WebhookFilter) (page []*sentstub.Webhook, total int, err error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	page = []*sentstub.Webhook{}
	search, ok := searchText(f.Search)
	if !ok {
		return page, 0, nil
	}
	err = s.withConn(ctx, func() (err error) {
		page, total, err = sqlitePage(ctx, "webhooks", s.listWebhooks, s.countWebhooks, f.Offset, f.Limit, scanSQLiteWebhook,
			owner.String(), f.IsActive, search)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return page, total, nil
}

// sqlitePage reads a page with list and, past the first page when it is
// empty, the total with count: list takes args then limit and offset, and
// each of its rows carries the total after the columns scan reads; count
// takes args. The caller holds the connection; what is names the rows in
// errors.
func sqlitePage[T any](ctx context.Context, what string, list, count *sql.Stmt, offset, limit int,
	scan func(row scanner, extra ...any) (T, error), args ...any) (page []T, total int, err error) {
	page = []T{}
	rows, err := list.QueryContext(ctx, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: list %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		item, err := scan(rows, &total)
		if err != nil {
			return nil, 0, err
		}
		page = append(page, item)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: list %s: %w", what, err)
	}
	if len(page) > 0 || offset == 0 {
		return page, total, nil
	}
	if err := count.QueryRowContext(ctx, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: count %s: %w", what, err)
	}
	return page, total, nil
}

// saveWebhook writes w over old. A change of state alone (a toggle) writes
// only the state columns, sparing the encoding of the rest.
func (s *SQLiteStore) saveWebhook(ctx context.Context, old, w *sentstub.Webhook) error {
	if sameSettings(old, w) {
		if _, err := s.updateState.ExecContext(ctx, w.IsActive, w.ConsecutiveFailures,
			nullableMicros(w.UpdatedAt), w.ID.String()); err != nil {
			return fmt.Errorf("sqlite: update webhook: %w", err)
		}
		return nil
	}
	return s.overwriteWebhook(ctx, w)
}

// overwriteWebhook writes every column of w that can change.
func (s *SQLiteStore) overwriteWebhook(ctx context.Context, w *sentstub.Webhook) error {
	types, err := encodeEventTypes(w.EventTypes)
	if err != nil {
		return err
	}
	filters, err := encodeEventFilters(w.EventFilters)
	if err != nil {
		return err
	}
	if _, err := s.update.ExecContext(ctx, w.DisplayName, w.EndpointURL, w.IsActive, types,
		filters, w.RetryCount, w.TimeoutSeconds, w.ConsecutiveFailures,
		nullableMicros(w.LastDeliveryAttemptAt), nullableMicros(w.LastSuccessfulDeliveryAt),
		nullableMicros(w.UpdatedAt), w.SigningSecret, w.ID.String()); err != nil {
		return fmt.Errorf("sqlite: update webhook: %w", err)
	}
	return nil
}

// sameSettings reports whether a and b differ at most in is_active,
// consecutive_failures and updated_at.
func sameSettings(a, b *sentstub.Webhook) bool {
	return a.ID == b.ID && a.OwnerID == b.OwnerID && a.DisplayName == b.DisplayName && a.SigningSecret == b.SigningSecret &&
		a.EndpointURL == b.EndpointURL && a.RetryCount == b.RetryCount && a.TimeoutSeconds == b.TimeoutSeconds &&
		a.CreatedAt.Equal(b.CreatedAt) && slices.Equal(a.EventTypes, b.EventTypes) &&
		(a.EventFilters == nil) == (b.EventFilters == nil) && maps.EqualFunc(a.EventFilters, b.EventFilters, slices.Equal[[]string]) &&
		sameTime(a.LastDeliveryAttemptAt, b.LastDeliveryAttemptAt) && sameTime(a.LastSuccessfulDeliveryAt, b.LastSuccessfulDeliveryAt)
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanSQLiteWebhook scans the sqliteWebhookColumns of row, and then into
// extra whatever columns follow them.
func scanSQLiteWebhook(row scanner, extra ...any) (*sentstub.Webhook, error) {
	var (
		w                        sentstub.Webhook
		types                    string
		filters                  *string
		lastAttempt, lastSuccess *int64
		created                  int64
		updated                  *int64
	)
	err := row.Scan(append([]any{&w.ID, &w.OwnerID, &w.DisplayName, &w.EndpointURL, &w.IsActive, &types, &filters,
		&w.RetryCount, &w.TimeoutSeconds, &w.ConsecutiveFailures, &lastAttempt, &lastSuccess, &created, &updated,
		&w.SigningSecret}, extra...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFoundWebhook()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find webhook: %w", err)
	}
	if w.EventTypes, err = decodeEventTypes(types); err != nil {
		return nil, err
	}
	if w.EventFilters, err = decodeEventFilters(filters); err != nil {
		return nil, err
	}
	w.LastDeliveryAttemptAt = nullableTime(lastAttempt)
	w.LastSuccessfulDeliveryAt = nullableTime(lastSuccess)
	w.CreatedAt = microsToTime(created)
	w.UpdatedAt = nullableTime(updated)
	return &w, nil
}

// Provision implements sentstub.Store.
func (s *SQLiteStore) Provision(ctx context.Context, p *sentstub.Provision) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.inTx(ctx, func() error { return s.provision(ctx, p) })
}

func (s *SQLiteStore) provision(ctx context.Context, p *sentstub.Provision) error {
	tx := s.conn
	for _, a := range p.Accounts {
		var org *string
		if a.IsProfile() {
			id := a.OrganizationID.String()
			org = &id
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, organization_id, name) VALUES (?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, a.ID.String(), org, a.Name); err != nil {
			return sqliteProvisionError(fmt.Sprintf("account %s", a.ID), err)
		}
		for _, k := range a.Keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (key_hash, account_id) VALUES (?, ?)
				ON CONFLICT (key_hash) DO NOTHING`, k.Hash[:], a.ID.String()); err != nil {
				return sqliteProvisionError(k.Label, err)
			}
			var owner uuid.UUID
			if err := tx.QueryRowContext(ctx, `SELECT account_id FROM api_keys WHERE key_hash = ?`, k.Hash[:]).Scan(&owner); err != nil {
				return fmt.Errorf("sqlite: provision %s: %w", k.Label, err)
			}
			if owner != a.ID {
				return sentstub.Errorf(sentstub.EINVALID, "%s already belongs to another account", k.Label)
			}
		}
	}
	for i := range p.Webhooks {
		w := &p.Webhooks[i]
		args, err := sqliteWebhookArgs(w)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhooks (`+sqliteWebhookColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, args...); err != nil {
			return sqliteProvisionError(fmt.Sprintf("webhook %s", w.ID), err)
		}
	}
	return nil
}

// ResetAccount implements sentstub.Store. The webhooks' deliveries go with
// them, by the foreign key's ON DELETE CASCADE. The deleted webhooks leave
// the cache; the inserted ones are read into it when first used, as
// Provision's are. The account's stored answers leave the table and, once
// committed, the in-memory index (a database in memory keeps them only
// there); claims in flight are left alone. (Inside
// an idempotent request, which a reset is not meant to run in, the index
// is left as it is: an entry whose row is gone finds no answer, and the
// rows come back if the request rolls back.)
//
// idempotency_answers has no index on account_id (see its migration), so
// the delete scans the table: a reset is rare, and storing an answer, which
// is not, stays an append.
func (s *SQLiteStore) ResetAccount(ctx context.Context, account uuid.UUID, webhooks []sentstub.Webhook) (err error) {
	ctx, call := s.bound(ctx)
	defer call.end(&err)
	return s.resetAccountWithin(ctx, account, webhooks)
}

func (s *SQLiteStore) resetAccountWithin(ctx context.Context, account uuid.UUID, webhooks []sentstub.Webhook) error {
	args, err := resetArgs(account, webhooks, sqliteWebhookArgs)
	if err != nil {
		return err
	}
	return s.atomic(ctx, func() (func(*sqliteRequest), error) {
		deleted, err := s.resetAccount(ctx, account, webhooks, args)
		if err != nil {
			return nil, err
		}
		return func(r *sqliteRequest) {
			for _, id := range deleted.webhooks {
				s.uncache(r, id)
			}
			if r != nil {
				return
			}
			for _, a := range deleted.answers {
				if s.answers[a.key].id == a.id {
					delete(s.answers, a.key)
				}
			}
		}, nil
	})
}

// resetDeleted is what a reset deleted.
// deletedAnswer is a stored answer a reset deleted: its row and its index key.
type deletedAnswer struct {
	id  int64
	key answerKey
}

type resetDeleted struct {
	webhooks []uuid.UUID
	answers  []deletedAnswer
}

func (s *SQLiteStore) resetAccount(ctx context.Context, account uuid.UUID, webhooks []sentstub.Webhook, args [][]any) (deleted resetDeleted, err error) {
	rows, err := s.deleteOwnedWebhooks.QueryContext(ctx, account.String())
	if err != nil {
		return deleted, fmt.Errorf("sqlite: reset account: delete webhooks: %w", err)
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return deleted, fmt.Errorf("sqlite: reset account: delete webhooks: %w", err)
		}
		deleted.webhooks = append(deleted.webhooks, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return deleted, fmt.Errorf("sqlite: reset account: delete webhooks: %w", err)
	}
	for i := range webhooks {
		if _, err := s.insertWebhook.ExecContext(ctx, args[i]...); err != nil {
			return deleted, sqliteProvisionError(fmt.Sprintf("webhook %s", webhooks[i].ID), err)
		}
	}
	if rows, err = s.deleteAccountAnswers.QueryContext(ctx, account.String()); err != nil {
		return deleted, fmt.Errorf("sqlite: reset account: delete idempotent answers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id    int64
			owner uuid.UUID
			key   string
		)
		if err := rows.Scan(&id, &owner, &key); err != nil {
			return deleted, fmt.Errorf("sqlite: reset account: delete idempotent answers: %w", err)
		}
		deleted.answers = append(deleted.answers, deletedAnswer{id: id, key: answerKeyOf(owner, key)})
	}
	if err := rows.Err(); err != nil {
		return deleted, fmt.Errorf("sqlite: reset account: delete idempotent answers: %w", err)
	}
	if s.kept != nil {
		deleted.answers = append(deleted.answers, s.keptOf(account)...)
	}
	return deleted, nil
}

// sqliteWebhookArgs returns the values of sqliteWebhookColumns for w.
func sqliteWebhookArgs(w *sentstub.Webhook) ([]any, error) {
	types, err := encodeEventTypes(w.EventTypes)
	if err != nil {
		return nil, err
	}
	filters, err := encodeEventFilters(w.EventFilters)
	if err != nil {
		return nil, err
	}
	return []any{w.ID.String(), w.OwnerID.String(), w.DisplayName, w.EndpointURL, w.IsActive, types, filters,
		w.RetryCount, w.TimeoutSeconds, w.ConsecutiveFailures, nullableMicros(w.LastDeliveryAttemptAt),
		nullableMicros(w.LastSuccessfulDeliveryAt), w.CreatedAt.UnixMicro(), nullableMicros(w.UpdatedAt),
		w.SigningSecret}, nil
}

// sqliteIsCode reports whether err is SQLite's error with the extended
// result code code.
func sqliteIsCode(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// sqliteProvisionError reports a constraint violation as EINVALID naming the
// entry; anything else is an internal error.
func sqliteProvisionError(entry string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		reason := "violates a constraint"
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			reason = "refers to an account that does not exist"
		case sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			reason = "lacks a required value"
		}
		return sentstub.Errorf(sentstub.EINVALID, "%s %s", entry, reason)
	}
	return fmt.Errorf("sqlite: provision %s: %w", entry, err)
}
