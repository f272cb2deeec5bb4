package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

// Accounts of the tests that need owners without the demo's webhooks.
var (
	initechOrg     = uuid.MustParse("6f1d7c2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f")
	initechProfile = uuid.MustParse("6f1d7c2e-3b4a-4c5d-8e9f-0a1b2c3d4e60") // a profile of Initech
	hooliOrg       = uuid.MustParse("8a9b0c1d-2e3f-4a5b-9c6d-7e8f9a0b1c2d")
)

// mustProvisionInitech loads Initech, its profile and Hooli, with no
// webhooks.
func mustProvisionInitech(t *testing.T, st sentstub.Store) {
	t.Helper()
	if err := st.Provision(context.Background(), &sentstub.Provision{Accounts: []sentstub.ProvisionedAccount{
		{Account: sentstub.Account{ID: initechOrg, Name: "Initech"}},
		{Account: sentstub.Account{ID: initechProfile, OrganizationID: initechOrg, Name: "Initech EU"}},
		{Account: sentstub.Account{ID: hooliOrg, Name: "Hooli"}},
	}}); err != nil {
		t.Fatalf("provision: %v", err)
	}
}

// seqID returns a fixed id whose order among seqIDs is n's.
func seqID(n int) uuid.UUID {
	return uuid.MustParse(fmt.Sprintf("00000000-0000-4000-8000-%012d", n))
}

// newWebhook returns a webhook of owner, with a new id, every setting
// given, created (and updated) at created.
func newWebhook(owner uuid.UUID, name, url string, created time.Time) *sentstub.Webhook {
	created = sentstub.Timestamp(created)
	return &sentstub.Webhook{
		ID: uuid.New(), OwnerID: owner, DisplayName: name, EndpointURL: url, IsActive: true,
		EventTypes: []string{"message"}, RetryCount: 3, TimeoutSeconds: 30,
		CreatedAt: created, UpdatedAt: &created, SigningSecret: "whsec_" + name,
	}
}

func mustCreateWebhook(t *testing.T, st sentstub.Store, ctx context.Context, w *sentstub.Webhook) {
	t.Helper()
	if err := st.CreateWebhook(ctx, w.Clone()); err != nil {
		t.Fatalf("CreateWebhook(%s): %v", w.DisplayName, err)
	}
}

func mustFindWebhook(t *testing.T, st sentstub.Store, ctx context.Context, owner, id uuid.UUID) *sentstub.Webhook {
	t.Helper()
	w, err := st.FindWebhook(ctx, owner, id)
	if err != nil {
		t.Fatalf("FindWebhook(%s): %v", id, err)
	}
	return w
}

func mustListWebhooks(t *testing.T, st sentstub.Store, ctx context.Context, owner uuid.UUID, f sentstub.WebhookFilter) ([]*sentstub.Webhook, int) {
	t.Helper()
	page, total, err := st.ListWebhooks(ctx, owner, f)
	if err != nil {
		t.Fatalf("ListWebhooks(%+v): %v", f, err)
	}
	return page, total
}

