package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

// runIdempotency is the conformance suite of sentstub.IdempotencyStore.
func runIdempotency(t *testing.T, open func(tb testing.TB) sentstub.Store) {
	t.Run("ClaimCompleteReplay", func(t *testing.T) { testClaimCompleteReplay(t, open(t)) })
	t.Run("InFlightAndLockTimeout", func(t *testing.T) { testInFlight(t, open(t)) })
	t.Run("Release", func(t *testing.T) { testRelease(t, open(t)) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, open(t)) })
	t.Run("ScopedByAccount", func(t *testing.T) { testScopedByAccount(t, open(t)) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testConcurrentClaims(t, open(t)) })
	t.Run("Sweep", func(t *testing.T) { testSweep(t, open(t)) })
	t.Run("RequestWrites", func(t *testing.T) { runRequestWrites(t, open) })
}

var t0 = time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)

func claim(account uuid.UUID, key, requestID string, now time.Time) sentstub.IdempotencyClaim {
	return sentstub.IdempotencyClaim{AccountID: account, Key: key, RequestID: requestID, Fingerprint: "fp-" + requestID,
		Now: now, LockedUntil: now.Add(30 * time.Second)}
}

func response(requestID string, at time.Time) *sentstub.IdempotentResponse {
	return &sentstub.IdempotentResponse{RequestID: requestID, Fingerprint: "fp-" + requestID, Status: 200,
		Headers:  map[string]string{"Content-Type": "application/json", "X-Sandbox": "true"},
		Body:     []byte(`{"success":true,"meta":{"request_id":"` + requestID + `"}}`),
		StoredAt: at, ExpiresAt: at.Add(24 * time.Hour)}
}

func mustClaim(t *testing.T, st sentstub.Store, c sentstub.IdempotencyClaim) (*sentstub.IdempotentResponse, bool) {
	t.Helper()
	stored, claimed, err := st.ClaimIdempotencyKey(context.Background(), c)
	if err != nil {
		t.Fatalf("ClaimIdempotencyKey(%s by %s): %v", c.Key, c.RequestID, err)
	}
	if claimed && stored != nil {
		t.Fatalf("ClaimIdempotencyKey both claimed and returned a stored response")
	}
	return stored, claimed
}

// mustComplete runs r.RequestID's request on the key without writes and
// completes it with r.
func mustComplete(t *testing.T, st sentstub.Store, account uuid.UUID, key string, r *sentstub.IdempotentResponse) bool {
	t.Helper()
	_, run := st.BeginIdempotentRequest(context.Background(), account, key, r.RequestID)
	ok, err := run.Complete(r)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return ok
}

