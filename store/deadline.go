package store

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sentstub/sentstub"
)

// DefaultTimeout bounds a store call when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// The messages of the errors a store call reports when the database fails
// as a whole: sent.dm's titles of INTERNAL_004 and INTERNAL_005.
const (
	timeoutMessage     = sentstub.TimeoutMessage
	unavailableMessage = sentstub.DBUnavailableMessage
)

// bound starts a store call: it returns ctx limited to timeout, and the
// call, whose end the caller defers with the address of the error it
// returns, to classify it (see classify). Every exported method of a store
// begins with
//
//	ctx, call := bound(ctx, s.timeout)
//	defer call.end(&err)
//
// so that no call waits longer than the timeout for a connection, a lock
// or a statement, whatever the database does. (The SQLite store's calls
// begin with its own s.bound(ctx), which bounds the one wait there is in
// that store: see sqliteCall.)
func bound(ctx context.Context, timeout time.Duration) (context.Context, storeCall) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, storeCall{ctx, cancel}
}

// storeCall is a call of a store under way; see bound.
type storeCall struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// end ends the call, classifying the error it returns through err.
func (c storeCall) end(err *error) {
	*err = classify(c.ctx, *err)
	if c.cancel != nil {
		c.cancel()
	}
}

// classify is the one place where a failure of the database becomes an
// error of the API: a call that ran out of time is ETIMEOUT, and one that
// could not reach the database (refused, dropped, shutting down) is
// EDBUNAVAILABLE, each with the failure as its cause. Errors are told apart
// by type and SQLSTATE, never by their text. Any other error is returned as
// it is: a *sentstub.Error of the store's own (ENOTFOUND, ...), or an
// internal error. ctx is the call's bounded context: a call cut off by its
// deadline may fail with whatever error the driver makes of that (an
// interrupted statement, a closed connection), and is a timeout all the
// same; one whose caller went away is neither (context.Canceled stays).
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *sentstub.Error
	switch {
	case errors.As(err, &apiErr):
		return err
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return &sentstub.Error{Code: sentstub.ETIMEOUT, Message: timeoutMessage, Cause: err}
	case errors.Is(err, context.Canceled):
		return err
	case isUnreachable(err):
		return &sentstub.Error{Code: sentstub.EDBUNAVAILABLE, Message: unavailableMessage, Cause: err}
	}
	return err
}

// SQLSTATEs of PostgreSQL that say the statement ran out of time or the
// server cannot serve (see classify).
const (
	pgQueryCanceled       = "57014" // statement_timeout, or the commit guard
	pgAdminShutdown       = "57P01"
	pgCrashShutdown       = "57P02"
	pgCannotConnectNow    = "57P03" // starting up or shutting down
	pgTooManyConnections  = "53300"
	pgConnectionException = "08" // the class
)

func isTimeout(err error) bool {
	var pe *pgconn.PgError
	return pgconn.Timeout(err) || errors.As(err, &pe) && pe.Code == pgQueryCanceled
}

// isUnreachable reports whether err says that the database could not be
// reached, or dropped the connection.
func isUnreachable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		pe         *pgconn.PgError
	)
	switch {
	case errors.As(err, &connectErr):
		return true
	case errors.As(err, &pe):
		switch pe.Code {
		case pgAdminShutdown, pgCrashShutdown, pgCannotConnectNow, pgTooManyConnections:
			return true
		}
		return len(pe.Code) == 5 && pe.Code[:2] == pgConnectionException
	}
	for _, lost := range []error{pgconn.ErrConnClosed, io.EOF, io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, lost) {
			return true
		}
	}
	return false
}

// orDefaultTimeout is d, or DefaultTimeout when d is not positive.
func orDefaultTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}
