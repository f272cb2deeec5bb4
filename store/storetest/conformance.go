package storetest

import (
	"bytes"
	"context"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/fixtures"
)

// Run is the conformance suite: the behaviour every sentstub.Store must
// have. open returns a new, empty store that lives until the test ends.
func Run(t *testing.T, open func(tb testing.TB) sentstub.Store) {
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, open(t)) })
	t.Run("FindWebhook", func(t *testing.T) { testFindWebhook(t, open(t)) })
	t.Run("UpdateWebhook", func(t *testing.T) { testUpdateWebhook(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrentUpdates(t, open(t)) })
	t.Run("ProvisionKeepsState", func(t *testing.T) { testProvisionKeepsState(t, open(t)) })
	t.Run("ProvisionIsAtomic", func(t *testing.T) { testProvisionIsAtomic(t, open(t)) })
	t.Run("CreateWebhook", func(t *testing.T) { testCreateWebhook(t, open(t)) })
	t.Run("CreateWebhookUnknownOwner", func(t *testing.T) { testCreateWebhookUnknownOwner(t, open(t)) })
	t.Run("UpdateSigningSecret", func(t *testing.T) { testUpdateSigningSecret(t, open(t)) })
	t.Run("DeleteWebhook", func(t *testing.T) { testDeleteWebhook(t, open(t)) })
	t.Run("ListWebhooks", func(t *testing.T) { testListWebhooks(t, open(t)) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, open(t)) })
	t.Run("Outbox", func(t *testing.T) { runOutbox(t, open) })
	t.Run("ResetAccount", func(t *testing.T) { testResetAccount(t, open(t)) })
	t.Run("Idempotency", func(t *testing.T) { runIdempotency(t, open) })
	t.Run("RequestWebhookWrites", func(t *testing.T) { runRequestWebhookWrites(t, open) })
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

var created = time.Date(2026, 1, 15, 10, 30, 0, 123456000, time.UTC)

func testAccounts(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	org, err := st.FindAccountByKey(ctx, sentstub.HashAPIKey(AcmeOrgKey))
	if err != nil {
		t.Fatalf("FindAccountByKey(org key): %v", err)
	}
	if want := (sentstub.Account{ID: uuid.MustParse(AcmeOrgID), Name: "Acme"}); *org != want {
		t.Errorf("org key's account = %+v, want %+v", *org, want)
	}
	profile, err := st.FindAccountByKey(ctx, sentstub.HashAPIKey(AcmeEUKey))
	if err != nil {
		t.Fatalf("FindAccountByKey(profile key): %v", err)
	}
	if want := (sentstub.Account{ID: uuid.MustParse(AcmeEUProfileID), OrganizationID: uuid.MustParse(AcmeOrgID), Name: "Acme EU"}); *profile != want {
		t.Errorf("profile key's account = %+v, want %+v", *profile, want)
	}
	if _, err := st.FindAccountByKey(ctx, sentstub.HashAPIKey("sk_test_nobody")); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("FindAccountByKey(unknown) error = %v, want ENOTFOUND", err)
	}
	got, err := st.FindAccount(ctx, uuid.MustParse(AcmeEUProfileID))
	if err != nil || *got != *profile {
		t.Errorf("FindAccount(profile) = %+v, %v; want %+v", got, err, *profile)
	}
	if _, err := st.FindAccount(ctx, uuid.New()); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("FindAccount(unknown) error = %v, want ENOTFOUND", err)
	}
}