// newestFirst returns the ids of ws in the order of a list: by created_at,
// then by id, both descending.
func newestFirst(ws []*sentstub.Webhook) []uuid.UUID {
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b *sentstub.Webhook) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
	ids := make([]uuid.UUID, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

func webhookIDs(ws []*sentstub.Webhook) []uuid.UUID {
	ids := make([]uuid.UUID, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

// findWebhookIn returns the webhook id of ws, or nil.
func findWebhookIn(ws []*sentstub.Webhook, id uuid.UUID) *sentstub.Webhook {
	for _, w := range ws {
		if w.ID == id {
			return w
		}
	}
	return nil
}

func testCreateWebhook(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme := uuid.MustParse(AcmeOrgID)
	// Times in another zone, with nanoseconds: they read back in UTC, to
	// the microsecond.
	zone := time.FixedZone("UTC+5:30", 5*3600+30*60)
	at := func(minutes int) *time.Time {
		v := time.Date(2026, 2, 1, 8, minutes, 7, 123456789, zone)
		return &v
	}
	w := &sentstub.Webhook{
		ID: uuid.New(), OwnerID: acme, DisplayName: "Everything Set", EndpointURL: "https://example.com/hooks/all?x=1",
		IsActive: false, EventTypes: []string{"message", "template"},
		EventFilters: map[string][]string{"message": {"delivered", "failed"}}, RetryCount: 5, TimeoutSeconds: 120,
		ConsecutiveFailures: 7, LastDeliveryAttemptAt: at(1), LastSuccessfulDeliveryAt: at(2),
		CreatedAt: *at(0), UpdatedAt: at(3), SigningSecret: "whsec_c2VjcmV0IGtleSBvZiB0aGUgdGVzdA==",
	}
	want := w.Clone()
	want.CreatedAt = sentstub.Timestamp(w.CreatedAt)
	for _, p := range []**time.Time{&want.LastDeliveryAttemptAt, &want.LastSuccessfulDeliveryAt, &want.UpdatedAt} {
		u := sentstub.Timestamp(**p)
		*p = &u
	}
	if err := st.CreateWebhook(ctx, w); err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	// What the caller does with w afterwards is not the store's.
	w.DisplayName, w.EventTypes[0], w.EventFilters["message"][0] = "changed", "changed", "changed"

	assertWebhook(t, mustFindWebhook(t, st, ctx, acme, want.ID), want)
	page, total := mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Limit: 10})
	if total != 3 || findWebhookIn(page, want.ID) == nil {
		t.Fatalf("ListWebhooks after a create: total %d, ids %v; want 3 with %s", total, webhookIDs(page), want.ID)
	}
	assertWebhook(t, findWebhookIn(page, want.ID), want)
	// Nor is what it does with what it read.
	page[0].DisplayName, page[0].EventTypes[0] = "mutated", "mutated"
	found := mustFindWebhook(t, st, ctx, acme, want.ID)
	found.DisplayName, found.EventTypes[0], found.EventFilters["message"][0] = "mutated", "mutated", "mutated"
	assertWebhook(t, mustFindWebhook(t, st, ctx, acme, want.ID), want)
	page, _ = mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Search: "Everything", Limit: 10})
	if len(page) != 1 {
		t.Fatalf("search for the created webhook found %d", len(page))
	}
	assertWebhook(t, page[0], want)

	// A profile owns webhooks too; its organization does not see them.
	eu := uuid.MustParse(AcmeEUProfileID)
	pw := newWebhook(eu, "EU Hook", "https://eu.example.com/hook", created.Add(time.Hour))
	mustCreateWebhook(t, st, ctx, pw)
	assertWebhook(t, mustFindWebhook(t, st, ctx, eu, pw.ID), pw)
	if _, err := st.FindWebhook(ctx, acme, pw.ID); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("FindWebhook(a profile's, by its organization) error = %v, want ENOTFOUND", err)
	}

	// Provision keeps the signing secret it is given, an empty one included.
	globex := uuid.MustParse(GlobexOrgID)
	prov := *newWebhook(globex, "Provisioned", "https://globex.example.com/hook", created)
	prov.SigningSecret = "whsec_cHJvdmlzaW9uZWQ="
	if err := st.Provision(ctx, &sentstub.Provision{Webhooks: []sentstub.Webhook{prov}}); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if got := mustFindWebhook(t, st, ctx, globex, prov.ID); got.SigningSecret != prov.SigningSecret {
		t.Errorf("provisioned signing secret = %q, want %q", got.SigningSecret, prov.SigningSecret)
	}
	page, _ = mustListWebhooks(t, st, ctx, globex, sentstub.WebhookFilter{Search: "Provisioned", Limit: 10})
	if len(page) != 1 || page[0].SigningSecret != prov.SigningSecret {
		t.Errorf("listed provisioned webhook = %+v, want its signing secret %q", page, prov.SigningSecret)
	}
	bare := *newWebhook(globex, "Provisioned bare", "https://globex.example.com/bare", created)
	bare.SigningSecret = ""
	if err := st.Provision(ctx, &sentstub.Provision{Webhooks: []sentstub.Webhook{bare}}); err != nil {
		t.Fatalf("Provision(no secret): %v", err)
	}
	if got := mustFindWebhook(t, st, ctx, globex, bare.ID); got.SigningSecret != "" {
		t.Errorf("a webhook provisioned without a secret has %q", got.SigningSecret)
	}
}

func testCreateWebhookUnknownOwner(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	nobody := uuid.New()
	w := newWebhook(nobody, "Orphan", "https://example.com/orphan", created)
	if err := st.CreateWebhook(ctx, w.Clone()); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Fatalf("CreateWebhook(an unknown owner) error = %v, want ENOTFOUND", err)
	}
	if _, err := st.FindWebhook(ctx, nobody, w.ID); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("a failed create left a webhook to find (error %v)", err)
	}
	if page, total := mustListWebhooks(t, st, ctx, nobody, sentstub.WebhookFilter{Limit: 10}); len(page) != 0 || total != 0 {
		t.Errorf("a failed create left a webhook to list: %d, total %d", len(page), total)
	}
	// Nothing is left of it: its id is free for a real owner.
	acme := uuid.MustParse(AcmeOrgID)
	w.OwnerID = acme
	mustCreateWebhook(t, st, ctx, w)
	assertWebhook(t, mustFindWebhook(t, st, ctx, acme, w.ID), w)
}

