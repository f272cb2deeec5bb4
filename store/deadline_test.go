package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store"
	"github.com/sentstub/sentstub/store/storetest"
)

// callTimeout is the store timeout of these tests; a call must end within
// it and a little more (callSlack), whatever the database does.
const (
	callTimeout = 300 * time.Millisecond
	callSlack   = time.Second
)

var (
	acmeID  = uuid.MustParse(storetest.AcmeOrgID)
	orderID = uuid.MustParse(storetest.OrderWebhookID)
)

// wantTimeout asserts that call fails with ETIMEOUT within the timeout and
// the slack.
func wantTimeout(t *testing.T, name string, call func(ctx context.Context) error) {
	t.Helper()
	start := time.Now()
	err := call(context.Background())
	elapsed := time.Since(start)
	if sentstub.ErrorCode(err) != sentstub.ETIMEOUT {
		t.Errorf("%s: error %v, want ETIMEOUT", name, err)
	}
	if elapsed > callTimeout+callSlack {
		t.Errorf("%s took %v, more than the timeout %v and %v", name, elapsed, callTimeout, callSlack)
	}
}

func flip(w *sentstub.Webhook) bool { return w.SetActive(nil, time.Now()) }

// Every call of the PostgreSQL store ends within its timeout when the
// server hangs, and fails with ETIMEOUT; once the server resumes, the
// store serves again, and none of those calls has left an effect.
func TestPostgresServerHangs(t *testing.T) {
	srv := storetest.MustStartPostgresServer(t)
	st, err := store.OpenPostgres(context.Background(), srv.Database(t), store.Options{Timeout: callTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.MustProvisionDemo(t, st, time.Now())
	acme := acmeID

	srv.Freeze(t)
	frozen := true
	defer func() {
		if frozen {
			srv.Thaw(t)
		}
	}()
	now := time.Now()
	for name, call := range map[string]func(ctx context.Context) error{
		"Ping": st.Ping,
		"FindAccountByKey": func(ctx context.Context) error {
			_, err := st.FindAccountByKey(ctx, sentstub.HashAPIKey(storetest.AcmeOrgKey))
			return err
		},
		"FindAccount": func(ctx context.Context) error { _, err := st.FindAccount(ctx, acme); return err },
		"FindWebhook": func(ctx context.Context) error { _, err := st.FindWebhook(ctx, acme, orderID); return err },
		"UpdateWebhook": func(ctx context.Context) error {
			_, err := st.UpdateWebhook(ctx, acme, orderID, flip)
			return err
		},
		"ClaimIdempotencyKey": func(ctx context.Context) error {
			_, _, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: acme, Key: "frozen",
				RequestID: "req_frozen", Now: now, LockedUntil: now.Add(time.Second)})
			return err
		},
		"SweepIdempotencyKeys": func(ctx context.Context) error {
			_, err := st.SweepIdempotencyKeys(ctx, now, 10)
			return err
		},
		"Provision": func(ctx context.Context) error { return st.Provision(ctx, &sentstub.Provision{}) },
		"IdempotentRequest": func(ctx context.Context) error {
			ctx, run := st.BeginIdempotentRequest(ctx, acme, "frozen-request", "req_frozen_request")
			_, err := st.UpdateWebhook(ctx, acme, orderID, flip)
			if err == nil {
				t.Error("a write of an idempotent request succeeded on a frozen server")
			}
			if abortErr := run.Abort(); sentstub.ErrorCode(abortErr) != sentstub.ETIMEOUT {
				t.Errorf("Abort on a frozen server: %v, want ETIMEOUT", abortErr)
			}
			return err
		},
	} {
		wantTimeout(t, name, call)
	}
	srv.Thaw(t)
	frozen = false

	if err := st.Ping(context.Background()); err != nil {
		t.Fatalf("Ping once the server resumed: %v", err)
	}
	w, err := st.FindWebhook(context.Background(), acme, orderID)
	if err != nil || !w.IsActive {
		t.Errorf("after the server resumed: %+v, %v; want the webhook active, as no toggle went through", w, err)
	}
}

// freezeAfterUpdate freezes the server once a statement that updated rows
// has ended, when armed: the next statement, the transaction's COMMIT,
// then reaches a server that hangs.
type freezeAfterUpdate struct {
	t     *testing.T
	srv   *storetest.PostgresServer
	armed atomic.Bool
	pid   atomic.Uint32 // the backend that was frozen
}

