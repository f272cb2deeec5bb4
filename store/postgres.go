package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sentstub/sentstub"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

var _ sentstub.Store = (*PostgresStore)(nil)

// Advisory lock keys, fixed so that every replica takes the same lock.
const (
	// postgresMigrateLock is held, as a session lock, by the replica applying
	// migrations ("sentstub" in ASCII).
	postgresMigrateLock int64 = 0x73656e7473747562
	// postgresProvisionLock is held, as a transaction lock, by a Provision:
	// replicas loading fixtures at once take turns instead of deadlocking
	// on each other's uncommitted rows.
	postgresProvisionLock int64 = postgresMigrateLock + 1
)

// TCP keepalive on every connection: a peer that vanishes (a network path
// that black-holes, a machine that died) is noticed within about 30 s even
// on a connection at rest, which the pool then drops.
var postgresKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

// PostgresStore is the shared store: any number of sentstub processes may
// use one PostgreSQL database at once, and see each other's writes at once.
// It keeps the same data as SQLiteStore with the same semantics: updates of
// a webhook lock its row for their read-modify-write, idempotency keys are
// claimed with one atomic upsert, and times are microsecond-precision UTC.
type PostgresStore struct {
	pool    *pgxpool.Pool
	timeout time.Duration // of every call; see bound
}

