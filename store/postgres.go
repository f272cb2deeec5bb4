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
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
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
			return nil, notFoundAccount()
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
	last_successful_delivery_at, created_at, updated_at, signing_secret`

// The statements of CreateWebhook and ListWebhooks.
//
// The insert takes its owner from the accounts row, locked FOR KEY SHARE
// (as the foreign key's check would), and so inserts nothing, rather than
// failing, for an owner that does not exist: a failed statement would
// abort the transaction of an idempotent request, and with it the request.
//
// In the list and count, $1 is the owner, $2 is_active or NULL, $3 the
// search as searchText returns it (empty for none), $4 and $5 the limit and
// offset. lower in the "C" collation folds ASCII letters alone, whatever
// the database's locale. The page carries the total, counted in the same
// statement and so in the same snapshot; an empty page cannot, and the
// count runs on its own.
const (
	postgresInsertWebhook = `INSERT INTO webhooks (` + postgresWebhookColumns + `)
		SELECT $1, a.id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
		FROM accounts a WHERE a.id = $2 FOR KEY SHARE`
	postgresWebhookMatch = `owner_id = $1 AND ($2::boolean IS NULL OR is_active = $2)
		AND ($3 = '' OR strpos(lower(display_name COLLATE "C"), $3) > 0 OR strpos(lower(endpoint_url COLLATE "C"), $3) > 0)`
	postgresListWebhooks = `SELECT ` + postgresWebhookColumns + `, (SELECT count(*) FROM webhooks WHERE ` + postgresWebhookMatch + `)
		FROM webhooks WHERE ` + postgresWebhookMatch + ` ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5`
	postgresCountWebhooks = `SELECT count(*) FROM webhooks WHERE ` + postgresWebhookMatch
)

// FindWebhook implements sentstub.WebhookStore.
func (s *PostgresStore) FindWebhook(ctx context.Context, owner, id uuid.UUID) (_ *sentstub.Webhook, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return scanPostgresWebhook(s.querier(ctx).QueryRow(ctx, `SELECT `+postgresWebhookColumns+`
		FROM webhooks WHERE id = $1 AND owner_id = $2`, id, owner))
}

// UpdateWebhook implements sentstub.WebhookStore. The row stays locked
// (SELECT ... FOR NO KEY UPDATE) from the read to the commit, so concurrent
// updates, from any replica, wait for each other. The lock is the one an
// UPDATE of columns other than the key takes, which lets deliveries be
// added to the webhook's log meanwhile (FOR UPDATE would block their
// foreign key's check).
func (s *PostgresStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (w *sentstub.Webhook, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if w, err = scanPostgresWebhook(tx.QueryRow(ctx, `SELECT `+postgresWebhookColumns+`
			FROM webhooks WHERE id = $1 AND owner_id = $2 FOR NO KEY UPDATE`, id, owner)); err != nil {
			return err
		}
		read := w.Clone()
		if !update(w) {
			w = read // as read: update may have touched w
			return nil
		}
		args, err := postgresUpdateWebhookArgs(id, w)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, postgresUpdateWebhook, args...); err != nil {
			return fmt.Errorf("postgres: update webhook: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// postgresUpdateWebhook saves every column of a webhook but its key and
// owner; postgresUpdateWebhookArgs are its arguments, to save w as the
// webhook id.
const postgresUpdateWebhook = `UPDATE webhooks SET display_name = $1, endpoint_url = $2, is_active = $3,
	event_types = $4, event_filters = $5, retry_count = $6, timeout_seconds = $7,
	consecutive_failures = $8, last_delivery_attempt_at = $9, last_successful_delivery_at = $10,
	updated_at = $11, signing_secret = $12 WHERE id = $13`

func postgresUpdateWebhookArgs(id uuid.UUID, w *sentstub.Webhook) ([]any, error) {
	filters, err := encodeEventFilters(w.EventFilters)
	if err != nil {
		return nil, err
	}
	return []any{w.DisplayName, w.EndpointURL, w.IsActive, nonNilStrings(w.EventTypes), filters, w.RetryCount,
		w.TimeoutSeconds, w.ConsecutiveFailures, w.LastDeliveryAttemptAt, w.LastSuccessfulDeliveryAt,
		w.UpdatedAt, w.SigningSecret, id}, nil
}

// CreateWebhook implements sentstub.WebhookStore.
func (s *PostgresStore) CreateWebhook(ctx context.Context, w *sentstub.Webhook) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.createWebhookWithin(ctx, w)
}

func (s *PostgresStore) createWebhookWithin(ctx context.Context, w *sentstub.Webhook) error {
	args, err := postgresWebhookArgs(w)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, postgresInsertWebhook, args...)
		switch {
		case postgresIsCode(err, pgForeignKeyViolation): // not expected: the owner's row is locked
			return notFoundAccount()
		case err != nil:
			return fmt.Errorf("postgres: create webhook: %w", err)
		case tag.RowsAffected() == 0:
			return notFoundAccount()
		}
		return nil
	})
}

// DeleteWebhook implements sentstub.WebhookStore. The delivery log goes
// with the webhook, by the foreign key's ON DELETE CASCADE, in the same
// statement.
func (s *PostgresStore) DeleteWebhook(ctx context.Context, owner, id uuid.UUID) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.deleteWebhookWithin(ctx, owner, id)
}

func (s *PostgresStore) deleteWebhookWithin(ctx context.Context, owner, id uuid.UUID) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id = $1 AND owner_id = $2`, id, owner)
		if err != nil {
			return fmt.Errorf("postgres: delete webhook: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFoundWebhook()
		}
		return nil
	})
}

