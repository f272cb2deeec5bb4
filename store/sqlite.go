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
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sentstub/sentstub"
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
	sem     chan struct{} // held while conn is in use; a channel so waiting honours ctx
	timeout time.Duration // of every call, waiting for conn included; see bound

	begin, commit, rollback *sql.Stmt
	findWebhook, update     *sql.Stmt
	updateState             *sql.Stmt
	findByKey, findAccount  *sql.Stmt
	findAnswer, storeAnswer *sql.Stmt
	sweepAnswers            *sql.Stmt
	stmts                   []*sql.Stmt // all of the above, for Close

	webhooks map[uuid.UUID]*sentstub.Webhook // guarded by sem; written through
	claims   map[claimSlot]sqliteClaim       // guarded by sem; see sqlite_idempotency.go
	answers  map[answerKey]answerRef         // guarded by sem; see sqlite_idempotency.go
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
	s := &SQLiteStore{db: db, sem: make(chan struct{}, 1), timeout: orDefaultTimeout(opts.Timeout), webhooks: map[uuid.UUID]*sentstub.Webhook{},
		claims: map[claimSlot]sqliteClaim{}, answers: map[answerKey]answerRef{}}
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
// in-memory database for ":memory:".
func sqliteDSN(path string) string {
	if path == ":memory:" {
		return ":memory:?_foreign_keys=1"
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_busy_timeout=5000&_foreign_keys=1&_journal_mode=WAL&_synchronous=NORMAL&_pragma=locking_mode(EXCLUSIVE)&_pragma=page_size(1024)"
}

const sqliteWebhookColumns = `id, owner_id, display_name, endpoint_url, is_active, event_types, event_filters,
	retry_count, timeout_seconds, consecutive_failures, last_delivery_attempt_at,
	last_successful_delivery_at, created_at, updated_at`

func (s *SQLiteStore) prepare(ctx context.Context) error {
	for _, p := range []struct {
		query string
		stmt  **sql.Stmt
	}{
		{`BEGIN IMMEDIATE`, &s.begin},
		{`COMMIT`, &s.commit},
		{`ROLLBACK`, &s.rollback},
		{`SELECT ` + sqliteWebhookColumns + ` FROM webhooks WHERE id = ? AND owner_id = ?`, &s.findWebhook},
		{`UPDATE webhooks SET display_name = ?, endpoint_url = ?, is_active = ?, event_types = ?,
			event_filters = ?, retry_count = ?, timeout_seconds = ?, consecutive_failures = ?,
			last_delivery_attempt_at = ?, last_successful_delivery_at = ?, updated_at = ?
			WHERE id = ?`, &s.update},
		{`UPDATE webhooks SET is_active = ?, consecutive_failures = ?, updated_at = ? WHERE id = ?`, &s.updateState},
		{`SELECT a.id, a.organization_id, a.name FROM api_keys k
			JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?`, &s.findByKey},
		{`SELECT id, organization_id, name FROM accounts WHERE id = ?`, &s.findAccount},
		{sqliteFindAnswer, &s.findAnswer},
		{sqliteStoreAnswer, &s.storeAnswer},
		{sqliteSweepAnswers, &s.sweepAnswers},
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

// lock takes the connection, waiting no longer than ctx allows.
func (s *SQLiteStore) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *SQLiteStore) unlock() { <-s.sem }

// inTx runs fn in a write transaction on the connection. fn must use only
// the connection's prepared statements and must not call other methods of
// s. The transaction is rolled back when fn fails. Inside an idempotent
// request that holds the connection, fn runs in the request's transaction.
func (s *SQLiteStore) inTx(ctx context.Context, fn func() error) error {
	if s.inRequestTx(ctx) {
		return fn()
	}
	return s.withConn(ctx, func() error {
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
	})
}

// withConn runs fn holding the connection. A single statement needs no
// more: it commits on its own, and nothing else runs meanwhile, so a read
// followed by one write is atomic too. Several writes that must commit
// together use inTx. Inside an idempotent request that holds the
// connection, fn runs in the request's transaction.
func (s *SQLiteStore) withConn(ctx context.Context, fn func() error) error {
	if s.inRequestTx(ctx) {
		return fn()
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	return fn()
}

// inRequestTx reports whether ctx runs an idempotent request of s whose
// transaction holds the connection.
func (s *SQLiteStore) inRequestTx(ctx context.Context) bool {
	r := s.requestOf(ctx)
	return r != nil && r.inTx
}

// write is withConn for a write. Inside an idempotent request, fn runs in
// the request's transaction, begun if this is its first write, and gets the
// request, to record what it changes in the cache.
func (s *SQLiteStore) write(ctx context.Context, fn func(r *sqliteRequest) error) error {
	r := s.requestOf(ctx)
	if r == nil {
		return s.withConn(ctx, func() error { return fn(nil) })
	}
	if !r.inTx {
		if err := s.lock(ctx); err != nil {
			return err
		}
		if _, err := s.begin.ExecContext(ctx); err != nil {
			s.unlock()
			return fmt.Errorf("sqlite: begin: %w", err)
		}
		r.inTx = true
	}
	return fn(r)
}

// cache writes w through to the cache. Inside an idempotent request r, the
// entry it replaces is kept, to restore on rollback.
func (s *SQLiteStore) cache(r *sqliteRequest, w *sentstub.Webhook) {
	if r != nil {
		if _, kept := r.undo[w.ID]; !kept {
			if r.undo == nil {
				r.undo = map[uuid.UUID]*sentstub.Webhook{}
			}
			r.undo[w.ID] = s.webhooks[w.ID]
		}
	}
	s.webhooks[w.ID] = w
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
	return errors.Join(append(errs, s.db.Close())...)
}

// Ping reports whether the database answers a query within the store's
// timeout.
func (s *SQLiteStore) Ping(ctx context.Context) (err error) {
	ctx, call := bound(ctx, s.timeout)
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
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	err = s.withConn(ctx, func() error {
		a, err = scanAccount(s.findByKey.QueryRowContext(ctx, h[:]))
		return err
	})
	return a, err
}

// FindAccount implements sentstub.AccountStore.
func (s *SQLiteStore) FindAccount(ctx context.Context, id uuid.UUID) (a *sentstub.Account, err error) {
	ctx, call := bound(ctx, s.timeout)
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
			return nil, &sentstub.Error{Code: sentstub.ENOTFOUND, Message: "Account not found"}
		}
		return nil, fmt.Errorf("sqlite: find account: %w", err)
	}
	a.OrganizationID = org.V
	return &a, nil
}

// FindWebhook implements sentstub.WebhookStore.
func (s *SQLiteStore) FindWebhook(ctx context.Context, owner, id uuid.UUID) (w *sentstub.Webhook, err error) {
	ctx, call := bound(ctx, s.timeout)
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
	w, ok := s.webhooks[id]
	if !ok {
		var err error
		if w, err = scanSQLiteWebhook(s.findWebhook.QueryRowContext(ctx, id.String(), owner.String())); err != nil {
			return nil, err
		}
		s.webhooks[id] = w
	}
	if w.OwnerID != owner {
		return nil, notFoundWebhook()
	}
	return w, nil
}

// UpdateWebhook implements sentstub.WebhookStore. Holding the only
// connection makes the read, update and write one atomic step; the write is
// a single UPDATE, so it needs no explicit transaction of its own.
func (s *SQLiteStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (w *sentstub.Webhook, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	err = s.write(ctx, func(r *sqliteRequest) error {
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
		s.cache(r, w.Clone())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
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
		nullableMicros(w.UpdatedAt), w.ID.String()); err != nil {
		return fmt.Errorf("sqlite: update webhook: %w", err)
	}
	return nil
}

// sameSettings reports whether a and b differ at most in is_active,
// consecutive_failures and updated_at.
func sameSettings(a, b *sentstub.Webhook) bool {
	return a.ID == b.ID && a.OwnerID == b.OwnerID && a.DisplayName == b.DisplayName &&
		a.EndpointURL == b.EndpointURL && a.RetryCount == b.RetryCount && a.TimeoutSeconds == b.TimeoutSeconds &&
		a.CreatedAt.Equal(b.CreatedAt) && slices.Equal(a.EventTypes, b.EventTypes) &&
		(a.EventFilters == nil) == (b.EventFilters == nil) && maps.EqualFunc(a.EventFilters, b.EventFilters, slices.Equal[[]string]) &&
		sameTime(a.LastDeliveryAttemptAt, b.LastDeliveryAttemptAt) && sameTime(a.LastSuccessfulDeliveryAt, b.LastSuccessfulDeliveryAt)
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

func scanSQLiteWebhook(row *sql.Row) (*sentstub.Webhook, error) {
	var (
		w                        sentstub.Webhook
		types                    string
		filters                  *string
		lastAttempt, lastSuccess *int64
		created                  int64
		updated                  *int64
	)
	err := row.Scan(&w.ID, &w.OwnerID, &w.DisplayName, &w.EndpointURL, &w.IsActive, &types, &filters,
		&w.RetryCount, &w.TimeoutSeconds, &w.ConsecutiveFailures, &lastAttempt, &lastSuccess, &created, &updated)
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
	ctx, call := bound(ctx, s.timeout)
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
		types, err := encodeEventTypes(w.EventTypes)
		if err != nil {
			return err
		}
		filters, err := encodeEventFilters(w.EventFilters)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhooks (`+sqliteWebhookColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			w.ID.String(), w.OwnerID.String(), w.DisplayName, w.EndpointURL, w.IsActive, types, filters,
			w.RetryCount, w.TimeoutSeconds, w.ConsecutiveFailures, nullableMicros(w.LastDeliveryAttemptAt),
			nullableMicros(w.LastSuccessfulDeliveryAt), w.CreatedAt.UnixMicro(), nullableMicros(w.UpdatedAt)); err != nil {
			return sqliteProvisionError(fmt.Sprintf("webhook %s", w.ID), err)
		}
	}
	return nil
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