// OpenPostgres connects to the PostgreSQL database at url (a postgres:// or
// postgresql:// URL, or a key=value connection string) and applies the
// migrations it has not seen. Replicas that open one database at once are
// safe: they apply migrations one at a time, under an advisory lock.
func OpenPostgres(ctx context.Context, url string, opts Options) (*PostgresStore, error) {
	if opts.Timeout < 0 || opts.MaxConns < 0 || opts.ConnectTimeout < 0 || opts.StatementTimeout < 0 {
		return nil, fmt.Errorf("postgres: negative option in %+v", opts)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err) // pgx redacts the password
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	if opts.StatementTimeout > 0 {
		ms := max(opts.StatementTimeout.Milliseconds(), 1) // 0 would mean none
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(ms, 10)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "sentstub"
	}
	cfg.ConnConfig.DialFunc = (&net.Dialer{KeepAliveConfig: postgresKeepAlive}).DialContext
	cfg.ConnConfig.Tracer = opts.tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &PostgresStore{pool: pool, timeout: orDefaultTimeout(opts.Timeout)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// migrate applies, in one transaction each and in file-name order, the
// embedded migrations the database has not seen. It holds an advisory lock
// meanwhile, so that replicas starting together apply each file once.
func (s *PostgresStore) migrate(ctx context.Context) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, postgresMigrateLock); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	defer func() {
		end, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		if _, unlockErr := conn.Exec(end, `SELECT pg_advisory_unlock($1)`, postgresMigrateLock); unlockErr != nil {
			// The session would keep the lock: end it rather than pool it.
			conn.Conn().Close(end)
			err = errors.Join(err, fmt.Errorf("postgres: migrate: unlock: %w", unlockErr))
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY)`); err != nil {
		return fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(postgresMigrations, "migrations/postgres/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := migratePostgresOne(ctx, conn.Conn(), name); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
	}
	return nil
}

func migratePostgresOne(ctx context.Context, conn *pgx.Conn, name string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var seen bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&seen); err != nil {
			return err
		}
		if seen {
			return nil
		}
		body, err := fs.ReadFile(postgresMigrations, name)
		if err != nil {
			return err
		}
		// Without arguments pgx sends the simple protocol, which runs every
		// statement of the file.
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
		return err
	})
}

// Close closes every connection of the pool, waiting for those in use to
// be returned.
func (s *PostgresStore) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers a query within ctx and the
// store's timeout.
func (s *PostgresStore) Ping(ctx context.Context) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction, which is committed when fn succeeds and
// rolled back otherwise (a panic included). Inside an idempotent request,
// fn runs in the request's transaction, begun if needed, which ends with
// the request.
func (s *PostgresStore) inTx(ctx context.Context, fn func(tx pgx.Tx) error) (err error) {
	if r := s.requestOf(ctx); r != nil {
		if r.tx == nil {
			if r.tx, err = s.begin(ctx); err != nil {
				return fmt.Errorf("postgres: begin: %w", err)
			}
		}
		return fn(r.tx)
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// Not ctx, but its deadline: a cancelled request must still end its
	// transaction, and no later than the call.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.timeout)
	}
	end, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	defer func() {
		if rbErr := tx.Rollback(end); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
			err = errors.Join(err, fmt.Errorf("postgres: rollback: %w", rbErr))
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(end); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// begin begins a transaction that the database refuses to commit once
// ctx's deadline is near, so that a call that fails for want of time leaves
// no effect even when its COMMIT reached a server that then hung, and is
// carried out when the server resumes. Its BEGIN sets the transaction's
// sentstub.commit_deadline, on the server's own clock (so that the two
// machines' clocks need not agree), which the commit guard of
// 0004_commit_guard.sql checks as the transaction commits. The guard falls
// a tenth of the time left before the deadline, to leave the commit's
// answer the time to arrive. What remains is a commit that the server
// makes just before the guard and whose answer is then lost: the client is
// told 504, and the request took effect.
func (s *PostgresStore) begin(ctx context.Context) (pgx.Tx, error) {
	var opts pgx.TxOptions
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		left -= left / 10
		// Without arguments pgx sends the simple protocol, which runs both
		// statements in one round trip.
		opts.BeginQuery = fmt.Sprintf(`BEGIN; SELECT set_config('sentstub.commit_deadline',
			(extract(epoch FROM clock_timestamp()) + %.6f)::text, true)`, left.Seconds())
	}
	return s.pool.BeginTx(ctx, opts)
}

// querier is what runs a statement for ctx: the transaction of its
// idempotent request, once a write began it, so that the request reads what
// it wrote, or the pool.
func (s *PostgresStore) querier(ctx context.Context) interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
} {
	if r := s.requestOf(ctx); r != nil && r.tx != nil {
		return r.tx
	}
	return s.pool
}

// FindAccountByKey implements sentstub.AccountStore.
func (s *PostgresStore) FindAccountByKey(ctx context.Context, h sentstub.KeyHash) (_ *sentstub.Account, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return scanPostgresAccount(s.querier(ctx).QueryRow(ctx, `SELECT a.id, a.organization_id, a.name FROM api_keys k
		JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = $1`, h[:]))
}

// FindAccount implements sentstub.AccountStore.
func (s *PostgresStore) FindAccount(ctx context.Context, id uuid.UUID) (_ *sentstub.Account, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return scanPostgresAccount(s.querier(ctx).QueryRow(ctx, `SELECT id, organization_id, name FROM accounts WHERE id = $1`, id))
}

func scanPostgresAccount(row pgx.Row) (*sentstub.Account, error) {
	var (
		a   sentstub.Account
		org *uuid.UUID
	)
	if err := row.Scan(&a.ID, &org, &a.Name); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, &sentstub.Error{Code: sentstub.ENOTFOUND, Message: "Account not found"}
		}
		return nil, fmt.Errorf("postgres: find account: %w", err)
	}
	if org != nil {
		a.OrganizationID = *org
	}
	return &a, nil
}

const postgresWebhookColumns = `id, owner_id, display_name, endpoint_url, is_active, event_types, event_filters,
	retry_count, timeout_seconds, consecutive_failures, last_delivery_attempt_at,
	last_successful_delivery_at, created_at, updated_at`

// FindWebhook implements sentstub.WebhookStore.
func (s *PostgresStore) FindWebhook(ctx context.Context, owner, id uuid.UUID) (_ *sentstub.Webhook, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return scanPostgresWebhook(s.querier(ctx).QueryRow(ctx, `SELECT `+postgresWebhookColumns+`
		FROM webhooks WHERE id = $1 AND owner_id = $2`, id, owner))
}

// UpdateWebhook implements sentstub.WebhookStore. The row stays locked
// (SELECT ... FOR UPDATE) from the read to the commit, so concurrent
// updates, from any replica, wait for each other.
func (s *PostgresStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (w *sentstub.Webhook, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if w, err = scanPostgresWebhook(tx.QueryRow(ctx, `SELECT `+postgresWebhookColumns+`
			FROM webhooks WHERE id = $1 AND owner_id = $2 FOR UPDATE`, id, owner)); err != nil {
			return err
		}
		read := w.Clone()
		if !update(w) {
			w = read // as read: update may have touched w
			return nil
		}
		filters, err := encodeEventFilters(w.EventFilters)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhooks SET display_name = $1, endpoint_url = $2, is_active = $3,
			event_types = $4, event_filters = $5, retry_count = $6, timeout_seconds = $7,
			consecutive_failures = $8, last_delivery_attempt_at = $9, last_successful_delivery_at = $10,
			updated_at = $11 WHERE id = $12`,
			w.DisplayName, w.EndpointURL, w.IsActive, nonNilStrings(w.EventTypes), filters, w.RetryCount,
			w.TimeoutSeconds, w.ConsecutiveFailures, w.LastDeliveryAttemptAt, w.LastSuccessfulDeliveryAt,
			w.UpdatedAt, id); err != nil {
			return fmt.Errorf("postgres: update webhook: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

func scanPostgresWebhook(row pgx.Row) (*sentstub.Webhook, error) {
	var (
		w       sentstub.Webhook
		filters *string
	)
	err := row.Scan(&w.ID, &w.OwnerID, &w.DisplayName, &w.EndpointURL, &w.IsActive, &w.EventTypes, &filters,
		&w.RetryCount, &w.TimeoutSeconds, &w.ConsecutiveFailures, &w.LastDeliveryAttemptAt,
		&w.LastSuccessfulDeliveryAt, &w.CreatedAt, &w.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFoundWebhook()
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: find webhook: %w", err)
	}
	w.EventTypes = nonNilStrings(w.EventTypes)
	if w.EventFilters, err = decodeEventFilters(filters); err != nil {
		return nil, err
	}
	w.LastDeliveryAttemptAt = utcPtr(w.LastDeliveryAttemptAt)
	w.LastSuccessfulDeliveryAt = utcPtr(w.LastSuccessfulDeliveryAt)
	w.CreatedAt = w.CreatedAt.UTC()
	w.UpdatedAt = utcPtr(w.UpdatedAt)
	return &w, nil
}

// nonNilStrings returns s, or an empty slice for nil: event_types is NOT
// NULL, and reads back as [] like SQLite's.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// utcPtr returns *t in UTC: pgx reads timestamptz in the local zone.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Provision implements sentstub.Store. Provisions take turns under a
// transaction-scoped advisory lock, so replicas loading the same fixtures
// at once neither deadlock nor fail: the first inserts, the others find
// everything there.
func (s *PostgresStore) Provision(ctx context.Context, p *sentstub.Provision) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, postgresProvisionLock); err != nil {
			return fmt.Errorf("postgres: provision: lock: %w", err)
		}
		return provisionPostgres(ctx, tx, p)
	})
}

