package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sentstub/sentstub"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

var _ sentstub.Store = (*SQLiteStore)(nil)

// SQLiteStore is the embedded store. All writes go through one connection,
// so SQLite never sees two writers and never answers SQLITE_BUSY inside the
// process; reads use a pool of read-only connections over WAL. An in-memory
// database has a single connection for both, so that every query sees the
// same database.
type SQLiteStore struct {
	write *sql.DB
	read  *sql.DB

	findWebhookW *sql.Stmt // on write: the read half of a read-modify-write
	updateW      *sql.Stmt
	findWebhookR *sql.Stmt
	findByKeyR   *sql.Stmt
}

var memoryDBs atomic.Int64

// OpenSQLite opens (creating if needed) the SQLite database at path, or a
// private in-memory database for ":memory:", and applies the migrations.
func OpenSQLite(ctx context.Context, path string) (*SQLiteStore, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	const pragmas = "_busy_timeout=10000&_foreign_keys=1&_synchronous=NORMAL"
	s := &SQLiteStore{}
	var err error
	if path == ":memory:" {
		// One connection: each new connection to ":memory:" would be a new,
		// empty database. The name keeps stores in one process apart.
		dsn := fmt.Sprintf("file:sentstub-%d?mode=memory&%s&_txlock=immediate", memoryDBs.Add(1), pragmas)
		if s.write, err = sql.Open("sqlite", dsn); err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		s.write.SetMaxOpenConns(1)
		s.read = s.write
	} else {
		file := "file:" + (&url.URL{Path: path}).EscapedPath()
		if s.write, err = sql.Open("sqlite", file+"?_journal_mode=WAL&_txlock=immediate&"+pragmas); err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		s.write.SetMaxOpenConns(1)
		// The write connection sets WAL first, so that the readers open an
		// existing WAL database.
		if err := s.write.PingContext(ctx); err != nil {
			s.write.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		if s.read, err = sql.Open("sqlite", file+"?_query_only=1&"+pragmas); err != nil {
			s.write.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		s.read.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	}
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

const sqliteWebhookColumns = `id, owner_id, display_name, endpoint_url, is_active, event_types, event_filters,
	retry_count, timeout_seconds, consecutive_failures, last_delivery_attempt_at,
	last_successful_delivery_at, created_at, updated_at`

func (s *SQLiteStore) prepare(ctx context.Context) error {
	const findWebhook = `SELECT ` + sqliteWebhookColumns + ` FROM webhooks WHERE id = ? AND owner_id = ?`
	for _, p := range []struct {
		db    *sql.DB
		query string
		stmt  **sql.Stmt
	}{
		{s.write, findWebhook, &s.findWebhookW},
		{s.write, `UPDATE webhooks SET display_name = ?, endpoint_url = ?, is_active = ?, event_types = ?,
			event_filters = ?, retry_count = ?, timeout_seconds = ?, consecutive_failures = ?,
			last_delivery_attempt_at = ?, last_successful_delivery_at = ?, updated_at = ?
			WHERE id = ?`, &s.updateW},
		{s.read, findWebhook, &s.findWebhookR},
		{s.read, `SELECT a.id, a.organization_id, a.name FROM api_keys k
			JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?`, &s.findByKeyR},
	} {
		stmt, err := p.db.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*p.stmt = stmt
	}
	return nil
}

// migrate applies, in one transaction each, the embedded migrations the
// database has not seen, in file-name order.
func (s *SQLiteStore) migrate(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx,
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
	tx, err := s.write.BeginTx(ctx, nil)
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

// Close closes the database.
func (s *SQLiteStore) Close() error {
	var errs []error
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	if s.read != nil && s.read != s.write {
		errs = append(errs, s.read.Close())
	}
	return errors.Join(errs...)
}

// Ping reports whether both connection pools answer a query.
func (s *SQLiteStore) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.write, s.read} {
		var one int
		if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			return fmt.Errorf("sqlite: ping: %w", err)
		}
	}
	return nil
}

// FindAccountByKey implements sentstub.AccountStore.
func (s *SQLiteStore) FindAccountByKey(ctx context.Context, h sentstub.KeyHash) (*sentstub.Account, error) {
	return scanAccount(s.findByKeyR.QueryRowContext(ctx, h[:]))
}

// FindAccount implements sentstub.AccountStore.
func (s *SQLiteStore) FindAccount(ctx context.Context, id uuid.UUID) (*sentstub.Account, error) {
	return scanAccount(s.read.QueryRowContext(ctx,
		`SELECT id, organization_id, name FROM accounts WHERE id = ?`, id.String()))
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
func (s *SQLiteStore) FindWebhook(ctx context.Context, owner, id uuid.UUID) (*sentstub.Webhook, error) {
	return scanSQLiteWebhook(s.findWebhookR.QueryRowContext(ctx, id.String(), owner.String()))
}

// UpdateWebhook implements sentstub.WebhookStore. The transaction begins
// IMMEDIATE, taking SQLite's write lock before the read, so that no other
// process can change the row between the read and the write.
func (s *SQLiteStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (*sentstub.Webhook, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: update webhook: %w", err)
	}
	defer tx.Rollback()
	w, err := scanSQLiteWebhook(tx.StmtContext(ctx, s.findWebhookW).QueryRowContext(ctx, id.String(), owner.String()))
	if err != nil {
		return nil, err
	}
	if !update(w) {
		return w, nil
	}
	types, err := encodeEventTypes(w.EventTypes)
	if err != nil {
		return nil, err
	}
	filters, err := encodeEventFilters(w.EventFilters)
	if err != nil {
		return nil, err
	}
	if _, err := tx.StmtContext(ctx, s.updateW).ExecContext(ctx, w.DisplayName, w.EndpointURL, w.IsActive, types,
		filters, w.RetryCount, w.TimeoutSeconds, w.ConsecutiveFailures,
		nullableMicros(w.LastDeliveryAttemptAt), nullableMicros(w.LastSuccessfulDeliveryAt),
		nullableMicros(w.UpdatedAt), id.String()); err != nil {
		return nil, fmt.Errorf("sqlite: update webhook: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: update webhook: %w", err)
	}
	return w, nil
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
func (s *SQLiteStore) Provision(ctx context.Context, p *sentstub.Provision) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: provision: %w", err)
	}
	defer tx.Rollback()
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
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: provision: %w", err)
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
	return fmt.Errorf("sqlite: provision %s: %w", strings.TrimSpace(entry), err)
}
