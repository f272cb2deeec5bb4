package server_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// countingStore counts executions of the toggle, can hold them until
// released, and can make the idempotency store fail.
type countingStore struct {
	sentstub.Store
	updates  atomic.Int32
	claims   atomic.Int32
	hold     chan struct{} // when set, updates wait for it to close
	entered  chan struct{} // when set, receives on each update's start
	claimErr error
	endErr   error        // when set, idempotent requests fail to end
	failNext atomic.Int32 // updates to fail with an internal error
	failLate atomic.Int32 // updates to fail with an internal error after writing
}

func newCountingStore(t *testing.T) *countingStore {
	st := storetest.MustOpenSQLite(t)
	storetest.MustProvisionDemo(t, st, time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC))
	return &countingStore{Store: st}
}

func (s *countingStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (*sentstub.Webhook, error) {
	s.updates.Add(1)
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.hold != nil {
		<-s.hold
	}
	if s.failNext.Load() > 0 {
		s.failNext.Add(-1)
		return nil, errors.New("injected failure")
	}
	w, err := s.Store.UpdateWebhook(ctx, owner, id, update)
	if err == nil && s.failLate.Load() > 0 {
		s.failLate.Add(-1)
		return nil, errors.New("injected failure after the write")
	}
	return w, err
}

func (s *countingStore) BeginIdempotentRequest(ctx context.Context, account uuid.UUID, key, requestID string) (context.Context, sentstub.IdempotentRequest) {
	ctx, run := s.Store.BeginIdempotentRequest(ctx, account, key, requestID)
	if s.endErr != nil {
		return ctx, failingEnd{run, s.endErr}
	}
	return ctx, run
}

// failingEnd fails to commit as a store does: nothing is committed, and
// the key is free again.
type failingEnd struct {
	sentstub.IdempotentRequest
	err error
}

func (r failingEnd) Complete(*sentstub.IdempotentResponse) (bool, error) {
	return false, errors.Join(r.err, r.Abort())
}

func (r failingEnd) Release() error { return errors.Join(r.err, r.Abort()) }

// active reports whether the demo's order webhook is active, as stored.
func (s *countingStore) active(t *testing.T) bool {
	t.Helper()
	w, err := s.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(orderID))
	if err != nil {
		t.Fatal(err)
	}
	return w.IsActive
}

func (s *countingStore) ClaimIdempotencyKey(ctx context.Context, c sentstub.IdempotencyClaim) (*sentstub.IdempotentResponse, bool, error) {
	s.claims.Add(1)
	if s.claimErr != nil {
		return nil, false, s.claimErr
	}
	return s.Store.ClaimIdempotencyKey(ctx, c)
}

func withIdempotency(wait, lock time.Duration) envOption {
	return func(c *server.Config) { c.IdempotencyWait, c.IdempotencyLockTimeout = wait, lock }
}

func wantReplayOf(t *testing.T, replay, original response) {
	t.Helper()
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("not a replay: status %d, headers %v", replay.Status, replay.Header)
	}
	if replay.Status != original.Status || !bytes.Equal(replay.Body, original.Body) {
		t.Errorf("replay = %d %s\nwant   %d %s", replay.Status, replay.Body, original.Status, original.Body)
	}
	if got := replay.Header.Get("X-Original-Request-Id"); got != original.Env.Meta.RequestID {
		t.Errorf("X-Original-Request-Id = %q, want %q", got, original.Env.Meta.RequestID)
	}
	if id := replay.Header.Get("X-Request-Id"); id == original.Env.Meta.RequestID || id == "" {
		t.Errorf("X-Request-Id = %q, want the replaying request's own id", id)
	}
	if replay.Header.Get("Content-Type") != original.Header.Get("Content-Type") {
		t.Errorf("Content-Type = %q, want %q", replay.Header.Get("Content-Type"), original.Header.Get("Content-Type"))
	}
}

