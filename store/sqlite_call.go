package store

import (
	"context"
	"time"
)

// sqliteCall is the context of a call of the SQLite store: the caller's
// values, the call's deadline, and never done.
//
// A call of this store can wait for one thing, the connection, which
// another call or an idempotent request holds (the database is the
// process's own, opened exclusively, with no busy wait), and lock bounds
// that wait by the deadline and the caller's context. A statement, once it
// has the connection, runs to its end: they are reads and writes by key,
// pages of at most 100 rows counted within one account, and sweeps of a
// bounded batch, and the one thing that could stall one, a write to the
// disk, an interrupt would not cut short either (SQLite checks for one
// between steps of its program). Statements
// are given this context rather than one that can end because
// modernc.org/sqlite watches a context that can end with a goroutine per
// statement, and the timer and the goroutine were more than a tenth of a
// toggle's CPU under load.
type sqliteCall struct {
	context.Context // the caller's, for its values

	deadline time.Time
	waiter   context.Context // whose end ends the wait for the connection
}

type sqliteCallKey struct{}

// bound starts a call of the SQLite store as bound does one of another
// store: its deadline is the timeout from now, or the caller's if sooner.
func (s *SQLiteStore) bound(ctx context.Context) (context.Context, storeCall) {
	c := &sqliteCall{Context: ctx, deadline: time.Now().Add(s.timeout), waiter: ctx}
	if d, ok := ctx.Deadline(); ok && d.Before(c.deadline) {
		c.deadline = d
	}
	if outer, ok := ctx.Value(sqliteCallKey{}).(*sqliteCall); ok {
		c.waiter = outer.waiter // a call made within a call: the caller's context is the outer's
	}
	return c, storeCall{ctx: c}
}

func (c *sqliteCall) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *sqliteCall) Done() <-chan struct{}       { return nil }
func (c *sqliteCall) Err() error                  { return nil }

func (c *sqliteCall) Value(key any) any {
	if key == (sqliteCallKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// lock takes the connection, waiting until the call's deadline at the
// latest, and no longer than its caller's context lasts.
func (s *SQLiteStore) lock(ctx context.Context) error {
	if c, ok := ctx.Value(sqliteCallKey{}).(*sqliteCall); ok {
		return s.connMu.LockBefore(c.waiter, c.deadline)
	}
	return s.connMu.Lock(ctx)
}
