package store_test

import (
	"context"
	"os"
	"os/exec"
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
	st, err := store.OpenSQLite(ctx, path, store.Options{})
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
		_, run := st.BeginIdempotentRequest(ctx, acct, key, "req_"+key)
		if ok, err := run.Complete(&sentstub.IdempotentResponse{RequestID: "req_" + key,
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

// A reset deletes the account's stored answers from the in-memory index
// too, and no one else's: from a file, where the index points at rows, and
// from a database in memory, where it holds the answers themselves.
func TestSQLiteResetAccountIndex(t *testing.T) {
	t.Run("file", func(t *testing.T) { testResetAccountIndex(t, storetest.MustOpenSQLite(t)) })
	t.Run("memory", func(t *testing.T) { testResetAccountIndex(t, storetest.MustOpenSQLitePath(t, ":memory:")) })
}

func testResetAccountIndex(t *testing.T, st *store.SQLiteStore) {
	ctx := context.Background()
	storetest.MustProvisionDemo(t, st, time.Now())
	acme, globex := uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(storetest.GlobexOrgID)
	t0 := time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)
	for _, a := range []struct {
		account uuid.UUID
		key     string
	}{{acme, "a"}, {acme, "b"}, {globex, "a"}} {
		if _, claimed, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: a.account, Key: a.key,
			RequestID: "req_" + a.key, Now: t0, LockedUntil: t0.Add(time.Minute)}); err != nil || !claimed {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		_, run := st.BeginIdempotentRequest(ctx, a.account, a.key, "req_"+a.key)
		if ok, err := run.Complete(&sentstub.IdempotentResponse{RequestID: "req_" + a.key, Status: 200,
			Body: []byte(a.key), StoredAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}); err != nil || !ok {
			t.Fatalf("complete: %v %v", ok, err)
		}
	}
	if n := st.AnswerIndexSize(); n != 3 {
		t.Fatalf("the index holds %d answers, want 3", n)
	}
	if err := st.ResetAccount(ctx, acme, nil); err != nil {
		t.Fatal(err)
	}
	if n := st.AnswerIndexSize(); n != 1 {
		t.Errorf("after a reset of Acme, the index holds %d answers, want Globex's 1", n)
	}
}

// crashDBEnv names the database that TestSQLiteCrashInsideRequest's child
// process writes into before it kills itself.
const crashDBEnv = "SENTSTUB_TEST_CRASH_DB"

// A process that dies in the middle of an idempotent request, after the
// operation's write and before its answer is stored, leaves neither: the
// webhook is as it was and the key runs again. Were the write committed
// on its own, the retry would apply it a second time (a toggle would flip
// back).
func TestSQLiteCrashInsideRequest(t *testing.T) {
	ctx := context.Background()
	acme, id := uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(storetest.OrderWebhookID)
	t0 := time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)
	if path := os.Getenv(crashDBEnv); path != "" {
		st, err := store.OpenSQLite(ctx, path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, claimed, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: acme, Key: "k",
			RequestID: "req_crash", Now: t0, LockedUntil: t0.Add(time.Minute)}); err != nil || !claimed {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		reqCtx, _ := st.BeginIdempotentRequest(ctx, acme, "k", "req_crash")
		no := false
		if _, err := st.UpdateWebhook(reqCtx, acme, id, func(w *sentstub.Webhook) bool { return w.SetActive(&no, t0) }); err != nil {
			t.Fatal(err)
		}
		self, _ := os.FindProcess(os.Getpid())
		self.Kill()
		select {}
	}

	path := filepath.Join(t.TempDir(), "crash.db")
	st, err := store.OpenSQLite(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustProvisionDemo(t, st, t0)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run", "^TestSQLiteCrashInsideRequest$")
	child.Env = append(os.Environ(), crashDBEnv+"="+path)
	out, err := child.CombinedOutput()
	if child.ProcessState == nil || child.ProcessState.Exited() {
		t.Fatalf("the child did not die inside the request (%v):\n%s", err, out)
	}

	st = storetest.MustOpenSQLitePath(t, path)
	if w, err := st.FindWebhook(ctx, acme, id); err != nil || !w.IsActive {
		t.Errorf("after the crash, the webhook is %+v (%v); want it active, as before the request", w, err)
	}
	if stored, claimed, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: acme, Key: "k",
		RequestID: "req_retry", Now: t0, LockedUntil: t0.Add(time.Minute)}); err != nil || !claimed || stored != nil {
		t.Errorf("after the crash, a retry claims %v, replays %+v, %v; want it to run", claimed, stored, err)
	}
}