func testFindWebhook(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	p, err := fixtures.Parse(bytes.NewReader(fixtures.Demo), created)
	if err != nil {
		t.Fatalf("parse the demo fixture: %v", err)
	}
	if err := st.Provision(ctx, p); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	acme := uuid.MustParse(AcmeOrgID)
	got, err := st.FindWebhook(ctx, acme, uuid.MustParse(ReceiptsWebhookID))
	if err != nil {
		t.Fatalf("FindWebhook: %v", err)
	}
	want := &sentstub.Webhook{
		ID:                  uuid.MustParse(ReceiptsWebhookID),
		OwnerID:             acme,
		DisplayName:         "Delivery Receipts",
		EndpointURL:         "https://example.com/webhooks/receipts",
		IsActive:            false,
		EventTypes:          []string{"messages"},
		EventFilters:        map[string][]string{"message": {"delivered", "failed"}},
		RetryCount:          5,
		TimeoutSeconds:      10,
		ConsecutiveFailures: 10,
		CreatedAt:           created,
		UpdatedAt:           &created,
	}
	for _, w := range p.Webhooks {
		if w.ID == want.ID {
			want.SigningSecret = w.SigningSecret // the fixture's, whatever it is
		}
	}
	assertWebhook(t, got, want)

	order, err := st.FindWebhook(ctx, acme, uuid.MustParse(OrderWebhookID))
	if err != nil {
		t.Fatalf("FindWebhook(order): %v", err)
	}
	if order.EventFilters != nil || order.RetryCount != 3 || order.TimeoutSeconds != 30 {
		t.Errorf("defaults not kept: filters %v, retry %d, timeout %d", order.EventFilters, order.RetryCount, order.TimeoutSeconds)
	}
	for name, c := range map[string]struct{ owner, id string }{
		"another organization's":   {AcmeOrgID, GlobexWebhookID},
		"its own profile's":        {AcmeOrgID, EUWebhookID},
		"its organization's":       {AcmeEUProfileID, OrderWebhookID},
		"one that does not exist":  {AcmeOrgID, uuid.NewString()},
		"an owner that is unknown": {uuid.NewString(), OrderWebhookID},
	} {
		if _, err := st.FindWebhook(ctx, uuid.MustParse(c.owner), uuid.MustParse(c.id)); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("FindWebhook(%s) error = %v, want ENOTFOUND", name, err)
		}
	}
}

// assertWebhook checks that got is want, its times in UTC.
func assertWebhook(t *testing.T, got, want *sentstub.Webhook) {
	t.Helper()
	if got == nil {
		t.Errorf("webhook %s missing", want.ID)
		return
	}
	assertTime(t, "created_at", &got.CreatedAt, &want.CreatedAt)
	assertTime(t, "updated_at", got.UpdatedAt, want.UpdatedAt)
	assertTime(t, "last_delivery_attempt_at", got.LastDeliveryAttemptAt, want.LastDeliveryAttemptAt)
	assertTime(t, "last_successful_delivery_at", got.LastSuccessfulDeliveryAt, want.LastSuccessfulDeliveryAt)
	g, w := *got, *want
	g.CreatedAt, w.CreatedAt, g.UpdatedAt, w.UpdatedAt = time.Time{}, time.Time{}, nil, nil
	g.LastDeliveryAttemptAt, w.LastDeliveryAttemptAt, g.LastSuccessfulDeliveryAt, w.LastSuccessfulDeliveryAt = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("webhook =\n%+v\nwant\n%+v", g, w)
	}
}

// assertTime checks that got is the instant want, or nil like it, in UTC.
func assertTime(t *testing.T, field string, got, want *time.Time) {
	t.Helper()
	if (got == nil) != (want == nil) || got != nil && (!got.Equal(*want) || got.Location() != time.UTC) {
		t.Errorf("%s = %v, want %v in UTC", field, got, want)
	}
}

func testUpdateWebhook(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, id := uuid.MustParse(AcmeOrgID), uuid.MustParse(ReceiptsWebhookID)
	now := created.Add(time.Hour)
	yes := true
	saved, err := st.UpdateWebhook(ctx, acme, id, func(w *sentstub.Webhook) bool { return w.SetActive(&yes, now) })
	if err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	if !saved.IsActive || saved.ConsecutiveFailures != 0 || !saved.UpdatedAt.Equal(now) {
		t.Errorf("returned webhook: active %v, failures %d, updated %v", saved.IsActive, saved.ConsecutiveFailures, saved.UpdatedAt)
	}
	read, err := st.FindWebhook(ctx, acme, id)
	if err != nil {
		t.Fatalf("FindWebhook: %v", err)
	}
	assertWebhook(t, read, saved)

	// An update that reports no change writes nothing, even if it touched w.
	_, err = st.UpdateWebhook(ctx, acme, id, func(w *sentstub.Webhook) bool {
		w.DisplayName = "not saved"
		return false
	})
	if err != nil {
		t.Fatalf("UpdateWebhook(no change): %v", err)
	}
	if read, _ := st.FindWebhook(ctx, acme, id); read.DisplayName != "Delivery Receipts" {
		t.Errorf("an update reporting no change was saved: display name %q", read.DisplayName)
	}

	called := false
	_, err = st.UpdateWebhook(ctx, uuid.MustParse(GlobexOrgID), id, func(*sentstub.Webhook) bool { called = true; return true })
	if sentstub.ErrorCode(err) != sentstub.ENOTFOUND || called {
		t.Errorf("UpdateWebhook(another owner's) = %v, update called %v; want ENOTFOUND without calling it", err, called)
	}
}

