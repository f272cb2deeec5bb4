package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/fixtures"
)

// runOutbox is the conformance suite of the outbox: EnqueueDeliveries,
// ClaimDeliveries, FinishDelivery and ReleaseDeliveries.
func runOutbox(t *testing.T, open func(tb testing.TB) sentstub.Store) {
	t.Run("EnqueueAndClaim", func(t *testing.T) { testEnqueueAndClaim(t, open(t)) })
	t.Run("LeaseEnds", func(t *testing.T) { testLeaseEnds(t, open(t)) })
	t.Run("FinishDelivered", func(t *testing.T) { testFinishDelivered(t, open(t)) })
	t.Run("FinishRetry", func(t *testing.T) { testFinishRetry(t, open(t)) })
	t.Run("DisableDropsPending", func(t *testing.T) { testDisableDropsPending(t, open(t)) })
	t.Run("Release", func(t *testing.T) { testReleaseDeliveries(t, open(t)) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testConcurrentClaimers(t, open(t)) })
	t.Run("ConcurrentFinishes", func(t *testing.T) { testConcurrentFinishes(t, open(t)) })
	t.Run("DeleteWebhookEmptiesOutbox", func(t *testing.T) { testDeleteWebhookEmptiesOutbox(t, open(t)) })
	t.Run("EnqueueUnknownWebhook", func(t *testing.T) { testEnqueueUnknownWebhook(t, open(t)) })
	t.Run("InRequest", func(t *testing.T) { testOutboxInRequest(t, open(t)) })
}

// now of the outbox tests.
var outboxNow = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

var retryPolicy = sentstub.RetryPolicy{Base: time.Minute}

// pendingDelivery returns a new pending delivery to webhook, not attempted
// yet, due at due.
func pendingDelivery(webhook uuid.UUID, due time.Time) *sentstub.Delivery {
	d := newDelivery(webhook, "message.delivered", due.Add(-time.Second))
	d.Status, d.Attempts = sentstub.DeliveryPending, 0
	next := sentstub.Timestamp(due)
	d.NextAttemptAt = &next
	return d
}

// cloneDelivery returns a copy of d that shares nothing with it.
func cloneDelivery(d *sentstub.Delivery) *sentstub.Delivery {
	c := *d
	c.EventData = bytes.Clone(d.EventData)
	return &c
}

func mustEnqueue(t *testing.T, st sentstub.Store, ctx context.Context, ds ...*sentstub.Delivery) {
	t.Helper()
	clones := make([]*sentstub.Delivery, len(ds))
	for i, d := range ds {
		clones[i] = cloneDelivery(d)
	}
	if err := st.EnqueueDeliveries(ctx, clones); err != nil {
		t.Fatalf("EnqueueDeliveries(%d): %v", len(ds), err)
	}
}

func mustClaimDeliveries(t *testing.T, st sentstub.Store, now, until time.Time, limit int) []sentstub.Claimed {
	t.Helper()
	cs, err := st.ClaimDeliveries(context.Background(), now, until, limit)
	if err != nil {
		t.Fatalf("ClaimDeliveries(%v, %d): %v", now, limit, err)
	}
	return cs
}

func claimedIDs(cs []sentstub.Claimed) []uuid.UUID {
	ids := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		ids[i] = c.Delivery.ID
	}
	return ids
}