func provisionPostgres(ctx context.Context, tx pgx.Tx, p *sentstub.Provision) error {
	for _, a := range p.Accounts {
		var org *uuid.UUID
		if a.IsProfile() {
			org = &a.OrganizationID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, organization_id, name) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, a.ID, org, a.Name); err != nil {
			return postgresProvisionError(fmt.Sprintf("account %s", a.ID), err)
		}
		for _, k := range a.Keys {
			if _, err := tx.Exec(ctx, `INSERT INTO api_keys (key_hash, account_id) VALUES ($1, $2)
				ON CONFLICT (key_hash) DO NOTHING`, k.Hash[:], a.ID); err != nil {
				return postgresProvisionError(k.Label, err)
			}
			var owner uuid.UUID
			if err := tx.QueryRow(ctx, `SELECT account_id FROM api_keys WHERE key_hash = $1`, k.Hash[:]).Scan(&owner); err != nil {
				return fmt.Errorf("postgres: provision %s: %w", k.Label, err)
			}
			if owner != a.ID {
				return sentstub.Errorf(sentstub.EINVALID, "%s already belongs to another account", k.Label)
			}
		}
	}
	for i := range p.Webhooks {
		w := &p.Webhooks[i]
		filters, err := encodeEventFilters(w.EventFilters)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhooks (`+postgresWebhookColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING`,
			w.ID, w.OwnerID, w.DisplayName, w.EndpointURL, w.IsActive, nonNilStrings(w.EventTypes), filters,
			w.RetryCount, w.TimeoutSeconds, w.ConsecutiveFailures, w.LastDeliveryAttemptAt,
			w.LastSuccessfulDeliveryAt, w.CreatedAt, w.UpdatedAt); err != nil {
			return postgresProvisionError(fmt.Sprintf("webhook %s", w.ID), err)
		}
	}
	return nil
}

// SQLSTATE codes of the integrity constraint violations (class 23).
const (
	pgNotNullViolation    = "23502"
	pgForeignKeyViolation = "23503"
	pgIntegrityClass      = "23"
)

// postgresProvisionError reports a constraint violation as EINVALID naming
// the entry, like SQLite's; anything else is an internal error. It goes by
// SQLSTATE, never by message text.
func postgresProvisionError(entry string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == pgIntegrityClass {
		reason := "violates a constraint"
		switch pe.Code {
		case pgForeignKeyViolation:
			reason = "refers to an account that does not exist"
		case pgNotNullViolation:
			reason = "lacks a required value"
		}
		return sentstub.Errorf(sentstub.EINVALID, "%s %s", entry, reason)
	}
	return fmt.Errorf("postgres: provision %s: %w", entry, err)
}