func mustRelease(t *testing.T, st sentstub.Store, account uuid.UUID, key, requestID string) {
	t.Helper()
	_, run := st.BeginIdempotentRequest(context.Background(), account, key, requestID)
	if err := run.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func testClaimCompleteReplay(t *testing.T, st sentstub.Store) {
	acct := uuid.New()
	if _, claimed := mustClaim(t, st, claim(acct, "k1", "req_first", t0)); !claimed {
		t.Fatal("the first claim of a new key was refused")
	}
	want := response("req_first", t0.Add(time.Second))
	want.Body = append(want.Body, 0, 0xff) // bytes, not text
	sent := *want
	sent.Body = bytes.Clone(want.Body)
	sent.Headers = map[string]string{"Content-Type": "application/json", "X-Sandbox": "true"}
	if !mustComplete(t, st, acct, "k1", &sent) {
		t.Fatal("completing a held claim failed")
	}
	// The caller reuses what it passed (the server pools answer buffers).
	for i := range sent.Body {
		sent.Body[i] = 'x'
	}
	sent.Headers["X-Sandbox"] = "false"
	got, claimed := mustClaim(t, st, claim(acct, "k1", "req_second", t0.Add(time.Minute)))
	if claimed || got == nil {
		t.Fatalf("a used key was claimed again (claimed %v, stored %v)", claimed, got)
	}
	if got.RequestID != "req_first" || got.Fingerprint != "fp-req_first" || got.Status != 200 ||
		!bytes.Equal(got.Body, want.Body) || got.Headers["X-Sandbox"] != "true" || len(got.Headers) != 2 ||
		!got.StoredAt.Equal(want.StoredAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("stored response = %+v\nwant %+v", got, want)
	}
	// Completing twice does nothing: the record is no longer a claim.
	if mustComplete(t, st, acct, "k1", response("req_first", t0.Add(2*time.Second))) {
		t.Errorf("a stored response was overwritten")
	}
}

func testInFlight(t *testing.T, st sentstub.Store) {
	acct := uuid.New()
	mustClaim(t, st, claim(acct, "k", "req_a", t0))
	stored, claimed := mustClaim(t, st, claim(acct, "k", "req_b", t0.Add(29*time.Second)))
	if claimed || stored != nil {
		t.Fatalf("a key in flight was claimed (%v) or replayed (%v)", claimed, stored)
	}
	// After the lock timeout, the holder is presumed dead: the key is taken.
	if _, claimed := mustClaim(t, st, claim(acct, "k", "req_c", t0.Add(30*time.Second))); !claimed {
		t.Fatal("a claim past its lock timeout was not taken over")
	}
	// The dead holder's late completion is refused; the new holder's wins.
	if mustComplete(t, st, acct, "k", response("req_a", t0.Add(31*time.Second))) {
		t.Errorf("a lost claim completed")
	}
	if !mustComplete(t, st, acct, "k", response("req_c", t0.Add(31*time.Second))) {
		t.Errorf("the new holder could not complete")
	}
	if got, _ := mustClaim(t, st, claim(acct, "k", "req_d", t0.Add(time.Minute))); got == nil || got.RequestID != "req_c" {
		t.Errorf("replay = %+v, want req_c's", got)
	}
}

func testRelease(t *testing.T, st sentstub.Store) {
	acct := uuid.New()
	mustClaim(t, st, claim(acct, "k", "req_a", t0))
	// Only the holder releases.
	mustRelease(t, st, acct, "k", "req_other")
	if _, claimed := mustClaim(t, st, claim(acct, "k", "req_b", t0)); claimed {
		t.Fatal("a release by another request freed the key")
	}
	mustRelease(t, st, acct, "k", "req_a")
	if _, claimed := mustClaim(t, st, claim(acct, "k", "req_b", t0)); !claimed {
		t.Fatal("a released key could not be claimed")
	}
	mustComplete(t, st, acct, "k", response("req_b", t0))
	// A stored response is never released.
	mustRelease(t, st, acct, "k", "req_b")
	if got, _ := mustClaim(t, st, claim(acct, "k", "req_c", t0)); got == nil {
		t.Fatal("release dropped a stored response")
	}
}

func testExpiry(t *testing.T, st sentstub.Store) {
	acct := uuid.New()
	mustClaim(t, st, claim(acct, "k", "req_a", t0))
	mustComplete(t, st, acct, "k", response("req_a", t0)) // expires at t0+24h
	if got, _ := mustClaim(t, st, claim(acct, "k", "req_b", t0.Add(24*time.Hour-time.Microsecond))); got == nil {
		t.Fatal("a response was gone before its 24 hours")
	}
	if _, claimed := mustClaim(t, st, claim(acct, "k", "req_c", t0.Add(24*time.Hour))); !claimed {
		t.Fatal("an expired response still blocks its key")
	}
}

func testScopedByAccount(t *testing.T, st sentstub.Store) {
	a, b := uuid.New(), uuid.New()
	mustClaim(t, st, claim(a, "shared", "req_a", t0))
	mustComplete(t, st, a, "shared", response("req_a", t0))
	if _, claimed := mustClaim(t, st, claim(b, "shared", "req_b", t0)); !claimed {
		t.Fatal("one account's key blocked another account")
	}
	if got, _ := mustClaim(t, st, claim(a, "Shared", "req_c", t0)); got != nil {
		t.Fatal("keys are case-insensitive; they must not be")
	}
}

func testConcurrentClaims(t *testing.T, st sentstub.Store) {
	acct := uuid.New()
	const n = 16
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		owners []string
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("req_%d", i)
			_, claimed, err := st.ClaimIdempotencyKey(context.Background(), claim(acct, "race", id, t0))
			if err != nil {
				t.Errorf("claim: %v", err)
				return
			}
			if claimed {
				mu.Lock()
				owners = append(owners, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(owners) != 1 {
		t.Fatalf("%d concurrent claims of one key won: %v", len(owners), owners)
	}
}

func testSweep(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	acct := uuid.New()
	for i := range 5 {
		key := fmt.Sprintf("old-%d", i)
		mustClaim(t, st, claim(acct, key, "req_"+key, t0))
		mustComplete(t, st, acct, key, response("req_"+key, t0))
	}
	mustClaim(t, st, claim(acct, "abandoned", "req_abandoned", t0)) // lock until t0+30s
	mustClaim(t, st, claim(acct, "fresh", "req_fresh", t0.Add(24*time.Hour)))
	mustComplete(t, st, acct, "fresh", response("req_fresh", t0.Add(24*time.Hour)))

	now := t0.Add(24 * time.Hour)
	n, err := st.SweepIdempotencyKeys(ctx, now, 4)
	if err != nil || n != 4 {
		t.Fatalf("first sweep deleted %d, %v; want 4 (the limit)", n, err)
	}
	n, err = st.SweepIdempotencyKeys(ctx, now, 100)
	if err != nil || n != 2 {
		t.Fatalf("second sweep deleted %d, %v; want the 2 left", n, err)
	}
	if got, _ := mustClaim(t, st, claim(acct, "fresh", "req_x", now)); got == nil {
		t.Errorf("sweep deleted a live response")
	}
}

// runRequestWrites checks that an idempotent request's writes commit with
// its end, and only then: with its answer (Complete), alone (Release), or
// not at all (Abort).
func runRequestWrites(t *testing.T, open func(tb testing.TB) sentstub.Store) {
	acme, id := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID) // active
	// begin claims key and runs a request that deactivates the webhook,
	// reading its own write back.
	begin := func(t *testing.T, st sentstub.Store, ctx context.Context, key string) sentstub.IdempotentRequest {
		t.Helper()
		if _, claimed := mustClaim(t, st, claim(acme, key, "req_"+key, t0)); !claimed {
			t.Fatal("claim refused")
		}
		ctx, run := st.BeginIdempotentRequest(ctx, acme, key, "req_"+key)
		no := false
		if _, err := st.UpdateWebhook(ctx, acme, id, func(w *sentstub.Webhook) bool { return w.SetActive(&no, t0) }); err != nil {
			t.Fatalf("UpdateWebhook in the request: %v", err)
		}
		if w, err := st.FindWebhook(ctx, acme, id); err != nil || w.IsActive {
			t.Fatalf("the request does not read its own write: %+v, %v", w, err)
		}
		return run
	}
	// active reports whether the webhook is active, as FindWebhook reads it
	// (a store may answer it from memory) and as its row in a list says.
	active := func(t *testing.T, st sentstub.Store) bool {
		t.Helper()
		return activeIn(t, st, acme, id)
	}

	t.Run("Complete", func(t *testing.T) {
		st := open(t)
		MustProvisionDemo(t, st, created)
		// The client went away: the request still ends.
		ctx, cancel := context.WithCancel(context.Background())
		run := begin(t, st, ctx, "k")
		cancel()
		if stored, err := run.Complete(response("req_k", t0)); err != nil || !stored {
			t.Fatalf("Complete = %v, %v", stored, err)
		}
		if active(t, st) {
			t.Error("a completed request's write was not committed")
		}
		if got, _ := mustClaim(t, st, claim(acme, "k", "req_again", t0.Add(time.Second))); got == nil || got.RequestID != "req_k" {
			t.Errorf("replay = %+v, want req_k's answer", got)
		}
		if _, err := run.Complete(response("req_k", t0)); err == nil {
			t.Error("a request ended twice")
		}
	})
	t.Run("Release", func(t *testing.T) {
		st := open(t)
		MustProvisionDemo(t, st, created)
		if err := begin(t, st, context.Background(), "k").Release(); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if active(t, st) {
			t.Error("a released request's write was not committed")
		}
		if _, claimed := mustClaim(t, st, claim(acme, "k", "req_again", t0)); !claimed {
			t.Error("a released key could not be claimed")
		}
	})
	t.Run("Abort", func(t *testing.T) {
		st := open(t)
		MustProvisionDemo(t, st, created)
		run := begin(t, st, context.Background(), "k")
		if err := run.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if !active(t, st) {
			t.Error("an aborted request's write was kept")
		}
		if _, claimed := mustClaim(t, st, claim(acme, "k", "req_again", t0)); !claimed {
			t.Error("an aborted request's key could not be claimed")
		}
		if err := run.Abort(); err == nil {
			t.Error("a request ended twice")
		}
		// The store still works, within requests and without.
		if err := begin(t, st, context.Background(), "k2").Release(); err != nil || active(t, st) {
			t.Errorf("a request after an abort: %v, active %v", err, active(t, st))
		}
	})
	t.Run("AbortAfterSeveralWrites", func(t *testing.T) {
		st := open(t)
		MustProvisionDemo(t, st, created)
		ctx, run := st.BeginIdempotentRequest(context.Background(), acme, "k", "req_k")
		if _, claimed := mustClaim(t, st, claim(acme, "k", "req_k", t0)); !claimed {
			t.Fatal("claim refused")
		}
		receipts := uuid.MustParse(ReceiptsWebhookID) // inactive
		no, yes := false, true
		for _, u := range []struct {
			id     uuid.UUID
			active *bool
		}{{id, &no}, {receipts, &yes}, {id, &yes}, {id, &no}} {
			if _, err := st.UpdateWebhook(ctx, acme, u.id, func(w *sentstub.Webhook) bool { return w.SetActive(u.active, t0) }); err != nil {
				t.Fatalf("UpdateWebhook in the request: %v", err)
			}
		}
		if err := run.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if !active(t, st) || activeIn(t, st, acme, receipts) {
			t.Error("an aborted request's writes were kept")
		}
	})
}

// activeIn reports whether owner's webhook id is active, as FindWebhook
// reads it and as its row in a list of the owner's webhooks says; the two
// must agree.
func activeIn(t *testing.T, st sentstub.Store, owner, id uuid.UUID) bool {
	t.Helper()
	w, err := st.FindWebhook(context.Background(), owner, id)
	if err != nil {
		t.Fatalf("FindWebhook: %v", err)
	}
	page, _, err := st.ListWebhooks(context.Background(), owner, sentstub.WebhookFilter{Limit: 100})
	if err != nil {
		t.Fatalf("ListWebhooks: %v", err)
	}
	for _, row := range page {
		if row.ID == id {
			if row.IsActive != w.IsActive || !sameTimes(row.UpdatedAt, w.UpdatedAt) {
				t.Fatalf("webhook %s: FindWebhook says active %v, updated %v; its row %v, %v", id, w.IsActive, w.UpdatedAt, row.IsActive, row.UpdatedAt)
			}
			return w.IsActive
		}
	}
	t.Fatalf("webhook %s is not in its owner's list", id)
	return false
}

func sameTimes(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}