func TestIdempotentReplay(t *testing.T) {
	st := newCountingStore(t)
	e := newEnv(t, st)
	first := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "flip-1")
	if wantOK(t, first)["is_active"] != false || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first request: %s %v", first.Body, first.Header)
	}
	e.Clock.Advance(time.Hour)
	second := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "flip-1")
	wantReplayOf(t, second, first)
	if n := st.updates.Load(); n != 1 {
		t.Errorf("the toggle ran %d times, want 1", n)
	}

	t.Run("a different request under a used key gets the first answer and a warning", func(t *testing.T) {
		for _, req := range []struct {
			id, body string
			headers  []string
		}{
			{orderID, `{"is_active":true}`, nil},
			{receiptsID, `{}`, nil},
			{euID, `{}`, []string{"x-profile-id", storetest.AcmeEUProfileID}},
		} {
			r := e.toggle(t, req.id, str(req.body), append(req.headers, "Idempotency-Key", "flip-1")...)
			wantReplayOf(t, r, first)
		}
		if n := st.updates.Load(); n != 1 {
			t.Errorf("the toggle ran %d times, want 1", n)
		}
		if !strings.Contains(e.Logs.String(), "Idempotency-Key reused for a different request") {
			t.Errorf("no warning logged for a mismatched reuse")
		}
	})
	t.Run("keys are per calling account", func(t *testing.T) {
		r := e.toggle(t, globexID, str(`{}`), "x-api-key", storetest.GlobexOrgKey, "Idempotency-Key", "flip-1")
		if wantOK(t, r)["id"] != globexID || r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("another account's request with the same key was replayed: %s", r.Body)
		}
		r = e.toggle(t, euID, str(`{}`), "x-api-key", storetest.AcmeEUKey, "Idempotency-Key", "flip-1")
		if wantOK(t, r)["id"] != euID || r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("a profile key's request was replayed from its organization's key: %s", r.Body)
		}
	})
	t.Run("24 hours after it was stored the key runs again", func(t *testing.T) {
		e.Clock.Advance(23*time.Hour - time.Second)
		wantReplayOf(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "flip-1"), first)
		e.Clock.Advance(time.Second)
		before := st.updates.Load()
		r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "flip-1")
		if r.Header.Get("Idempotent-Replayed") != "" || st.updates.Load() != before+1 {
			t.Errorf("an expired key was replayed")
		}
	})
}

// N concurrent requests with one key execute the operation exactly once;
// every one of them gets the same answer.
func TestIdempotentConcurrentRequests(t *testing.T) {
	st := newCountingStore(t)
	e := newEnv(t, st)
	const n = 12
	responses := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			responses[i] = e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "concurrent")
		}()
	}
	wg.Wait()
	if got := st.updates.Load(); got != 1 {
		t.Fatalf("%d concurrent requests with one key executed %d times, want 1", n, got)
	}
	var original *response
	replays := 0
	for i := range responses {
		if responses[i].Header.Get("Idempotent-Replayed") == "true" {
			replays++
		} else {
			original = &responses[i]
		}
	}
	if original == nil || replays != n-1 {
		t.Fatalf("%d replays, want %d, and one original", replays, n-1)
	}
	for _, r := range responses {
		if r.Status != 200 || !bytes.Equal(r.Body, original.Body) {
			t.Errorf("answer %d %s differs from the original's", r.Status, r.Body)
		}
	}
	w, _ := st.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(orderID))
	if w.IsActive {
		t.Errorf("the webhook was flipped an even number of times")
	}
}

func TestIdempotentInFlight(t *testing.T) {
	t.Run("a duplicate waits for the original and replays it", func(t *testing.T) {
		st := newCountingStore(t)
		st.hold, st.entered = make(chan struct{}), make(chan struct{}, 1)
		e := newEnv(t, st)
		firstDone := make(chan response)
		go func() { firstDone <- e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "slow") }()
		<-st.entered // the original is running
		secondDone := make(chan response)
		go func() { secondDone <- e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "slow") }()
		time.Sleep(100 * time.Millisecond)
		close(st.hold)
		first, second := <-firstDone, <-secondDone
		wantOK(t, first)
		wantReplayOf(t, second, first)
	})
	t.Run("after the wait a duplicate gets 409, and nothing is stored for it", func(t *testing.T) {
		st := newCountingStore(t)
		st.hold, st.entered = make(chan struct{}), make(chan struct{}, 1)
		e := newEnv(t, st, withIdempotency(150*time.Millisecond, 0))
		firstDone := make(chan response)
		go func() { firstDone <- e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "slow") }()
		<-st.entered
		wantError(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "slow"), http.StatusConflict, "CONFLICT_001", "")
		close(st.hold)
		first := <-firstDone
		wantReplayOf(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "slow"), first)
		if n := st.updates.Load(); n != 1 {
			t.Errorf("executed %d times, want 1", n)
		}
	})
	t.Run("a key left in flight by a dead process is released after the lock timeout", func(t *testing.T) {
		st := newCountingStore(t)
		e := newEnv(t, st, withIdempotency(100*time.Millisecond, 30*time.Second))
		now := e.Clock.Now()
		_, claimed, err := st.ClaimIdempotencyKey(context.Background(), sentstub.IdempotencyClaim{
			AccountID: uuid.MustParse(storetest.AcmeOrgID), Key: "orphan", RequestID: "req_deadprocess",
			Fingerprint: "x", Now: now, LockedUntil: now.Add(30 * time.Second)})
		if err != nil || !claimed {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		e.Clock.Advance(29 * time.Second)
		wantError(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "orphan"), http.StatusConflict, "CONFLICT_001", "")
		e.Clock.Advance(time.Second)
		r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "orphan")
		if wantOK(t, r)["is_active"] != false || r.Header.Get("Idempotent-Replayed") != "" || st.updates.Load() != 1 {
			t.Errorf("the retry after the lock timeout did not run: %s", r.Body)
		}
	})
}

