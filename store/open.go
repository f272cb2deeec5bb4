package store

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sentstub/sentstub"
)

// Options tune a store. A zero field keeps its default: for the PostgreSQL
// settings, what the URL says, or else the driver's default.
type Options struct {
	// Timeout bounds every call of the store: waiting for a connection (or,
	// with SQLite, for the one connection) and running the call's
	// statements, commit included. A call past it fails with ETIMEOUT and
	// leaves no effect (see bound). Default: DefaultTimeout.
	Timeout time.Duration

	// PostgreSQL only:

	// MaxConns caps the connection pool (pool_max_conns in the URL; by
	// default the larger of 4 and the number of CPUs).
	MaxConns int32
	// ConnectTimeout bounds establishing one connection (connect_timeout in
	// the URL; by default no bound but the call's Timeout).
	ConnectTimeout time.Duration
	// StatementTimeout is PostgreSQL's statement_timeout on every
	// connection: a statement that runs longer, waiting for locks included,
	// fails (by default the server's setting, normally none).
	StatementTimeout time.Duration

	tracer pgx.QueryTracer // tests watch the statements with it
}

// IsPostgresDSN reports whether dsn names a PostgreSQL database: a URL
// with the scheme postgres or postgresql (in any case).
func IsPostgresDSN(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// Open opens the store that dsn names: PostgreSQL for a postgres:// or
// postgresql:// URL (see OpenPostgres), and otherwise the SQLite file at
// path dsn, or ":memory:" (see OpenSQLite).
func Open(ctx context.Context, dsn string, opts Options) (sentstub.Store, error) {
	if IsPostgresDSN(dsn) {
		return OpenPostgres(ctx, dsn, opts)
	}
	return OpenSQLite(ctx, dsn, opts)
}

// RedactDSN returns dsn fit for a log: a URL's password, in its user
// information or its query, is replaced by "xxxxx". Other values (SQLite
// paths) are returned as they are.
func RedactDSN(dsn string) string {
	if !IsPostgresDSN(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable database URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