// mustFindDelivery returns the delivery id of the log of webhook, owned
// by owner.
func mustFindDelivery(t *testing.T, st sentstub.Store, ctx context.Context, owner, webhook, id uuid.UUID) *sentstub.Delivery {
	t.Helper()
	page, _ := mustListDeliveries(t, st, ctx, owner, webhook, sentstub.DeliveryFilter{Limit: 1000})
	for _, d := range page {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("delivery %s is not in the log of webhook %s", id, webhook)
	return nil
}

// mustListWebhook returns webhook id of owner as ListWebhooks reads it,
// which a store cannot serve from what it remembers of single webhooks.
func mustListWebhook(t *testing.T, st sentstub.Store, owner, id uuid.UUID) *sentstub.Webhook {
	t.Helper()
	page, _ := mustListWebhooks(t, st, context.Background(), owner, sentstub.WebhookFilter{Limit: 100})
	w := findWebhookIn(page, id)
	if w == nil {
		t.Fatalf("webhook %s is not in the list of %s", id, owner)
	}
	return w
}

// assertClaimed checks that cs are the deliveries want, in that order,
// under one lease, each with its webhook as the store has it.
func assertClaimed(t *testing.T, st sentstub.Store, cs []sentstub.Claimed, want ...*sentstub.Delivery) {
	t.Helper()
	if got, wantIDs := claimedIDs(cs), deliveryIDs(want); !slices.Equal(got, wantIDs) {
		t.Fatalf("claimed %v, want %v", got, wantIDs)
	}
	for i, c := range cs {
		assertDelivery(t, c.Delivery, want[i])
		if c.Lease == uuid.Nil || c.Lease != cs[0].Lease {
			t.Errorf("claimed %s under lease %s, the first under %s; want one lease, not nil", c.Delivery.ID, c.Lease, cs[0].Lease)
		}
		if c.Webhook == nil || c.Webhook.ID != c.Delivery.WebhookID {
			t.Errorf("claimed %s with webhook %+v, want %s", c.Delivery.ID, c.Webhook, c.Delivery.WebhookID)
			continue
		}
		assertWebhook(t, c.Webhook, mustFindWebhook(t, st, context.Background(), c.Webhook.OwnerID, c.Webhook.ID))
		if c.Webhook.SigningSecret == "" {
			t.Errorf("claimed %s with a webhook without its signing secret (%q)", c.Delivery.ID, c.Webhook.SigningSecret)
		}
	}
}

// failure and success are outcomes of an attempt started at at.
func failure(at time.Time) sentstub.Outcome {
	code, body := 503, "unavailable"
	return sentstub.Outcome{StatusCode: &code, ResponseBody: &body, Message: "HTTP 503",
		Started: at, Completed: at.Add(1500 * time.Millisecond)}
}

func success(at time.Time) sentstub.Outcome {
	code, body := 200, "ok\x00\xff"
	return sentstub.Outcome{Delivered: true, StatusCode: &code, ResponseBody: &body, Started: at, Completed: at.Add(time.Second)}
}

// recordOutcome returns a record function for FinishDelivery that applies
// o by sentstub.RecordAttempt, and counts its calls in calls.
func recordOutcome(o sentstub.Outcome, calls *int) func(*sentstub.Delivery, *sentstub.Webhook) bool {
	return func(d *sentstub.Delivery, w *sentstub.Webhook) bool {
		*calls++
		return sentstub.RecordAttempt(d, w, o, retryPolicy)
	}
}

// expectAttempt returns the delivery and webhook that recording o on d
// and w must save.
func expectAttempt(d *sentstub.Delivery, w *sentstub.Webhook, o sentstub.Outcome) (*sentstub.Delivery, *sentstub.Webhook, bool) {
	d, w = cloneDelivery(d), w.Clone()
	disabled := sentstub.RecordAttempt(d, w, o, retryPolicy)
	return d, w, disabled
}

func testEnqueueAndClaim(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, eu, globex := uuid.MustParse(AcmeOrgID), uuid.MustParse(AcmeEUProfileID), uuid.MustParse(GlobexOrgID)
	order, euHook, globexHook := uuid.MustParse(OrderWebhookID), uuid.MustParse(EUWebhookID), uuid.MustParse(GlobexWebhookID)
	now := outboxNow
	at := func(id int, webhook uuid.UUID, due time.Time) *sentstub.Delivery {
		d := pendingDelivery(webhook, due)
		d.ID = seqID(id)
		return d
	}
	d1 := at(1, order, now.Add(-time.Minute))
	d2 := at(2, euHook, now.Add(-time.Minute)) // ties with d1: after it, by id
	d3 := at(3, globexHook, now.Add(-2*time.Minute))
	d4 := at(4, order, now) // due at now exactly
	d5 := at(5, order, now.Add(time.Microsecond))
	d6 := at(6, globexHook, now.Add(time.Hour))
	// Due at an instant in another zone, to the nanosecond: it is kept in
	// UTC, to the microsecond.
	zone := time.FixedZone("UTC-3", -3*3600)
	d7 := at(7, euHook, time.Date(2026, 4, 1, 8, 59, 0, 999999999, zone))
	want7 := *d7
	due7 := sentstub.Timestamp(*d7.NextAttemptAt)
	want7.NextAttemptAt = &due7
	mustEnqueue(t, st, ctx, d5, d1, d6, d4, d2, d3, d7)
	// CreateDelivery adds to the outbox too; a delivery that is over, or
	// pending without a due time, is never due.
	d8 := at(8, order, now.Add(-time.Hour))
	mustCreateDelivery(t, st, ctx, d8)
	over := newDelivery(order, "message.test", now.Add(-time.Hour))
	mustCreateDelivery(t, st, ctx, over)
	undated := newDelivery(globexHook, "message.sent", now.Add(-time.Hour))
	undated.Status = sentstub.DeliveryPending
	mustCreateDelivery(t, st, ctx, undated)

	// The log shows the outbox's deliveries, with when they are due.
	for _, c := range []struct {
		owner, webhook uuid.UUID
		want           []*sentstub.Delivery
	}{
		{acme, order, []*sentstub.Delivery{d1, d4, d5, d8, over}},
		{eu, euHook, []*sentstub.Delivery{d2, &want7}},
		{globex, globexHook, []*sentstub.Delivery{d3, d6, undated}},
	} {
		page, total := mustListDeliveries(t, st, ctx, c.owner, c.webhook, sentstub.DeliveryFilter{Limit: 100})
		if !slices.Equal(deliveryIDs(page), deliveriesNewestFirst(c.want)) || total != len(c.want) {
			t.Fatalf("log of %s = %v (total %d), want %v", c.webhook, deliveryIDs(page), total, deliveriesNewestFirst(c.want))
		}
		for _, d := range c.want {
			assertDelivery(t, mustFindDelivery(t, st, ctx, c.owner, c.webhook, d.ID), d)
		}
	}

	until := now.Add(2 * time.Hour) // past every claim below
	if cs := mustClaimDeliveries(t, st, now, until, 0); len(cs) != 0 {
		t.Errorf("a claim of at most 0 took %v", claimedIDs(cs))
	}
	first := mustClaimDeliveries(t, st, now, until, 3)
	assertClaimed(t, st, first, d8, d3, d1)
	second := mustClaimDeliveries(t, st, now, until, 10)
	assertClaimed(t, st, second, d2, &want7, d4)
	if second[0].Lease == first[0].Lease {
		t.Errorf("two claims share the lease %s", first[0].Lease)
	}
	if cs := mustClaimDeliveries(t, st, now, until, 10); len(cs) != 0 {
		t.Errorf("a claim took %v, leased or not yet due", claimedIDs(cs))
	}
	assertClaimed(t, st, mustClaimDeliveries(t, st, now.Add(time.Microsecond), until, 10), d5)
	assertClaimed(t, st, mustClaimDeliveries(t, st, now.Add(time.Hour), now.Add(3*time.Hour), 10), d6)
}

// A claim whose dispatcher dies is taken again once its lease ends, and
// only then; the dead dispatcher's lease is then worthless.
func testLeaseEnds(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	now := outboxNow
	d := pendingDelivery(order, now)
	mustEnqueue(t, st, ctx, d)
	webhook := mustFindWebhook(t, st, ctx, acme, order)

	first := mustClaimDeliveries(t, st, now, now.Add(30*time.Second), 10)
	assertClaimed(t, st, first, d)
	if cs := mustClaimDeliveries(t, st, now.Add(30*time.Second-time.Microsecond), now.Add(time.Hour), 10); len(cs) != 0 {
		t.Fatalf("a leased delivery was claimed again before its lease ended: %v", claimedIDs(cs))
	}
	again := mustClaimDeliveries(t, st, now.Add(30*time.Second), now.Add(time.Minute), 10)
	assertClaimed(t, st, again, d)
	if again[0].Lease == first[0].Lease {
		t.Fatalf("the second claim has the first's lease %s", first[0].Lease)
	}

	// The first dispatcher comes back: its lease is no longer the
	// delivery's, and it saves nothing.
	calls := 0
	err := st.FinishDelivery(ctx, d.ID, first[0].Lease, recordOutcome(success(now), &calls))
	if sentstub.ErrorCode(err) != sentstub.ECONFLICT || calls != 0 {
		t.Fatalf("FinishDelivery(a stale lease) = %v, record called %d times; want ECONFLICT without calling it", err, calls)
	}
	assertDelivery(t, mustFindDelivery(t, st, ctx, acme, order, d.ID), d)
	assertWebhook(t, mustFindWebhook(t, st, ctx, acme, order), webhook)
	assertWebhook(t, mustListWebhook(t, st, acme, order), webhook)

	// The lease's holder finishes, even after the lease's end: nobody took
	// the delivery meanwhile.
	if err := st.FinishDelivery(ctx, d.ID, again[0].Lease, recordOutcome(success(now.Add(2*time.Minute)), &calls)); err != nil || calls != 1 {
		t.Fatalf("FinishDelivery = %v, record called %d times", err, calls)
	}
	// A lease ends with its delivery's attempt.
	if err := st.FinishDelivery(ctx, d.ID, again[0].Lease, recordOutcome(success(now), &calls)); sentstub.ErrorCode(err) != sentstub.ECONFLICT || calls != 1 {
		t.Errorf("a second FinishDelivery = %v, record called %d times; want ECONFLICT without calling it", err, calls)
	}
	if err := st.FinishDelivery(ctx, uuid.New(), again[0].Lease, recordOutcome(success(now), &calls)); sentstub.ErrorCode(err) != sentstub.ENOTFOUND || calls != 1 {
		t.Errorf("FinishDelivery(an unknown delivery) = %v, record called %d times; want ENOTFOUND without calling it", err, calls)
	}
}

func testFinishDelivered(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	now := outboxNow
	// Three failures so far: a success clears them.
	if _, err := st.UpdateWebhook(ctx, acme, order, func(w *sentstub.Webhook) bool { w.ConsecutiveFailures = 3; return true }); err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	before := mustFindWebhook(t, st, ctx, acme, order)
	d := pendingDelivery(order, now)
	other := pendingDelivery(order, now.Add(time.Second))
	mustEnqueue(t, st, ctx, d, other)
	cs := mustClaimDeliveries(t, st, now, now.Add(time.Hour), 1)
	assertClaimed(t, st, cs, d)

	o := success(now.Add(123456789 * time.Nanosecond)) // kept to the microsecond
	wantD, wantW, _ := expectAttempt(d, before, o)
	err := st.FinishDelivery(ctx, d.ID, cs[0].Lease, func(gotD *sentstub.Delivery, gotW *sentstub.Webhook) bool {
		// record gets the delivery and the webhook as stored.
		assertDelivery(t, gotD, d)
		assertWebhook(t, gotW, before)
		return sentstub.RecordAttempt(gotD, gotW, o, retryPolicy)
	})
	if err != nil {
		t.Fatalf("FinishDelivery: %v", err)
	}
	got := mustFindDelivery(t, st, ctx, acme, order, d.ID)
	assertDelivery(t, got, truncatedDelivery(wantD))
	if got.Status != sentstub.DeliveryDelivered || got.Attempts != 1 || got.NextAttemptAt != nil || *got.HTTPStatusCode != 200 {
		t.Errorf("delivered delivery saved as %+v", got)
	}
	wantW = truncatedWebhook(wantW)
	assertWebhook(t, mustFindWebhook(t, st, ctx, acme, order), wantW)
	assertWebhook(t, mustListWebhook(t, st, acme, order), wantW)
	if w := mustFindWebhook(t, st, ctx, acme, order); w.ConsecutiveFailures != 0 || w.LastSuccessfulDeliveryAt == nil {
		t.Errorf("after a success the webhook is %+v", w)
	}
	// The other delivery is still pending, and the delivered one is not.
	assertClaimed(t, st, mustClaimDeliveries(t, st, now.Add(time.Hour), now.Add(2*time.Hour), 10), other)
}

// truncatedDelivery is d as a store keeps it: its times in UTC, to the
// microsecond.
func truncatedDelivery(d *sentstub.Delivery) *sentstub.Delivery {
	c := cloneDelivery(d)
	c.CreatedAt = sentstub.Timestamp(c.CreatedAt)
	for _, p := range []**time.Time{&c.ProcessingStartedAt, &c.ProcessingCompletedAt, &c.NextAttemptAt} {
		if *p != nil {
			u := sentstub.Timestamp(**p)
			*p = &u
		}
	}
	return c
}

// truncatedWebhook is w as a store keeps it: its times in UTC, to the
// microsecond.
func truncatedWebhook(w *sentstub.Webhook) *sentstub.Webhook {
	c := w.Clone()
	c.CreatedAt = sentstub.Timestamp(c.CreatedAt)
	for _, p := range []**time.Time{&c.LastDeliveryAttemptAt, &c.LastSuccessfulDeliveryAt, &c.UpdatedAt} {
		if *p != nil {
			u := sentstub.Timestamp(**p)
			*p = &u
		}
	}
	return c
}

// A failed attempt with retries left keeps the delivery pending, due
// after the policy's delay, and ends its lease: the retry is claimed when
// due, however long the lease was to last.
func testFinishRetry(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	now := outboxNow
	d := pendingDelivery(order, now)
	mustEnqueue(t, st, ctx, d)
	before := mustFindWebhook(t, st, ctx, acme, order)
	cs := mustClaimDeliveries(t, st, now, now.Add(24*time.Hour), 10)
	assertClaimed(t, st, cs, d)

	o := failure(now)
	wantD, wantW, disabled := expectAttempt(d, before, o)
	calls := 0
	if err := st.FinishDelivery(ctx, d.ID, cs[0].Lease, recordOutcome(o, &calls)); err != nil || calls != 1 {
		t.Fatalf("FinishDelivery = %v, record called %d times", err, calls)
	}
	if disabled || wantD.Status != sentstub.DeliveryPending || wantD.NextAttemptAt == nil {
		t.Fatalf("the test expects a retry: %+v", wantD)
	}
	assertDelivery(t, mustFindDelivery(t, st, ctx, acme, order, d.ID), wantD)
	assertWebhook(t, mustFindWebhook(t, st, ctx, acme, order), wantW)
	assertWebhook(t, mustListWebhook(t, st, acme, order), wantW)
	if w := mustFindWebhook(t, st, ctx, acme, order); w.ConsecutiveFailures != 1 || w.LastSuccessfulDeliveryAt != nil || !w.IsActive {
		t.Errorf("after a failure the webhook is %+v", w)
	}

	due := *wantD.NextAttemptAt
	if cs := mustClaimDeliveries(t, st, due.Add(-time.Microsecond), due.Add(time.Hour), 10); len(cs) != 0 {
		t.Fatalf("a retry was claimed before it was due: %v", claimedIDs(cs))
	}
	retry := mustClaimDeliveries(t, st, due, due.Add(time.Hour), 10)
	assertClaimed(t, st, retry, wantD)

	// The retries run out: the delivery has failed.
	webhook := wantW
	for attempt := 2; ; attempt++ {
		o := failure(due)
		wantD, wantW, _ = expectAttempt(wantD, webhook, o)
		if err := st.FinishDelivery(ctx, d.ID, retry[0].Lease, recordOutcome(o, &calls)); err != nil {
			t.Fatalf("FinishDelivery(attempt %d): %v", attempt, err)
		}
		assertDelivery(t, mustFindDelivery(t, st, ctx, acme, order, d.ID), wantD)
		assertWebhook(t, mustFindWebhook(t, st, ctx, acme, order), wantW)
		webhook = wantW
		if wantD.Status != sentstub.DeliveryPending {
			break
		}
		due = *wantD.NextAttemptAt
		retry = mustClaimDeliveries(t, st, due, due.Add(time.Hour), 10)
		assertClaimed(t, st, retry, wantD)
	}
	if wantD.Status != sentstub.DeliveryFailed || wantD.Attempts != before.RetryCount+1 {
		t.Fatalf("the test expects a failure after %d attempts: %+v", before.RetryCount+1, wantD)
	}
	if cs := mustClaimDeliveries(t, st, due.Add(24*time.Hour), due.Add(25*time.Hour), 10); len(cs) != 0 {
		t.Errorf("a failed delivery was claimed: %v", claimedIDs(cs))
	}
}

// The attempt that disables a webhook drops the webhook's other pending
// deliveries, leased or not, due or not, in the same transaction, and no
// other webhook's.
func testDisableDropsPending(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, eu := uuid.MustParse(AcmeOrgID), uuid.MustParse(AcmeEUProfileID)
	order, euHook, globexHook := uuid.MustParse(OrderWebhookID), uuid.MustParse(EUWebhookID), uuid.MustParse(GlobexWebhookID)
	now := outboxNow
	if _, err := st.UpdateWebhook(ctx, acme, order, func(w *sentstub.Webhook) bool {
		w.ConsecutiveFailures = sentstub.AutoDisableAfter - 1
		return true
	}); err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	before := mustFindWebhook(t, st, ctx, acme, order)
	at := func(id int, webhook uuid.UUID, due time.Time) *sentstub.Delivery {
		d := pendingDelivery(webhook, due)
		d.ID = seqID(id)
		return d
	}
	d1 := at(1, order, now.Add(-time.Minute))
	dEU := at(2, euHook, now.Add(-time.Minute))
	d2 := at(3, order, now.Add(-30*time.Second)) // leased to another dispatcher
	d3 := at(4, order, now.Add(time.Hour))       // not due
	dG := at(5, globexHook, now.Add(time.Hour))
	mustEnqueue(t, st, ctx, d1, dEU, d2, d3, dG)
	logged := newDelivery(order, "message.test", now.Add(-time.Hour)) // over: not dropped
	mustCreateDelivery(t, st, ctx, logged)
	cs := mustClaimDeliveries(t, st, now, now.Add(time.Hour), 3)
	assertClaimed(t, st, cs, d1, dEU, d2)

	o := failure(now)
	wantD, wantW, disabled := expectAttempt(d1, before, o)
	if !disabled {
		t.Fatal("the test expects the attempt to disable the webhook")
	}
	calls := 0
	if err := st.FinishDelivery(ctx, d1.ID, cs[0].Lease, recordOutcome(o, &calls)); err != nil || calls != 1 {
		t.Fatalf("FinishDelivery = %v, record called %d times", err, calls)
	}
	assertDelivery(t, mustFindDelivery(t, st, ctx, acme, order, d1.ID), wantD)
	assertWebhook(t, mustFindWebhook(t, st, ctx, acme, order), wantW)
	assertWebhook(t, mustListWebhook(t, st, acme, order), wantW)
	if w := mustFindWebhook(t, st, ctx, acme, order); w.IsActive || w.ConsecutiveFailures != sentstub.AutoDisableAfter {
		t.Errorf("the disabling attempt saved the webhook as %+v", w)
	}
	for _, d := range []*sentstub.Delivery{d2, d3} {
		got := mustFindDelivery(t, st, ctx, acme, order, d.ID)
		if got.Status != sentstub.DeliveryFailed || got.NextAttemptAt != nil || got.ErrorMessage == nil ||
			!strings.Contains(*got.ErrorMessage, "disabled") || got.Attempts != 0 {
			t.Errorf("a pending delivery of the disabled webhook was not dropped: %+v", got)
		}
	}
	assertDelivery(t, mustFindDelivery(t, st, ctx, acme, order, logged.ID), logged)
	assertDelivery(t, mustFindDelivery(t, st, ctx, eu, euHook, dEU.ID), dEU)

	// The dropped delivery's dispatcher finds its lease gone.
	if err := st.FinishDelivery(ctx, d2.ID, cs[2].Lease, recordOutcome(success(now), &calls)); sentstub.ErrorCode(err) != sentstub.ECONFLICT || calls != 1 {
		t.Errorf("FinishDelivery(dropped) = %v, record called %d times; want ECONFLICT without calling it", err, calls)
	}
	// Other webhooks' deliveries go on.
	if err := st.FinishDelivery(ctx, dEU.ID, cs[1].Lease, recordOutcome(success(now), &calls)); err != nil {
		t.Errorf("FinishDelivery(another webhook's): %v", err)
	}
	assertClaimed(t, st, mustClaimDeliveries(t, st, now.Add(2*time.Hour), now.Add(3*time.Hour), 10), dG)
}

func testReleaseDeliveries(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	order := uuid.MustParse(OrderWebhookID)
	now := outboxNow
	var ds []*sentstub.Delivery
	for i := range 4 {
		d := pendingDelivery(order, now.Add(time.Duration(i-10)*time.Second))
		ds = append(ds, d)
	}
	mustEnqueue(t, st, ctx, ds...)
	until := now.Add(time.Hour)
	first := mustClaimDeliveries(t, st, now, until, 3)
	assertClaimed(t, st, first, ds[0], ds[1], ds[2])
	second := mustClaimDeliveries(t, st, now, until, 3)
	assertClaimed(t, st, second, ds[3])

	if err := st.ReleaseDeliveries(ctx, first[0].Lease, nil); err != nil {
		t.Fatalf("ReleaseDeliveries(none): %v", err)
	}
	// Released with the first lease: two of its deliveries, one of the
	// second lease's (kept) and one that does not exist.
	if err := st.ReleaseDeliveries(ctx, first[0].Lease, []uuid.UUID{ds[0].ID, ds[2].ID, ds[3].ID, uuid.New()}); err != nil {
		t.Fatalf("ReleaseDeliveries: %v", err)
	}
	again := mustClaimDeliveries(t, st, now, until, 10)
	assertClaimed(t, st, again, ds[0], ds[2])
	// Claimed again, they are the new lease's.
	calls := 0
	if err := st.FinishDelivery(ctx, ds[0].ID, first[0].Lease, recordOutcome(success(now), &calls)); sentstub.ErrorCode(err) != sentstub.ECONFLICT {
		t.Errorf("FinishDelivery(released, the old lease) = %v, want ECONFLICT", err)
	}
	if err := st.FinishDelivery(ctx, ds[1].ID, first[0].Lease, recordOutcome(success(now), &calls)); err != nil {
		t.Errorf("FinishDelivery(kept): %v", err)
	}
	if err := st.FinishDelivery(ctx, ds[3].ID, second[0].Lease, recordOutcome(success(now), &calls)); err != nil {
		t.Errorf("FinishDelivery(another lease's, which a release did not end): %v", err)
	}
}

// Concurrent claimers never get the same delivery while its lease holds,
// and between them get every one.
func testConcurrentClaimers(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	hooks := []uuid.UUID{uuid.MustParse(OrderWebhookID), uuid.MustParse(EUWebhookID), uuid.MustParse(GlobexWebhookID)}
	now := outboxNow
	const n, claimers, batch = 200, 4, 7
	ds := make([]*sentstub.Delivery, n)
	for i := range ds {
		ds[i] = pendingDelivery(hooks[i%len(hooks)], now.Add(-time.Duration(i%17)*time.Second))
	}
	mustEnqueue(t, st, ctx, ds...)
	ClaimConcurrently(t, func(int) sentstub.Store { return st }, claimers, batch, now, n)
}

// ClaimConcurrently runs claimers goroutines, all starting at once, each
// claiming with store(i) at most batch deliveries due at now at a time
// until a claim finds none, with leases that outlast the test. It checks
// that no delivery is claimed twice, that every claim carries the
// delivery's webhook, and that the claimers get n deliveries in all: the n
// due ones, every one of them. A claimer stops, failing the test, once
// more than n were claimed, so that a store whose leases do not hold
// fails rather than hangs.
func ClaimConcurrently(t *testing.T, store func(i int) sentstub.Store, claimers, batch int, now time.Time, n int) {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		got    = map[uuid.UUID]bool{}
		claims int
		start  = make(chan struct{})
	)
	for i := range claimers {
		wg.Go(func() {
			<-start
			for {
				cs, err := store(i).ClaimDeliveries(context.Background(), now, now.Add(time.Hour), batch)
				if err != nil {
					t.Errorf("claimer %d: ClaimDeliveries: %v", i, err)
					return
				}
				if len(cs) == 0 {
					return
				}
				if len(cs) > batch {
					t.Errorf("claimer %d: claimed %d, at most %d asked", i, len(cs), batch)
				}
				mu.Lock()
				for _, c := range cs {
					if got[c.Delivery.ID] {
						t.Errorf("delivery %s claimed twice", c.Delivery.ID)
					}
					got[c.Delivery.ID] = true
					if c.Webhook == nil || c.Webhook.ID != c.Delivery.WebhookID {
						t.Errorf("delivery %s claimed without its webhook: %+v", c.Delivery.ID, c.Webhook)
					}
				}
				claims += len(cs)
				over := claims > n
				mu.Unlock()
				if over {
					t.Errorf("claimer %d: %d claims of %d deliveries", i, claims, n)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if len(got) != n {
		t.Errorf("the claimers got %d deliveries, want all %d", len(got), n)
	}
}

// Finishes of one webhook's deliveries, and updates of the webhook, all at
// once: each reads the webhook as the one before left it, so none of their
// changes is lost, and none deadlocks.
func testConcurrentFinishes(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	now := outboxNow
	const finishers, each = 4, 10
	var ds []*sentstub.Delivery
	for range finishers * each {
		ds = append(ds, pendingDelivery(order, now))
	}
	mustEnqueue(t, st, ctx, ds...)
	cs := mustClaimDeliveries(t, st, now, now.Add(time.Hour), len(ds))
	if len(cs) != len(ds) {
		t.Fatalf("claimed %d of %d", len(cs), len(ds))
	}
	var wg sync.WaitGroup
	for i := range finishers {
		wg.Go(func() {
			for _, c := range cs[i*each : (i+1)*each] {
				err := st.FinishDelivery(ctx, c.Delivery.ID, c.Lease, func(d *sentstub.Delivery, w *sentstub.Webhook) bool {
					// A count that RecordAttempt would not disable at.
					w.ConsecutiveFailures++
					d.Status, d.NextAttemptAt, d.Attempts = sentstub.DeliveryDelivered, nil, d.Attempts+1
					return false
				})
				if err != nil {
					t.Errorf("FinishDelivery: %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		for range finishers * each {
			if _, err := st.UpdateWebhook(ctx, acme, order, func(w *sentstub.Webhook) bool {
				n := 0
				fmt.Sscanf(w.DisplayName, "updated %d times", &n)
				w.DisplayName = fmt.Sprintf("updated %d times", n+1)
				return true
			}); err != nil {
				t.Errorf("UpdateWebhook: %v", err)
			}
		}
	})
	wg.Wait()
	for how, w := range map[string]*sentstub.Webhook{"found": mustFindWebhook(t, st, ctx, acme, order), "listed": mustListWebhook(t, st, acme, order)} {
		if want := fmt.Sprintf("updated %d times", finishers*each); w.ConsecutiveFailures != finishers*each || w.DisplayName != want {
			t.Errorf("%s after %d finishes and updates at once: %d failures, display name %q; want %d, %q",
				how, finishers*each, w.ConsecutiveFailures, w.DisplayName, finishers*each, want)
		}
	}
	if page, _ := mustListDeliveries(t, st, ctx, acme, order, sentstub.DeliveryFilter{Search: "pending", Limit: 100}); len(page) != 0 {
		t.Errorf("%d deliveries are still pending", len(page))
	}
}

// A deleted webhook's pending deliveries leave the outbox with it.
func testDeleteWebhookEmptiesOutbox(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	now := outboxNow
	w := newWebhook(acme, "Doomed", "https://example.com/doomed", created)
	mustCreateWebhook(t, st, ctx, w)
	doomed := []*sentstub.Delivery{pendingDelivery(w.ID, now.Add(-time.Hour)), pendingDelivery(w.ID, now), pendingDelivery(w.ID, now.Add(time.Hour))}
	kept := pendingDelivery(order, now)
	mustEnqueue(t, st, ctx, append(doomed, kept)...)
	cs := mustClaimDeliveries(t, st, now, now.Add(time.Minute), 1)
	assertClaimed(t, st, cs, doomed[0])
	if err := st.DeleteWebhook(ctx, acme, w.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	assertClaimed(t, st, mustClaimDeliveries(t, st, now.Add(2*time.Hour), now.Add(3*time.Hour), 10), kept)
	calls := 0
	if err := st.FinishDelivery(ctx, doomed[0].ID, cs[0].Lease, recordOutcome(success(now), &calls)); sentstub.ErrorCode(err) != sentstub.ENOTFOUND || calls != 0 {
		t.Errorf("FinishDelivery(a deleted webhook's) = %v, record called %d times; want ENOTFOUND without calling it", err, calls)
	}
}

func testEnqueueUnknownWebhook(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, eu := uuid.MustParse(AcmeOrgID), uuid.MustParse(AcmeEUProfileID)
	order, euHook := uuid.MustParse(OrderWebhookID), uuid.MustParse(EUWebhookID)
	now := outboxNow
	if err := st.EnqueueDeliveries(ctx, nil); err != nil {
		t.Errorf("EnqueueDeliveries(none): %v", err)
	}
	fanout := []*sentstub.Delivery{pendingDelivery(order, now), pendingDelivery(uuid.New(), now), pendingDelivery(euHook, now)}
	if err := st.EnqueueDeliveries(ctx, fanout); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Fatalf("EnqueueDeliveries(with an unknown webhook) error = %v, want ENOTFOUND", err)
	}
	for _, c := range []struct{ owner, webhook uuid.UUID }{{acme, order}, {eu, euHook}} {
		if page, total := mustListDeliveries(t, st, ctx, c.owner, c.webhook, sentstub.DeliveryFilter{Limit: 10}); total != 0 {
			t.Errorf("a refused enqueue added %v to the log of %s", deliveryIDs(page), c.webhook)
		}
	}
	if cs := mustClaimDeliveries(t, st, now, now.Add(time.Minute), 10); len(cs) != 0 {
		t.Errorf("a refused enqueue added %v to the outbox", claimedIDs(cs))
	}
	// The same ids go in once the fan-out leaves the unknown webhook out.
	mustEnqueue(t, st, ctx, fanout[0], fanout[2])
	assertClaimed(t, st, mustClaimDeliveries(t, st, now, now.Add(time.Minute), 10), deliveriesDueFirst(fanout[0], fanout[2])...)
}

// deliveriesDueFirst returns ds in the order a claim takes them.
func deliveriesDueFirst(ds ...*sentstub.Delivery) []*sentstub.Delivery {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b *sentstub.Delivery) int {
		if c := a.NextAttemptAt.Compare(*b.NextAttemptAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return ds
}

// The outbox's writes with an idempotent request's context are the
// request's: the emit endpoint enqueues with one, which commits with its
// answer or not at all, and a refused enqueue leaves the request's other
// writes to commit.
func testOutboxInRequest(t *testing.T, st sentstub.Store) {
	bg := context.Background()
	MustProvisionDemo(t, st, created)
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	now := outboxNow
	begin := func(key string) (context.Context, sentstub.IdempotentRequest) {
		t.Helper()
		if _, claimed := mustClaim(t, st, claim(acme, key, "req_"+key, t0)); !claimed {
			t.Fatal("claim refused")
		}
		ctx, run := st.BeginIdempotentRequest(bg, acme, key, "req_"+key)
		t.Cleanup(func() { run.Abort() }) // an error: the test ended it
		return ctx, run
	}

	ctx, run := begin("emit")
	kept, refused := pendingDelivery(order, now), pendingDelivery(order, now)
	if err := st.EnqueueDeliveries(ctx, []*sentstub.Delivery{refused, pendingDelivery(uuid.New(), now)}); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Fatalf("EnqueueDeliveries(with an unknown webhook) in a request error = %v, want ENOTFOUND", err)
	}
	mustEnqueue(t, st, ctx, kept)
	if page, _ := mustListDeliveries(t, st, ctx, acme, order, sentstub.DeliveryFilter{Limit: 10}); !slices.Equal(deliveryIDs(page), []uuid.UUID{kept.ID}) {
		t.Errorf("in the request, the log = %v, want its one enqueued delivery %s", deliveryIDs(page), kept.ID)
	}
	if stored, err := run.Complete(response("req_emit", t0)); err != nil || !stored {
		t.Fatalf("Complete = %v, %v", stored, err)
	}
	cs := mustClaimDeliveries(t, st, now, now.Add(time.Hour), 10)
	assertClaimed(t, st, cs, kept)

	ctx, run = begin("aborted")
	mustEnqueue(t, st, ctx, pendingDelivery(order, now))
	if err := run.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if cs := mustClaimDeliveries(t, st, now, now.Add(time.Hour), 10); len(cs) != 0 {
		t.Errorf("an aborted request's enqueue is in the outbox: %v", claimedIDs(cs))
	}

	// A finish in a request that aborts saves nothing, the webhook's
	// counters included, and leaves the lease to its holder.
	before := mustFindWebhook(t, st, bg, acme, order)
	ctx, run = begin("finish")
	calls := 0
	if err := st.FinishDelivery(ctx, kept.ID, cs[0].Lease, recordOutcome(failure(now), &calls)); err != nil || calls != 1 {
		t.Fatalf("FinishDelivery in a request = %v, record called %d times", err, calls)
	}
	if w := mustFindWebhook(t, st, ctx, acme, order); w.ConsecutiveFailures != before.ConsecutiveFailures+1 {
		t.Errorf("in the request, the webhook has %d failures, want %d", w.ConsecutiveFailures, before.ConsecutiveFailures+1)
	}
	if err := run.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	assertWebhook(t, mustFindWebhook(t, st, bg, acme, order), before)
	assertDelivery(t, mustFindDelivery(t, st, bg, acme, order, kept.ID), kept)
	if err := st.FinishDelivery(bg, kept.ID, cs[0].Lease, recordOutcome(success(now), &calls)); err != nil {
		t.Errorf("FinishDelivery after the aborted one: %v", err)
	}
}

// testResetAccount checks that a reset replaces an account's webhooks,
// empties their logs and outbox and forgets the account's stored answers,
// and touches no other account.
func testResetAccount(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, eu, globex := uuid.MustParse(AcmeOrgID), uuid.MustParse(AcmeEUProfileID), uuid.MustParse(GlobexOrgID)
	order, receipts := uuid.MustParse(OrderWebhookID), uuid.MustParse(ReceiptsWebhookID)
	euHook, globexHook := uuid.MustParse(EUWebhookID), uuid.MustParse(GlobexWebhookID)
	now := outboxNow

	// Acme's state since the fixture was loaded: a new webhook, a toggle,
	// deliveries made and to make, answers stored and a request in flight.
	extra := newWebhook(acme, "Extra", "https://example.com/extra", created.Add(time.Hour))
	mustCreateWebhook(t, st, ctx, extra)
	if _, err := st.UpdateWebhook(ctx, acme, order, func(w *sentstub.Webhook) bool { return w.SetActive(nil, now) }); err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	mustFindWebhook(t, st, ctx, acme, receipts)
	mustEnqueue(t, st, ctx, pendingDelivery(order, now), pendingDelivery(extra.ID, now), pendingDelivery(receipts, now.Add(time.Hour)))
	mustCreateDelivery(t, st, ctx, newDelivery(order, "message.test", now))
	// Others' state, which a reset of Acme keeps.
	euPending, globexPending := pendingDelivery(euHook, now), pendingDelivery(globexHook, now.Add(time.Minute))
	mustEnqueue(t, st, ctx, euPending, globexPending)
	euLogged := newDelivery(euHook, "template.test", now)
	mustCreateDelivery(t, st, ctx, euLogged)
	euBefore, globexBefore := mustFindWebhook(t, st, ctx, eu, euHook), mustFindWebhook(t, st, ctx, globex, globexHook)
	for _, k := range []struct {
		account uuid.UUID
		key     string
	}{{acme, "a1"}, {acme, "a2"}, {eu, "a1"}, {globex, "a1"}} {
		mustClaim(t, st, claim(k.account, k.key, "req_"+k.key, t0))
		mustComplete(t, st, k.account, k.key, response("req_"+k.key, t0))
	}
	mustClaim(t, st, claim(acme, "inflight", "req_inflight", t0))

	// The fixture's Acme webhooks, parsed anew (with new secrets), but for
	// the receipts, and one webhook of the fixture's own.
	p, err := fixtures.Parse(bytes.NewReader(fixtures.Demo), created)
	if err != nil {
		t.Fatalf("parse the demo fixture: %v", err)
	}
	var fresh []sentstub.Webhook
	for _, w := range p.Webhooks {
		if w.ID == order {
			fresh = append(fresh, w)
		}
	}
	brandNew := newWebhook(acme, "Brand New", "https://example.com/new", created)
	brandNew.SigningSecret = sentstub.NewSigningSecret()
	fresh = append(fresh, *brandNew)
	if len(fresh) != 2 {
		t.Fatalf("the demo fixture has no webhook %s", order)
	}

	// A webhook of another owner is refused, and nothing changes.
	foreign := append(slices.Clone(fresh), *newWebhook(globex, "Not Acme's", "https://example.com/x", created))
	if err := st.ResetAccount(ctx, acme, foreign); sentstub.ErrorCode(err) != sentstub.EINVALID {
		t.Fatalf("ResetAccount(another owner's webhook) error = %v, want EINVALID", err)
	}
	if _, total := mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Limit: 10}); total != 3 {
		t.Fatalf("a refused reset left Acme with %d webhooks, want its 3", total)
	}
	// So is a webhook id that another account has, and nothing changes.
	taken := append(slices.Clone(fresh), *newWebhook(acme, "Taken", "https://example.com/taken", created))
	taken[2].ID = globexHook
	if err := st.ResetAccount(ctx, acme, taken); sentstub.ErrorCode(err) != sentstub.EINVALID {
		t.Fatalf("ResetAccount(an id of another account's webhook) error = %v, want EINVALID", err)
	}
	if _, err := st.FindWebhook(ctx, acme, extra.ID); err != nil {
		t.Fatalf("a failed reset deleted a webhook: %v", err)
	}

	if err := st.ResetAccount(ctx, acme, fresh); err != nil {
		t.Fatalf("ResetAccount: %v", err)
	}
	page, total := mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Limit: 10})
	if total != 2 || findWebhookIn(page, order) == nil || findWebhookIn(page, brandNew.ID) == nil {
		t.Fatalf("after a reset, Acme's webhooks = %v (total %d), want %s and %s", webhookIDs(page), total, order, brandNew.ID)
	}
	for i := range fresh {
		assertWebhook(t, mustFindWebhook(t, st, ctx, acme, fresh[i].ID), &fresh[i])
		assertWebhook(t, findWebhookIn(page, fresh[i].ID), &fresh[i])
	}
	for _, id := range []uuid.UUID{receipts, extra.ID} {
		if _, err := st.FindWebhook(ctx, acme, id); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("after a reset, FindWebhook(%s, not in the fixture) error = %v, want ENOTFOUND", id, err)
		}
	}
	if page, total := mustListDeliveries(t, st, ctx, acme, order, sentstub.DeliveryFilter{Limit: 10}); total != 0 {
		t.Errorf("after a reset, the log of %s kept %v", order, deliveryIDs(page))
	}
	// The outbox holds the other accounts' deliveries alone.
	assertClaimed(t, st, mustClaimDeliveries(t, st, now.Add(2*time.Hour), now.Add(3*time.Hour), 10), euPending, globexPending)
	assertWebhook(t, mustFindWebhook(t, st, ctx, eu, euHook), euBefore)
	assertWebhook(t, mustFindWebhook(t, st, ctx, globex, globexHook), globexBefore)
	if _, total := mustListDeliveries(t, st, ctx, eu, euHook, sentstub.DeliveryFilter{Limit: 10}); total != 2 {
		t.Errorf("a reset of Acme changed the log of its profile's webhook: total %d, want 2", total)
	}

	// Acme's stored answers are gone; its request in flight still holds
	// its key; the others' answers are kept.
	for _, key := range []string{"a1", "a2"} {
		if stored, claimed := mustClaim(t, st, claim(acme, key, "req_after_"+key, t0.Add(time.Minute))); !claimed || stored != nil {
			t.Errorf("after a reset, a key Acme used claims %v, replays %+v; want it claimed anew", claimed, stored)
		}
	}
	if stored, claimed := mustClaim(t, st, claim(acme, "inflight", "req_other", t0.Add(time.Second))); claimed || stored != nil {
		t.Errorf("after a reset, a key in flight claims %v, replays %+v; want it still held", claimed, stored)
	}
	for name, account := range map[string]uuid.UUID{"its profile": eu, "another organization": globex} {
		if stored, _ := mustClaim(t, st, claim(account, "a1", "req_x", t0.Add(time.Minute))); stored == nil || stored.RequestID != "req_a1" {
			t.Errorf("after a reset of Acme, the answer of %s is %+v, want kept", name, stored)
		}
	}

	// A reset to nothing leaves the account without webhooks.
	if err := st.ResetAccount(ctx, acme, nil); err != nil {
		t.Fatalf("ResetAccount(none): %v", err)
	}
	if page, total := mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Limit: 10}); total != 0 {
		t.Errorf("after a reset to nothing, Acme has %v", webhookIDs(page))
	}
	if _, err := st.FindWebhook(ctx, acme, order); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("after a reset to nothing, FindWebhook error = %v, want ENOTFOUND", err)
	}
}