func testConcurrentUpdates(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, id := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	const workers, flips = 8, 25
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		calls int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range flips {
				_, err := st.UpdateWebhook(ctx, acme, id, func(w *sentstub.Webhook) bool {
					mu.Lock()
					calls++
					mu.Unlock()
					// A counter in the name: a lost or doubled update shows.
					n, _ := strconv.Atoi(w.DisplayName)
					w.DisplayName = strconv.Itoa(n + 1)
					w.SetActive(nil, time.Now())
					return true
				})
				if err != nil {
					t.Errorf("UpdateWebhook: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	w, err := st.FindWebhook(ctx, acme, id)
	if err != nil {
		t.Fatalf("FindWebhook: %v", err)
	}
	if calls != workers*flips {
		t.Errorf("update called %d times, want %d", calls, workers*flips)
	}
	if !w.IsActive {
		t.Errorf("after an even number (%d) of flips the webhook is inactive", workers*flips)
	}
	if want := strconv.Itoa(workers * flips); w.DisplayName != want {
		t.Errorf("counter = %s after %s updates: an update was lost or doubled", w.DisplayName, want)
	}
}

func testProvisionKeepsState(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, id := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	toggled, err := st.UpdateWebhook(ctx, acme, id, func(w *sentstub.Webhook) bool { return w.SetActive(nil, created.Add(time.Minute)) })
	if err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	MustProvisionDemo(t, st, created.Add(time.Hour)) // a restart loads the same file again
	after, err := st.FindWebhook(ctx, acme, id)
	if err != nil {
		t.Fatalf("FindWebhook: %v", err)
	}
	assertWebhook(t, after, toggled)
}

func testProvisionIsAtomic(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	newOrg, newWebhook := uuid.New(), uuid.New()
	p := &sentstub.Provision{
		Accounts: []sentstub.ProvisionedAccount{{
			Account: sentstub.Account{ID: newOrg, Name: "Initech"},
			// Acme's key: it already belongs to another account.
			Keys: []sentstub.ProvisionedKey{{Hash: sentstub.HashAPIKey(AcmeOrgKey), Label: "organizations[0].api_keys[0]"}},
		}},
		Webhooks: []sentstub.Webhook{{ID: newWebhook, OwnerID: newOrg, DisplayName: "x", EndpointURL: "https://x.example",
			EventTypes: []string{}, RetryCount: 3, TimeoutSeconds: 30, CreatedAt: created}},
	}
	err := st.Provision(ctx, p)
	if sentstub.ErrorCode(err) != sentstub.EINVALID {
		t.Fatalf("Provision(a key of another account) error = %v, want EINVALID", err)
	}
	if _, err := st.FindAccount(ctx, newOrg); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("a failed provision left its organization behind (error %v)", err)
	}
	if a, _ := st.FindAccountByKey(ctx, sentstub.HashAPIKey(AcmeOrgKey)); a == nil || a.ID != uuid.MustParse(AcmeOrgID) {
		t.Errorf("a failed provision moved Acme's key to %+v", a)
	}

	orphan := &sentstub.Provision{Webhooks: []sentstub.Webhook{{ID: uuid.New(), OwnerID: uuid.New(), DisplayName: "x",
		EndpointURL: "https://x.example", EventTypes: []string{}, RetryCount: 3, TimeoutSeconds: 30, CreatedAt: created}}}
	if err := st.Provision(ctx, orphan); sentstub.ErrorCode(err) != sentstub.EINVALID {
		t.Errorf("Provision(a webhook of an unknown owner) error = %v, want EINVALID", err)
	}
}
