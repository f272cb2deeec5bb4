package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sentstub/sentstub/store"
)

// checkDatabasePath refuses, before anything is opened, an SQLite path
// that cannot be a database file: one in a directory that does not exist,
// or a directory itself.
func checkDatabasePath(db string) error {
	if store.IsPostgresDSN(db) || db == ":memory:" {
		return nil
	}
	dir := filepath.Dir(db)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("database file %s: the directory %s does not exist; create it (mkdir -p %s) or point --db elsewhere", db, dir, dir)
	case err != nil:
		return fmt.Errorf("database file %s: %v", db, err)
	case !info.IsDir():
		return fmt.Errorf("database file %s: %s is not a directory; point --db elsewhere", db, dir)
	}
	if info, err := os.Stat(db); err == nil && info.IsDir() {
		return fmt.Errorf("database file %s is a directory; give a file in it, such as --db %s", db, filepath.Join(db, "sentstub.db"))
	}
	return nil
}

// openError says what to do about a store that did not open: another
// process holds the SQLite file, or PostgreSQL cannot be reached.
func openError(db string, err error) error {
	var lite *sqlite.Error
	if errors.As(err, &lite) && lite.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("database file %s is in use by another sentstub process; stop it or use another --db", db)
	}
	var conn *pgconn.ConnectError
	if errors.As(err, &conn) {
		return fmt.Errorf("cannot connect to PostgreSQL at %s: %s; check that it is running and that --db is right",
			store.RedactDSN(db), connectCauses(conn))
	}
	return err
}

// connectCauses is what went wrong in each attempt of a connection, each
// distinct cause once: pgx tries every address twice (with TLS, then
// without) under sslmode=prefer, and both usually fail alike.
func connectCauses(e *pgconn.ConnectError) string {
	var errs []error
	switch inner := errors.Unwrap(e).(type) {
	case interface{ Unwrap() []error }:
		errs = inner.Unwrap()
	case nil:
		return "no reason given"
	default:
		errs = []error{inner}
	}
	var causes []string
	for _, err := range errs {
		cause := strings.Join(strings.Fields(err.Error()), " ")
		if !slices.Contains(causes, cause) {
			causes = append(causes, cause)
		}
	}
	return strings.Join(causes, "; ")
}

// listenError says what to do about an address that cannot be listened on.
func listenError(flag, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("address %s is in use; stop what listens on it or choose another --%s (port 0 picks a free one)", addr, flag)
	}
	return fmt.Errorf("cannot listen on %s: %w; choose another --%s", addr, err, flag)
}