func testUpdateSigningSecret(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme := uuid.MustParse(AcmeOrgID)
	w := newWebhook(acme, "Secretive", "https://example.com/secret", created)
	mustCreateWebhook(t, st, ctx, w)
	// listed reads the webhook back from a list, which a store cannot
	// serve from what it remembers of single webhooks.
	listed := func() *sentstub.Webhook {
		t.Helper()
		page, _ := mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Search: "Secretive", Limit: 10})
		if len(page) != 1 {
			t.Fatalf("search for the webhook found %d", len(page))
		}
		return page[0]
	}

	var rotated string
	saved, err := st.UpdateWebhook(ctx, acme, w.ID, func(w *sentstub.Webhook) bool {
		rotated = w.RotateSecret(created.Add(time.Hour))
		return true
	})
	if err != nil {
		t.Fatalf("UpdateWebhook(rotate): %v", err)
	}
	if rotated == w.SigningSecret || saved.SigningSecret != rotated {
		t.Fatalf("rotate: saved secret %q, rotated %q, old %q", saved.SigningSecret, rotated, w.SigningSecret)
	}
	for how, got := range map[string]*sentstub.Webhook{"found": mustFindWebhook(t, st, ctx, acme, w.ID), "listed": listed()} {
		assertWebhook(t, got, saved)
		if got.SigningSecret != rotated {
			t.Errorf("%s after a rotation: secret %q, want %q", how, got.SigningSecret, rotated)
		}
	}

	// A change of the secret alone, updated_at left as it is.
	if _, err := st.UpdateWebhook(ctx, acme, w.ID, func(w *sentstub.Webhook) bool {
		w.SigningSecret = "whsec_c2V0IGJ5IGhhbmQ="
		return true
	}); err != nil {
		t.Fatalf("UpdateWebhook(secret): %v", err)
	}
	// Then a toggle, which keeps it.
	toggled, err := st.UpdateWebhook(ctx, acme, w.ID, func(w *sentstub.Webhook) bool { return w.SetActive(nil, created.Add(2*time.Hour)) })
	if err != nil {
		t.Fatalf("UpdateWebhook(toggle): %v", err)
	}
	for how, got := range map[string]*sentstub.Webhook{"found": mustFindWebhook(t, st, ctx, acme, w.ID), "listed": listed()} {
		if got.SigningSecret != "whsec_c2V0IGJ5IGhhbmQ=" || got.IsActive {
			t.Errorf("%s after a change of secret and a toggle: secret %q, active %v", how, got.SigningSecret, got.IsActive)
		}
		assertWebhook(t, got, toggled)
	}

	// Loading the fixtures again keeps a rotated fixture's secret.
	order := uuid.MustParse(OrderWebhookID)
	saved, err = st.UpdateWebhook(ctx, acme, order, func(w *sentstub.Webhook) bool { w.RotateSecret(created.Add(time.Hour)); return true })
	if err != nil {
		t.Fatalf("UpdateWebhook(rotate fixture): %v", err)
	}
	MustProvisionDemo(t, st, created.Add(3*time.Hour))
	if got := mustFindWebhook(t, st, ctx, acme, order); got.SigningSecret != saved.SigningSecret || got.SigningSecret == "" {
		t.Errorf("provisioning again changed a rotated secret: %q, want %q", got.SigningSecret, saved.SigningSecret)
	}
}