func (f *freezeAfterUpdate) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (f *freezeAfterUpdate) TraceQueryEnd(_ context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if data.Err == nil && data.CommandTag.Update() && f.armed.CompareAndSwap(true, false) {
		f.pid.Store(conn.PgConn().PID())
		f.srv.Freeze(f.t)
	}
}

// A COMMIT that reaches the server just before it hangs, and that the
// server reads only once it resumes, after the call's deadline: the call
// has failed with ETIMEOUT, and the commit guard makes the server refuse
// the commit, so that the update the caller was told failed is not made.
func TestPostgresCommitPastDeadline(t *testing.T) {
	srv := storetest.MustStartPostgresServer(t)
	url := srv.Database(t)
	tracer := &freezeAfterUpdate{t: t, srv: srv}
	st, err := store.OpenPostgres(context.Background(), url, store.WithTracer(store.Options{Timeout: callTimeout}, tracer))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.MustProvisionDemo(t, st, time.Now())

	tracer.armed.Store(true)
	wantTimeout(t, "UpdateWebhook", func(ctx context.Context) error {
		_, err := st.UpdateWebhook(ctx, acmeID, orderID, flip)
		return err
	})
	if tracer.pid.Load() == 0 {
		t.Fatal("the server was not frozen after the UPDATE")
	}
	srv.Thaw(t)

	// The frozen backend now reads the COMMIT, then the end of its
	// connection; once it has exited, whatever it did is done.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`,
			int32(tracer.pid.Load())).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the frozen backend did not exit within 10s of resuming")
		}
	}
	w, err := st.FindWebhook(context.Background(), acmeID, orderID)
	if err != nil {
		t.Fatal(err)
	}
	if !w.IsActive {
		t.Error("the toggle whose call failed with ETIMEOUT was committed once the server resumed")
	}
}

// A PostgreSQL server that is shut down: calls fail at once with
// EDBUNAVAILABLE; once it is back, the same store serves again.
func TestPostgresServerDown(t *testing.T) {
	srv := storetest.MustStartPostgresServer(t)
	st, err := store.OpenPostgres(context.Background(), srv.Database(t), store.Options{Timeout: callTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.MustProvisionDemo(t, st, time.Now())

	srv.Stop(t)
	for range 3 { // connections of the pool first, then new ones
		start := time.Now()
		_, err := st.UpdateWebhook(context.Background(), acmeID, orderID, flip)
		if sentstub.ErrorCode(err) != sentstub.EDBUNAVAILABLE {
			t.Errorf("UpdateWebhook with the server down: %v, want EDBUNAVAILABLE", err)
		}
		if elapsed := time.Since(start); elapsed > callTimeout+callSlack {
			t.Errorf("UpdateWebhook with the server down took %v", elapsed)
		}
	}
	if err := st.Ping(context.Background()); sentstub.ErrorCode(err) != sentstub.EDBUNAVAILABLE {
		t.Errorf("Ping with the server down: %v, want EDBUNAVAILABLE", err)
	}
	srv.Start(t)
	w, err := st.UpdateWebhook(context.Background(), acmeID, orderID, flip)
	if err != nil || w.IsActive {
		t.Errorf("UpdateWebhook once the server is back: %+v, %v; want the webhook flipped to inactive", w, err)
	}
}

// The SQLite store's one connection: a call that cannot have it within the
// timeout, because an idempotent request holds it, fails with ETIMEOUT.
func TestSQLiteConnectionWait(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), ":memory:", store.Options{Timeout: callTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.MustProvisionDemo(t, st, time.Now())
	ctx, run := st.BeginIdempotentRequest(context.Background(), acmeID, "holds", "req_holds")
	if _, err := st.UpdateWebhook(ctx, acmeID, orderID, flip); err != nil { // takes the connection
		t.Fatal(err)
	}
	wantTimeout(t, "FindWebhook", func(ctx context.Context) error { _, err := st.FindWebhook(ctx, acmeID, orderID); return err })
	wantTimeout(t, "UpdateWebhook", func(ctx context.Context) error {
		_, err := st.UpdateWebhook(ctx, acmeID, orderID, flip)
		return err
	})
	if err := run.Abort(); err != nil {
		t.Fatal(err)
	}
	if w, err := st.FindWebhook(context.Background(), acmeID, orderID); err != nil || !w.IsActive {
		t.Errorf("after the request was rolled back: %+v, %v", w, err)
	}
}
