package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store"
	"github.com/sentstub/sentstub/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) sentstub.Store { return storetest.MustOpenSQLite(tb) })
}

func TestSQLiteMemoryConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) sentstub.Store { return storetest.MustOpenSQLitePath(tb, ":memory:") })
}

// Stored answers outlive the process: the in-memory index of the SQLite
// store is rebuilt from the file when it is opened again.
func TestSQLiteAnswersSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "reopen.db")
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	acct := uuid.New()
	t0 := time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)
	for i, key := range []string{"old", "new"} {
		at := t0.Add(time.Duration(i) * time.Hour)
		c := sentstub.IdempotencyClaim{AccountID: acct, Key: key, RequestID: "req_" + key, Now: at, LockedUntil: at.Add(time.Minute)}
		if _, claimed, err := st.ClaimIdempotencyKey(ctx, c); err != nil || !claimed {
			t.Fatalf("claim %s: %v %v", key, claimed, err)
		}
		if ok, err := st.CompleteIdempotencyKey(ctx, acct, key, &sentstub.IdempotentResponse{RequestID: "req_" + key,
			Status: 200, Body: []byte(key), StoredAt: at, ExpiresAt: at.Add(24 * time.Hour)}); err != nil || !ok {
			t.Fatalf("complete %s: %v %v", key, ok, err)
		}
	}
	// A claim in flight is not kept: after a restart its key runs at once.
	if _, claimed, _ := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: acct, Key: "inflight",
		RequestID: "req_a", Now: t0, LockedUntil: t0.Add(time.Hour)}); !claimed {
		t.Fatal("claim inflight")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = storetest.MustOpenSQLitePath(t, path)
	now := t0.Add(24*time.Hour + 30*time.Minute) // "old" has expired, "new" has not
	claim := func(key string) (*sentstub.IdempotentResponse, bool) {
		stored, claimed, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: acct, Key: key,
			RequestID: "req_after_" + key, Now: now, LockedUntil: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return stored, claimed
	}
	if stored, _ := claim("new"); stored == nil || string(stored.Body) != "new" || stored.RequestID != "req_new" {
		t.Errorf("after reopening, the live answer is %+v", stored)
	}
	if _, claimed := claim("inflight"); !claimed {
		t.Errorf("a claim of the closed store still holds its key")
	}
	if n, err := st.SweepIdempotencyKeys(ctx, now, 100); err != nil || n != 1 {
		t.Errorf("sweep after reopening deleted %d, %v; want the expired answer", n, err)
	}
	if _, claimed := claim("old"); !claimed {
		t.Errorf("an expired answer still holds its key")
	}
}
