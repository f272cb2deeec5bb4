package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store"
	"github.com/sentstub/sentstub/store/storetest"
)

// TestMain stops the PostgreSQL server the tests started; the test binary
// then exits with m.Run's code.
func TestMain(m *testing.M) {
	m.Run()
	storetest.StopPostgres()
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) sentstub.Store { return storetest.MustOpenPostgres(tb) })
}

// Replicas starting at once on a new database: each applies the migrations
// or finds them applied, none fails, and each then works.
func TestPostgresConcurrentOpen(t *testing.T) {
	url := storetest.MustStartPostgres(t)
	const replicas = 4
	stores := make([]*store.PostgresStore, replicas)
	errs := make([]error, replicas)
	p := demoProvision(t)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if stores[i], errs[i] = store.OpenPostgres(ctx, url, store.Options{MaxConns: 2}); errs[i] != nil {
				return
			}
			// Every replica loads the fixtures at start too.
			errs[i] = stores[i].Provision(ctx, p)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if stores[i] != nil {
			defer stores[i].Close()
		}
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	for i, st := range stores {
		if _, err := st.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(storetest.OrderWebhookID)); err != nil {
			t.Errorf("replica %d: FindWebhook: %v", i, err)
		}
	}
}

// Dispatchers of several replicas share one database's outbox: a claim
// skips the deliveries another replica is claiming, and never gets one
// that another holds a lease on.
func TestPostgresConcurrentClaimers(t *testing.T) {
	url := storetest.MustStartPostgres(t)
	ctx := context.Background()
	const replicas = 4
	stores := make([]*store.PostgresStore, replicas)
	for i := range stores {
		st, err := store.OpenPostgres(ctx, url, store.Options{MaxConns: 2})
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer st.Close()
		stores[i] = st
	}
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	storetest.MustProvisionDemo(t, stores[0], now)
	hooks := []uuid.UUID{uuid.MustParse(storetest.OrderWebhookID), uuid.MustParse(storetest.EUWebhookID),
		uuid.MustParse(storetest.GlobexWebhookID)}
	const n = 400
	ds := make([]*sentstub.Delivery, n)
	for i := range ds {
		due := now.Add(-time.Duration(i%13) * time.Second)
		ds[i] = &sentstub.Delivery{ID: uuid.New(), WebhookID: hooks[i%len(hooks)], EventID: uuid.New(),
			EventType: "message.sent", EventData: []byte(`{}`), Status: sentstub.DeliveryPending,
			CreatedAt: now.Add(-time.Minute), NextAttemptAt: &due}
	}
	if err := stores[1].EnqueueDeliveries(ctx, ds); err != nil {
		t.Fatalf("EnqueueDeliveries: %v", err)
	}
	// Two claimers a replica, each with a connection of its own.
	storetest.ClaimConcurrently(t, func(i int) sentstub.Store { return stores[i%replicas] }, 2*replicas, 5, now, n)
}

func demoProvision(t *testing.T) *sentstub.Provision {
	t.Helper()
	rec := &recorder{}
	storetest.MustProvisionDemo(t, rec, time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC))
	return rec.p
}

// recorder is a Store that only keeps what it is asked to provision.
type recorder struct {
	sentstub.Store
	p *sentstub.Provision
}

func (r *recorder) Provision(_ context.Context, p *sentstub.Provision) error {
	r.p = p
	return nil
}

// A second open of a migrated database applies nothing and keeps the data.
func TestPostgresReopen(t *testing.T) {
	url := storetest.MustStartPostgres(t)
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustProvisionDemo(t, st, time.Now())
	off := false
	if _, err := st.UpdateWebhook(ctx, uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(storetest.OrderWebhookID),
		func(w *sentstub.Webhook) bool { return w.SetActive(&off, time.Now()) }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = store.OpenPostgres(ctx, url, store.Options{MaxConns: 1, ConnectTimeout: 5 * time.Second, StatementTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st.Close()
	w, err := st.FindWebhook(ctx, uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(storetest.OrderWebhookID))
	if err != nil || w.IsActive {
		t.Errorf("after reopening: %+v, %v; want the inactive webhook", w, err)
	}
}

// Ping answers with the database, and fails once it is gone.
func TestPostgresPingAndOpenErrors(t *testing.T) {
	st := storetest.MustOpenPostgres(t)
	if err := st.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping with an ended context succeeded")
	}

	// A port nobody listens on.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := store.OpenPostgres(ctx, "postgres://u:secret@127.0.0.1:1/x?sslmode=disable", store.Options{ConnectTimeout: time.Second}); err == nil {
		t.Error("OpenPostgres of an unreachable server succeeded")
	}
	if _, err := store.OpenPostgres(ctx, "postgres://h/db", store.Options{MaxConns: -1}); err == nil {
		t.Error("OpenPostgres with negative MaxConns succeeded")
	}
}

func TestOpenSelectsStore(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u@h/db":        true,
		"postgresql://u@h/db":      true,
		"PostgreSQL://u@h/db":      true,
		"sentstub.db":              false,
		":memory:":                 false,
		"/var/lib/postgres://x.db": false,
		"file:postgres.db":         false,
	} {
		if got := store.IsPostgresDSN(dsn); got != want {
			t.Errorf("IsPostgresDSN(%q) = %v, want %v", dsn, got, want)
		}
	}
	st, err := store.Open(context.Background(), ":memory:", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*store.SQLiteStore); !ok {
		t.Errorf("Open(:memory:) = %T, want *store.SQLiteStore", st)
	}
	pg, err := store.Open(context.Background(), storetest.MustStartPostgres(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if _, ok := pg.(*store.PostgresStore); !ok {
		t.Errorf("Open(postgres://...) = %T, want *store.PostgresStore", pg)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:s3cret@db:5432/sentstub?sslmode=disable": "postgres://app:xxxxx@db:5432/sentstub?sslmode=disable",
		"postgresql://db/sentstub?password=s3cret&user=app":      "postgresql://db/sentstub?password=xxxxx&user=app",
		"postgres://app@db/sentstub":                             "postgres://app@db/sentstub",
		"sentstub.db":                                            "sentstub.db",
	} {
		if got := store.RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