func TestIdempotencyWhatIsStored(t *testing.T) {
	st := newCountingStore(t)
	e := newEnv(t, st)
	t.Run("the operation's 404 is stored", func(t *testing.T) {
		first := e.toggle(t, globexID, str(`{}`), "Idempotency-Key", "k404")
		wantError(t, first, 404, "RESOURCE_008", "Webhook not found")
		before := st.updates.Load()
		wantReplayOf(t, e.toggle(t, globexID, str(`{}`), "Idempotency-Key", "k404"), first)
		if st.updates.Load() != before {
			t.Errorf("a stored 404 ran again")
		}
	})
	t.Run("a sandbox answer is stored and replays with X-Sandbox", func(t *testing.T) {
		first := e.toggle(t, orderID, str(`{"sandbox":true}`), "Idempotency-Key", "ksandbox")
		r := e.toggle(t, orderID, str(`{"sandbox":true}`), "Idempotency-Key", "ksandbox")
		wantReplayOf(t, r, first)
		if r.Header.Get("X-Sandbox") != "true" {
			t.Errorf("the replayed sandbox answer lacks X-Sandbox")
		}
	})
	t.Run("401, 403 and validation failures are not stored", func(t *testing.T) {
		wantError(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "kfail", "x-api-key", "sk_test_nobody"), 401, "AUTH_002", "")
		wantError(t, e.toggle(t, orderID, str(`{"is_active":null}`), "Idempotency-Key", "kfail"), 400, "VALIDATION_001", "")
		wantError(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "kfail", "x-profile-id", uuid.NewString()), 403, "AUTH_004", "")
		r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "kfail")
		if wantOK(t, r); r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("a refused request's answer was stored")
		}
	})
	t.Run("a 5xx is not stored: the retry runs", func(t *testing.T) {
		st.failNext.Store(1)
		wantError(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k500"), 500, "INTERNAL_001", "")
		r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k500")
		if wantOK(t, r); r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("a 500 was replayed")
		}
	})
	t.Run("a 5xx after the write rolls it back; the retry runs", func(t *testing.T) {
		before := st.active(t)
		st.failLate.Store(1)
		wantError(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k500late"), 500, "INTERNAL_001", "")
		if st.active(t) != before {
			t.Fatalf("a toggle answered with a 500 was applied")
		}
		r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k500late")
		if wantOK(t, r)["is_active"] == before || r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("the retry of a failed toggle: %s, replayed %q", r.Body, r.Header.Get("Idempotent-Replayed"))
		}
	})
	t.Run("answers over the size limit are not stored", func(t *testing.T) {
		small := newEnv(t, st, func(c *server.Config) { c.IdempotencyMaxStored = 100 })
		wantOK(t, small.toggle(t, orderID, str(`{}`), "Idempotency-Key", "kbig"))
		r := small.toggle(t, orderID, str(`{}`), "Idempotency-Key", "kbig")
		if wantOK(t, r); r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("an answer over the limit was stored")
		}
	})
	t.Run("without a key nothing is stored", func(t *testing.T) {
		a, b := e.toggle(t, orderID, str(`{}`)), e.toggle(t, orderID, str(`{}`))
		if wantOK(t, a)["is_active"] == wantOK(t, b)["is_active"] {
			t.Errorf("two toggles without a key did not both run")
		}
	})
}

func TestIdempotencyStoreUnavailable(t *testing.T) {
	st := newCountingStore(t)
	st.claimErr = errors.New("database is locked")
	e := newEnv(t, st)
	r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k")
	wantError(t, r, http.StatusServiceUnavailable, "SERVICE_001", "Cache service temporarily unavailable")
	if strings.Contains(string(r.Body), "locked") {
		t.Errorf("503 leaks the cause: %s", r.Body)
	}
	if n := st.updates.Load(); n != 0 {
		t.Errorf("the operation ran %d times while the idempotency store was down", n)
	}
	if !strings.Contains(e.Logs.String(), "database is locked") {
		t.Errorf("the cause is not logged")
	}
	// Requests without a key do not need the idempotency store.
	wantOK(t, e.toggle(t, orderID, str(`{}`)))
}

