package store

import (
	"context"
	"net/url"
	"strings"

	"github.com/sentstub/sentstub"
)

// IsPostgresDSN reports whether dsn names a PostgreSQL database: a URL
// with the scheme postgres or postgresql (in any case).
func IsPostgresDSN(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// Open opens the store that dsn names: PostgreSQL for a postgres:// or
// postgresql:// URL (see OpenPostgres; opts apply), and otherwise the
// SQLite file at path dsn, or ":memory:" (see OpenSQLite; opts are
// ignored).
func Open(ctx context.Context, dsn string, opts PostgresOptions) (sentstub.Store, error) {
	if IsPostgresDSN(dsn) {
		return OpenPostgres(ctx, dsn, opts)
	}
	return OpenSQLite(ctx, dsn)
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