func testDeleteWebhook(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	w := newWebhook(acme, "Doomed", "https://example.com/doomed", created.Add(time.Hour))
	mustCreateWebhook(t, st, ctx, w)
	for i := range 2 {
		mustCreateDelivery(t, st, ctx, newDelivery(w.ID, "message.delivered", created.Add(time.Duration(i)*time.Minute)))
	}
	mustCreateDelivery(t, st, ctx, newDelivery(order, "message.sent", created))

	for name, owner := range map[string]string{
		"another organization": GlobexOrgID,
		"a profile of its own": AcmeEUProfileID,
		"an unknown account":   uuid.NewString(),
	} {
		if err := st.DeleteWebhook(ctx, uuid.MustParse(owner), w.ID); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("DeleteWebhook by %s error = %v, want ENOTFOUND", name, err)
		}
	}
	assertWebhook(t, mustFindWebhook(t, st, ctx, acme, w.ID), w)
	if _, total := mustListDeliveries(t, st, ctx, acme, w.ID, sentstub.DeliveryFilter{Limit: 10}); total != 2 {
		t.Errorf("a refused delete changed the delivery log: total %d, want 2", total)
	}

	if err := st.DeleteWebhook(ctx, acme, w.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if _, err := st.FindWebhook(ctx, acme, w.ID); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("FindWebhook(deleted) error = %v, want ENOTFOUND", err)
	}
	if page, total := mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Limit: 10}); total != 2 || findWebhookIn(page, w.ID) != nil {
		t.Errorf("ListWebhooks after a delete: total %d, ids %v; want the 2 others", total, webhookIDs(page))
	}
	if _, _, err := st.ListDeliveries(ctx, acme, w.ID, sentstub.DeliveryFilter{Limit: 10}); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("ListDeliveries(deleted) error = %v, want ENOTFOUND", err)
	}
	if err := st.CreateDelivery(ctx, newDelivery(w.ID, "message.sent", created)); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("CreateDelivery(deleted) error = %v, want ENOTFOUND", err)
	}
	if err := st.DeleteWebhook(ctx, acme, w.ID); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("a second DeleteWebhook error = %v, want ENOTFOUND", err)
	}
	// The log went with the webhook: a new webhook with its id has none.
	mustCreateWebhook(t, st, ctx, w)
	if page, total := mustListDeliveries(t, st, ctx, acme, w.ID, sentstub.DeliveryFilter{Limit: 10}); len(page) != 0 || total != 0 {
		t.Errorf("a deleted webhook's deliveries outlived it: %d, total %d", len(page), total)
	}
	// Another webhook's log is untouched.
	if _, total := mustListDeliveries(t, st, ctx, acme, order, sentstub.DeliveryFilter{Limit: 10}); total != 1 {
		t.Errorf("a delete changed another webhook's log: total %d, want 1", total)
	}

	// A webhook never read before is deleted alike.
	receipts := uuid.MustParse(ReceiptsWebhookID)
	if err := st.DeleteWebhook(ctx, acme, receipts); err != nil {
		t.Fatalf("DeleteWebhook(receipts): %v", err)
	}
	if _, err := st.FindWebhook(ctx, acme, receipts); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("FindWebhook(deleted receipts) error = %v, want ENOTFOUND", err)
	}
}