// When the answer cannot be stored, it is not sent, and what the operation
// did is undone: the client gets 503 and its retry runs once.
func TestIdempotencyStoreFailsAtTheEnd(t *testing.T) {
	st := newCountingStore(t)
	st.endErr = errors.New("disk I/O error at /var/lib/sentstub/secret.db")
	e := newEnv(t, st)
	before := st.active(t)
	r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k")
	wantError(t, r, http.StatusServiceUnavailable, "SERVICE_001", "Cache service temporarily unavailable")
	if strings.Contains(string(r.Body), "secret") || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("503 leaks the cause or keeps the held answer's headers: %v %s", r.Header, r.Body)
	}
	if !strings.Contains(e.Logs.String(), "secret.db") || !strings.Contains(e.Logs.String(), r.Env.Meta.RequestID) {
		t.Errorf("the cause is not logged with the request id")
	}
	if st.active(t) != before || st.updates.Load() != 1 {
		t.Fatalf("a toggle answered with 503 was applied (active %v, was %v)", st.active(t), before)
	}
	st.endErr = nil
	r = e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k")
	if wantOK(t, r)["is_active"] == before || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the retry: %s, replayed %q; want it to run", r.Body, r.Header.Get("Idempotent-Replayed"))
	}
	if replay := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k"); replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retry's answer was not stored")
	}
}

func TestIdempotencySweep(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	storetest.MustProvisionDemo(t, st, time.Now())
	clk := newClock()
	srv, err := server.New(server.Config{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st, func(c *server.Config) { c.Now = clk.Now })
	for _, k := range []string{"a", "b", "c"} {
		wantOK(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", k))
	}
	if n, err := srv.SweepIdempotencyKeys(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep before expiry deleted %d, %v", n, err)
	}
	clk.Advance(24 * time.Hour)
	if n, err := srv.SweepIdempotencyKeys(context.Background()); err != nil || n != 3 {
		t.Fatalf("sweep after expiry deleted %d, %v; want 3", n, err)
	}
}

// A stored answer survives a restart: it lives in the same database as the
// webhooks.
func TestIdempotentReplaySurvivesRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "restart.db")
	m := startMain(t, db, "")
	e := &env{URL: m.URL(), Client: contract.Client(t)}
	first := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "across-restart")
	wantOK(t, first)
	shutdown(t, m)
	m = startMain(t, db, "")
	defer shutdown(t, m)
	e.URL = m.URL()
	wantReplayOf(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "across-restart"), first)
}

// The stub-only headers that let client developers produce every answer.
func TestSimulationHeaders(t *testing.T) {
	st := newCountingStore(t)
	e := newEnv(t, st, withIdempotency(200*time.Millisecond, 0))
	r := e.toggle(t, orderID, str(`{}`), "X-Sentstub-Simulate", "internal_error")
	wantError(t, r, 500, "INTERNAL_001", "An unexpected error occurred while toggling the webhook status")
	wantError(t, e.toggle(t, orderID, str(`{}`), "X-Sentstub-Simulate", "idempotency_unavailable", "Idempotency-Key", "sim"),
		503, "SERVICE_001", "Cache service temporarily unavailable")
	if n := st.updates.Load(); n != 0 {
		t.Errorf("a simulated failure ran the toggle %d times", n)
	}
	wantError(t, e.toggle(t, orderID, str(`{}`), "X-Sentstub-Simulate", "meteor"), 400, "VALIDATION_001", "")
	wantError(t, e.toggle(t, orderID, str(`{}`), "X-Sentstub-Delay", "31s"), 400, "VALIDATION_001", "")
	wantError(t, e.toggle(t, orderID, str(`{}`), "X-Sentstub-Delay", "soon"), 400, "VALIDATION_001", "")

	// A slow original and a duplicate: 409 after the wait.
	start := time.Now()
	done := make(chan response)
	go func() {
		done <- e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "slow", "X-Sentstub-Delay", "600ms")
	}()
	time.Sleep(100 * time.Millisecond)
	wantError(t, e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "slow"), 409, "CONFLICT_001", "")
	wantOK(t, <-done)
	if time.Since(start) < 600*time.Millisecond {
		t.Errorf("X-Sentstub-Delay did not delay")
	}
}

