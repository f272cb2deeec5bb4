package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store/storetest"
)

// faultyStore fails or panics on demand.
type faultyStore struct {
	sentstub.Store
	updateErr error
	panicMsg  atomic.Value // string
	panicLate bool         // panic after the write rather than before
	pingErr   error
}

func (s *faultyStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (*sentstub.Webhook, error) {
	if msg, _ := s.panicMsg.Load().(string); msg != "" {
		if s.panicLate {
			s.Store.UpdateWebhook(ctx, owner, id, update)
		}
		panic(msg)
	}
	if s.updateErr != nil {
		return nil, s.updateErr
	}
	return s.Store.UpdateWebhook(ctx, owner, id, update)
}

func (s *faultyStore) Ping(ctx context.Context) error {
	if s.pingErr != nil {
		return s.pingErr
	}
	return s.Store.Ping(ctx)
}

func panicking(st sentstub.Store, msg string) *faultyStore {
	f := &faultyStore{Store: st}
	f.panicMsg.Store(msg)
	return f
}

func TestInternalErrors(t *testing.T) {
	base := storetest.MustOpenSQLite(t)
	storetest.MustProvisionDemo(t, base, newClock().Now())
	const secret = "disk I/O error at /var/lib/sentstub/secret-path.db"
	for name, st := range map[string]*faultyStore{
		"store error": {Store: base, updateErr: errors.New(secret)},
		"panic":       panicking(base, secret),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, st)
			r := e.toggle(t, orderID, str(`{}`))
			wantError(t, r, http.StatusInternalServerError, "INTERNAL_001", "An unexpected error occurred while toggling the webhook status")
			if r.Env.Error.Details != nil || strings.Contains(string(r.Body), "secret-path") {
				t.Errorf("500 leaks internals: %s", r.Body)
			}
			logs := e.Logs.String()
			if !strings.Contains(logs, r.Env.Meta.RequestID) || !strings.Contains(logs, "secret-path") {
				t.Errorf("the log lacks the request id %s or the cause:\n%s", r.Env.Meta.RequestID, logs)
			}
		})
	}
}

// A panic inside an idempotent request undoes its write and frees its key:
// the retry runs at once instead of waiting out the lock timeout, and
// toggles once.
func TestPanicReleasesIdempotencyKey(t *testing.T) {
	for name, late := range map[string]bool{"before the write": false, "after the write": true} {
		t.Run(name, func(t *testing.T) {
			base := storetest.MustOpenSQLite(t)
			storetest.MustProvisionDemo(t, base, newClock().Now())
			st := panicking(base, "boom")
			st.panicLate = late
			e := newEnv(t, st, withIdempotency(300*time.Millisecond, time.Hour))
			wantError(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "panics"), 500, "INTERNAL_001", "")
			st.panicMsg.Store("")
			r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "panics")
			if wantOK(t, r)["is_active"] != false || r.Header.Get("Idempotent-Replayed") != "" {
				t.Errorf("the retry after a panic did not run, or toggled twice: %d %s", r.Status, r.Body)
			}
		})
	}
}