// ListWebhooks implements sentstub.WebhookStore.
func (s *PostgresStore) ListWebhooks(ctx context.Context, owner uuid.UUID, f sentstub.WebhookFilter) (page []*sentstub.Webhook, total int, err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.listWebhooksWithin(ctx, owner, f)
}

func (s *PostgresStore) listWebhooksWithin(ctx context.Context, owner uuid.UUID, f sentstub.WebhookFilter) ([]*sentstub.Webhook, int, error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	page := []*sentstub.Webhook{}
	search, ok := searchText(f.Search)
	if !ok {
		return page, 0, nil
	}
	q := s.querier(ctx)
	rows, err := q.Query(ctx, postgresListWebhooks, owner, f.IsActive, search, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: list webhooks: %w", err)
	}
	defer rows.Close()
	var total int
	for rows.Next() {
		w, err := scanPostgresWebhook(rows, &total)
		if err != nil {
			return nil, 0, err
		}
		page = append(page, w)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("postgres: list webhooks: %w", err)
	}
	if len(page) > 0 || f.Offset == 0 {
		return page, total, nil
	}
	if err := q.QueryRow(ctx, postgresCountWebhooks, owner, f.IsActive, search).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: count webhooks: %w", err)
	}
	return page, total, nil
}

// postgresWebhookArgs returns the values of postgresWebhookColumns for w.
func postgresWebhookArgs(w *sentstub.Webhook) ([]any, error) {
	filters, err := encodeEventFilters(w.EventFilters)
	if err != nil {
		return nil, err
	}
	return []any{w.ID, w.OwnerID, w.DisplayName, w.EndpointURL, w.IsActive, nonNilStrings(w.EventTypes), filters,
		w.RetryCount, w.TimeoutSeconds, w.ConsecutiveFailures, w.LastDeliveryAttemptAt,
		w.LastSuccessfulDeliveryAt, w.CreatedAt, w.UpdatedAt, w.SigningSecret}, nil
}

// scanPostgresWebhook scans the postgresWebhookColumns of row, and then
// into extra whatever columns follow them.
func scanPostgresWebhook(row pgx.Row, extra ...any) (*sentstub.Webhook, error) {
	var ws postgresWebhookScan
	err := row.Scan(append(ws.dest(), extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFoundWebhook()
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: find webhook: %w", err)
	}
	return ws.webhook()
}

// postgresWebhookScan is what the postgresWebhookColumns of a row scan
// into, for a row that holds other columns too.
type postgresWebhookScan struct {
	w       sentstub.Webhook
	filters *string
}

// dest returns the destinations of the postgresWebhookColumns, in order.
func (ws *postgresWebhookScan) dest() []any {
	w := &ws.w
	return []any{&w.ID, &w.OwnerID, &w.DisplayName, &w.EndpointURL, &w.IsActive, &w.EventTypes, &ws.filters,
		&w.RetryCount, &w.TimeoutSeconds, &w.ConsecutiveFailures, &w.LastDeliveryAttemptAt,
		&w.LastSuccessfulDeliveryAt, &w.CreatedAt, &w.UpdatedAt, &w.SigningSecret}
}

// webhook returns the webhook scanned.
func (ws *postgresWebhookScan) webhook() (*sentstub.Webhook, error) {
	w := ws.w
	var err error
	w.EventTypes = nonNilStrings(w.EventTypes)
	if w.EventFilters, err = decodeEventFilters(ws.filters); err != nil {
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

// ResetAccount implements sentstub.Store. It takes Provision's advisory
// lock, so that resets and provisions take turns, and locks the account's
// webhooks in id order before deleting them, the order in which
// EnqueueDeliveries locks the webhooks it fans out to: two transactions
// that lock several webhooks each then never wait for each other in a
// circle. The deliveries go with their webhooks, by the foreign key's ON
// DELETE CASCADE. Of the account's idempotency records, the stored answers
// are deleted and claims in flight are left to their requests.
func (s *PostgresStore) ResetAccount(ctx context.Context, account uuid.UUID, webhooks []sentstub.Webhook) (err error) {
	ctx, call := bound(ctx, s.timeout)
	defer call.end(&err)
	return s.resetAccountWithin(ctx, account, webhooks)
}

func (s *PostgresStore) resetAccountWithin(ctx context.Context, account uuid.UUID, webhooks []sentstub.Webhook) error {
	args, err := resetArgs(account, webhooks, postgresWebhookArgs)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, postgresProvisionLock); err != nil {
			return fmt.Errorf("postgres: reset account: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id IN
			(SELECT id FROM webhooks WHERE owner_id = $1 ORDER BY id FOR UPDATE)`, account); err != nil {
			return fmt.Errorf("postgres: reset account: delete webhooks: %w", err)
		}
		for i := range webhooks {
			if _, err := tx.Exec(ctx, `INSERT INTO webhooks (`+postgresWebhookColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, args[i]...); err != nil {
				return postgresProvisionError(fmt.Sprintf("webhook %s", webhooks[i].ID), err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE account_id = $1 AND stored_at IS NOT NULL`,
			account); err != nil {
			return fmt.Errorf("postgres: reset account: delete idempotent answers: %w", err)
		}
		return nil
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
		args, err := postgresWebhookArgs(w)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhooks (`+postgresWebhookColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (id) DO NOTHING`,
			args...); err != nil {
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

// postgresIsCode reports whether err is PostgreSQL's error with SQLSTATE
// code.
func postgresIsCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

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