// A request that sends its Idempotency-Key twice (or any header that names
// one thing) is refused before the idempotency store hears of it: no key
// is claimed, nothing runs.
func TestRepeatedHeadersExecuteNothing(t *testing.T) {
	st := newCountingStore(t)
	e := newEnv(t, st)
	for _, headers := range [][]string{
		{"Idempotency-Key", "k1", "Idempotency-Key", "k2"},
		{"Idempotency-Key", "k1", "Idempotency-Key", "k1"},
		{"Idempotency-Key", "k1", "x-profile-id", storetest.AcmeEUProfileID, "x-profile-id", storetest.AcmeEUProfileID},
		{"Idempotency-Key", "k1", "x-api-key", storetest.AcmeOrgKey, "x-api-key", storetest.AcmeOrgKey},
	} {
		wantError(t, e.toggle(t, orderID, str(`{}`), headers...), http.StatusBadRequest, "VALIDATION_001", "Request validation failed")
	}
	if n, u := st.claims.Load(), st.updates.Load(); n != 0 || u != 0 {
		t.Errorf("requests with a repeated header made %d claims and %d updates, want none", n, u)
	}
	if r := e.toggle(t, orderID, str(`{}`), "Idempotency-Key", "k1"); wantOK(t, r)["is_active"] != false || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the key's first real request did not run: %s", r.Body)
	}
}

// A request that waits for one in flight here is woken when it finishes,
// not at its next poll. A later hold of the key (the first's lock timed
// out) wakes the first's waiters, to wait for it, and is not ended by the
// first's release.
func TestWaitingRoom(t *testing.T) {
	w := server.NewWaitingRoom()
	acme, globex := uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(storetest.GlobexOrgID)
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	if w.Done(acme, "k") != nil {
		t.Fatal("a key nobody holds has a channel to wait on")
	}
	hold := w.Hold(acme, "k")
	done := w.Done(acme, "k")
	if done == nil || w.Done(acme, "k") != done {
		t.Fatal("waiters of one hold do not share its channel")
	}
	if w.Done(globex, "k") != nil {
		t.Fatal("another account's key is held too")
	}
	if closed(done) {
		t.Fatal("the channel is closed before the request finished")
	}
	w.Release(acme, "k", hold)
	if !closed(done) || w.Done(acme, "k") != nil {
		t.Fatal("the release neither woke the waiters nor freed the key")
	}

	first := w.Hold(acme, "k")
	firstDone := w.Done(acme, "k")
	second := w.Hold(acme, "k")
	if !closed(firstDone) {
		t.Fatal("the first hold's waiters sleep on after another request took the key")
	}
	secondDone := w.Done(acme, "k")
	w.Release(acme, "k", first)
	if closed(secondDone) || w.Done(acme, "k") != secondDone {
		t.Fatal("the first request's release ended the second's hold")
	}
	w.Release(acme, "k", second)
	if !closed(secondDone) || w.Done(acme, "k") != nil {
		t.Fatal("the second release neither woke its waiters nor freed the key")
	}
}

// A key reused for the same request replays without a warning; reused for
// another body (short, or longer than the fingerprint's stack buffer), path
// or profile, it replays the first answer with one.
func TestIdempotencyFingerprint(t *testing.T) {
	const warning = "Idempotency-Key reused for a different request"
	long := func(active string) string { return `{"is_active":` + active + strings.Repeat(" ", 600) + `}` }
	for _, c := range []struct {
		name        string
		first, then string
		thenID      string
		thenHeaders []string
	}{
		{"short body", `{"is_active":true}`, `{"is_active":false}`, orderID, nil},
		{"long body", long("true"), long("false"), orderID, nil},
		{"path", `{}`, `{}`, receiptsID, nil},
		{"profile", `{}`, `{}`, orderID, []string{"x-profile-id", storetest.AcmeEUProfileID}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, newCountingStore(t))
			first := e.toggle(t, orderID, str(c.first), "Idempotency-Key", "k")
			wantOK(t, first)
			wantReplayOf(t, e.toggle(t, orderID, str(c.first), "Idempotency-Key", "k"), first)
			if n := strings.Count(e.Logs.String(), warning); n != 0 {
				t.Fatalf("the same request replayed with %d warnings", n)
			}
			wantReplayOf(t, e.toggle(t, c.thenID, str(c.then), append(c.thenHeaders, "Idempotency-Key", "k")...), first)
			if n := strings.Count(e.Logs.String(), warning); n != 1 {
				t.Errorf("another %s under the key replayed with %d warnings, want 1", c.name, n)
			}
		})
	}
}