func testListWebhooks(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	mustProvisionInitech(t, st)
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	hook := func(id int, name, url string, hours int, active bool) *sentstub.Webhook {
		w := newWebhook(initechOrg, name, url, base.Add(time.Duration(hours)*time.Hour))
		w.ID, w.IsActive = seqID(id), active
		return w
	}
	// Created in id order: ties (same created_at) are then in the reverse
	// order of creation, and the newest is not the largest id.
	ws := []*sentstub.Webhook{
		hook(1, "Order Notifications", "https://example.com/hooks/orders", 1, true),
		hook(2, "100% Uptime", "https://status.example.net/a", 2, false),
		hook(3, "100 Uptime", "https://status.example.net/b", 2, true),
		hook(4, "snake_case hook", "https://example.org/x", 3, true),
		hook(5, "snakeXcase hook", "https://example.org/y", 3, false),
		hook(6, "Café Über", "https://example.org/cafe", 3, true),
		hook(7, "Plain", "https://EXAMPLE.org/Upper_Path%41", 0, true),
	}
	byName := map[string]*sentstub.Webhook{}
	for _, w := range ws {
		mustCreateWebhook(t, st, ctx, w)
		byName[w.DisplayName] = w
	}
	// Newer, but others': the profile's and another organization's.
	profile := newWebhook(initechProfile, "Order Notifications EU", "https://example.com/hooks/orders-eu", base.Add(5*time.Hour))
	mustCreateWebhook(t, st, ctx, profile)
	mustCreateWebhook(t, st, ctx, newWebhook(hooliOrg, "Order Notifications", "https://example.com/hooks/orders", base.Add(5*time.Hour)))

	all, total := mustListWebhooks(t, st, ctx, initechOrg, sentstub.WebhookFilter{Limit: 100})
	if want := newestFirst(ws); !slices.Equal(webhookIDs(all), want) || total != len(ws) {
		t.Fatalf("ListWebhooks = %v (total %d)\nwant %v (total %d)", webhookIDs(all), total, want, len(ws))
	}
	for _, got := range all {
		assertWebhook(t, got, findWebhookIn(ws, got.ID))
	}
	if page, total := mustListWebhooks(t, st, ctx, initechProfile, sentstub.WebhookFilter{Limit: 100}); !slices.Equal(webhookIDs(page), []uuid.UUID{profile.ID}) || total != 1 {
		t.Errorf("the profile's list = %v (total %d), want its one webhook", webhookIDs(page), total)
	}
	if page, total := mustListWebhooks(t, st, ctx, uuid.New(), sentstub.WebhookFilter{Limit: 100}); len(page) != 0 || total != 0 {
		t.Errorf("an unknown owner's list = %v (total %d), want none", webhookIDs(page), total)
	}

	yes, no := true, false
	for _, c := range []struct {
		active *bool
		search string
		want   []string // names
	}{
		{&yes, "", []string{"Order Notifications", "100 Uptime", "snake_case hook", "Café Über", "Plain"}},
		{&no, "", []string{"100% Uptime", "snakeXcase hook"}},
		{nil, "order", []string{"Order Notifications"}},
		{nil, "ORDERS", []string{"Order Notifications"}}, // in endpoint_url only
		{nil, "STATUS.Example", []string{"100% Uptime", "100 Uptime"}},
		{nil, "100%", []string{"100% Uptime"}},
		{nil, "%", []string{"100% Uptime", "Plain"}},
		{nil, "e_c", []string{"snake_case hook"}},
		{nil, "_", []string{"snake_case hook", "Plain"}},
		{nil, "upper_path%41", []string{"Plain"}},
		{nil, "example.org", []string{"snake_case hook", "snakeXcase hook", "Café Über", "Plain"}},
		// Only ASCII letters are folded.
		{nil, "CAFé", []string{"Café Über"}},
		{nil, "CAFÉ", nil},
		{nil, "über", nil},
		{nil, "Über", []string{"Café Über"}},
		{nil, "no such thing", nil},
		{nil, "\xff", nil},
		{nil, "a\x00", nil},
		{&no, "uptime", []string{"100% Uptime"}},
		{&yes, "example.org", []string{"snake_case hook", "Café Über", "Plain"}},
	} {
		var want []*sentstub.Webhook
		for _, name := range c.want {
			want = append(want, byName[name])
		}
		f := sentstub.WebhookFilter{IsActive: c.active, Search: c.search, Limit: 100}
		page, total, err := st.ListWebhooks(ctx, initechOrg, f)
		if err != nil {
			t.Errorf("ListWebhooks(active %v, search %q): %v", ptrString(c.active), c.search, err)
			continue
		}
		if got := webhookIDs(page); !slices.Equal(got, newestFirst(want)) || total != len(want) {
			t.Errorf("ListWebhooks(active %v, search %q) = %v (total %d), want %v (total %d)",
				ptrString(c.active), c.search, got, total, newestFirst(want), len(want))
		}
	}

	// Pages of two make up the whole list, and each tells the total.
	var paged []uuid.UUID
	for offset := 0; offset < len(ws); offset += 2 {
		page, total := mustListWebhooks(t, st, ctx, initechOrg, sentstub.WebhookFilter{Offset: offset, Limit: 2})
		if total != len(ws) || len(page) != min(2, len(ws)-offset) {
			t.Errorf("page at %d: %d webhooks, total %d; want %d, total %d", offset, len(page), total, min(2, len(ws)-offset), len(ws))
		}
		paged = append(paged, webhookIDs(page)...)
	}
	if want := newestFirst(ws); !slices.Equal(paged, want) {
		t.Errorf("pages of 2 = %v, want %v", paged, want)
	}
	page, total := mustListWebhooks(t, st, ctx, initechOrg, sentstub.WebhookFilter{Search: "example.org", Offset: 3, Limit: 3})
	if !slices.Equal(webhookIDs(page), []uuid.UUID{byName["Plain"].ID}) || total != 4 {
		t.Errorf("last page of a search = %v (total %d), want Plain (total 4)", webhookIDs(page), total)
	}
	for _, f := range []sentstub.WebhookFilter{
		{Offset: len(ws), Limit: 5},
		{Offset: 1000, Limit: 1},
		{IsActive: &no, Offset: 2, Limit: 10},
	} {
		want := len(ws)
		if f.IsActive != nil {
			want = 2
		}
		if page, total := mustListWebhooks(t, st, ctx, initechOrg, f); len(page) != 0 || total != want {
			t.Errorf("a page past the end (%+v) = %v (total %d), want none (total %d)", f, webhookIDs(page), total, want)
		}
	}
}

func ptrString(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}