// Stored answers are found by the full hash of (account, key): two keys
// whose short slot (the table's 64-bit column) is the same each get their
// own answer, after a restart too, and sweeping one keeps the other.
func TestSQLiteAnswersOfCollidingSlots(t *testing.T) {
	defer store.SetSlotOf(func(uuid.UUID, string) int64 { return 42 })()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "collide.db")
	st, err := store.OpenSQLite(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	account := uuid.New()
	t0 := time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)
	for i, key := range []string{"first", "second"} {
		c := sentstub.IdempotencyClaim{AccountID: account, Key: key, RequestID: "req_" + key, Now: t0, LockedUntil: t0.Add(time.Minute)}
		if _, claimed, err := st.ClaimIdempotencyKey(ctx, c); err != nil || !claimed {
			t.Fatalf("claim %s: %v, %v", key, claimed, err)
		}
		_, run := st.BeginIdempotentRequest(ctx, account, key, c.RequestID)
		// The first answer expires after an hour, the second after a day.
		if ok, err := run.Complete(&sentstub.IdempotentResponse{RequestID: c.RequestID, Status: 200, Body: []byte(key),
			StoredAt: t0, ExpiresAt: t0.Add(time.Duration(1+23*i) * time.Hour)}); err != nil || !ok {
			t.Fatalf("complete %s: %v, %v", key, ok, err)
		}
	}
	replays := func(st *store.SQLiteStore, now time.Time, keys ...string) {
		t.Helper()
		for _, key := range keys {
			stored, _, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: account, Key: key,
				RequestID: "req_again", Now: now, LockedUntil: now.Add(time.Minute)})
			if err != nil || stored == nil || string(stored.Body) != key {
				t.Errorf("key %q: stored answer %+v, %v; want its own", key, stored, err)
			}
		}
	}
	replays(st, t0.Add(time.Minute), "first", "second")
	st.Close()
	if st, err = store.OpenSQLite(ctx, path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	replays(st, t0.Add(time.Minute), "first", "second")
	if n, err := st.SweepIdempotencyKeys(ctx, t0.Add(2*time.Hour), 10); err != nil || n != 1 {
		t.Errorf("sweep after two hours: %d, %v; want the first answer deleted", n, err)
	}
	replays(st, t0.Add(2*time.Hour), "second")
}

// A sweep drops expired answers from the in-memory index too, oldest
// first, and leaves a later answer to the same key alone: the index is
// what a database in memory keeps its answers in.
func TestSQLiteSweepDropsIndexedAnswers(t *testing.T) {
	t.Run("file", func(t *testing.T) { testSweepDropsIndexedAnswers(t, storetest.MustOpenSQLite(t)) })
	t.Run("memory", func(t *testing.T) { testSweepDropsIndexedAnswers(t, storetest.MustOpenSQLitePath(t, ":memory:")) })
}

func testSweepDropsIndexedAnswers(t *testing.T, st *store.SQLiteStore) {
	ctx := context.Background()
	storetest.MustProvisionDemo(t, st, time.Now())
	acme := uuid.MustParse(storetest.AcmeOrgID)
	t0 := time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)
	answer := func(key string, at time.Time) {
		t.Helper()
		if _, claimed, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: acme, Key: key,
			RequestID: "req_" + key, Now: at, LockedUntil: at.Add(time.Minute)}); err != nil || !claimed {
			t.Fatalf("claim %s: %v %v", key, claimed, err)
		}
		_, run := st.BeginIdempotentRequest(ctx, acme, key, "req_"+key)
		if ok, err := run.Complete(&sentstub.IdempotentResponse{RequestID: "req_" + key, Status: 200,
			Body: []byte(key), StoredAt: at, ExpiresAt: at.Add(time.Hour)}); err != nil || !ok {
			t.Fatalf("complete %s: %v %v", key, ok, err)
		}
	}
	answer("a", t0)
	answer("b", t0.Add(time.Minute))
	answer("c", t0.Add(2*time.Hour))
	// "a" expired at t0+1h: stored again, it must outlive the sweep of its
	// first answer.
	answer("a", t0.Add(2*time.Hour))
	if n := st.AnswerIndexSize(); n != 3 {
		t.Fatalf("the index holds %d answers, want 3", n)
	}
	if n, err := st.SweepIdempotencyKeys(ctx, t0.Add(90*time.Minute), 1); err != nil || n != 1 {
		t.Fatalf("sweep with a limit of 1 = %d, %v; want 1 (the first \"a\")", n, err)
	}
	if n, err := st.SweepIdempotencyKeys(ctx, t0.Add(90*time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("second sweep = %d, %v; want 1 (\"b\")", n, err)
	}
	if n := st.AnswerIndexSize(); n != 2 {
		t.Fatalf("after the sweeps the index holds %d answers, want 2 (the second \"a\", and \"c\")", n)
	}
	stored, _, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: acme, Key: "a",
		RequestID: "req_again", Now: t0.Add(90 * time.Minute), LockedUntil: t0.Add(91 * time.Minute)})
	if err != nil || stored == nil || string(stored.Body) != "a" {
		t.Fatalf("the second answer to \"a\" after the sweeps: %+v, %v", stored, err)
	}
}
