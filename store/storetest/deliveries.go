package storetest

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

// newDelivery returns a delivered delivery to webhook of an event of
// eventType, with new ids, created at created.
func newDelivery(webhook uuid.UUID, eventType string, created time.Time) *sentstub.Delivery {
	return &sentstub.Delivery{
		ID: uuid.New(), WebhookID: webhook, EventID: uuid.New(), EventType: eventType,
		EventData: []byte(`{"type":"` + eventType + `"}`), Status: sentstub.DeliveryDelivered, Attempts: 1,
		CreatedAt: sentstub.Timestamp(created),
	}
}

func mustCreateDelivery(t *testing.T, st sentstub.Store, ctx context.Context, d *sentstub.Delivery) {
	t.Helper()
	c := *d
	c.EventData = bytes.Clone(d.EventData)
	if err := st.CreateDelivery(ctx, &c); err != nil {
		t.Fatalf("CreateDelivery(%s): %v", d.EventType, err)
	}
}

func mustListDeliveries(t *testing.T, st sentstub.Store, ctx context.Context, owner, id uuid.UUID, f sentstub.DeliveryFilter) ([]*sentstub.Delivery, int) {
	t.Helper()
	page, total, err := st.ListDeliveries(ctx, owner, id, f)
	if err != nil {
		t.Fatalf("ListDeliveries(%+v): %v", f, err)
	}
	return page, total
}

// deliveriesNewestFirst returns the ids of ds in the order of a list.
func deliveriesNewestFirst(ds []*sentstub.Delivery) []uuid.UUID {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b *sentstub.Delivery) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
	return deliveryIDs(ds)
}

func deliveryIDs(ds []*sentstub.Delivery) []uuid.UUID {
	ids := make([]uuid.UUID, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

// assertDelivery checks that got is want, its times in UTC.
func assertDelivery(t *testing.T, got, want *sentstub.Delivery) {
	t.Helper()
	if got == nil {
		t.Errorf("delivery %s missing", want.ID)
		return
	}
	assertTime(t, "created_at", &got.CreatedAt, &want.CreatedAt)
	assertTime(t, "processing_started_at", got.ProcessingStartedAt, want.ProcessingStartedAt)
	assertTime(t, "processing_completed_at", got.ProcessingCompletedAt, want.ProcessingCompletedAt)
	assertTime(t, "next_attempt_at", got.NextAttemptAt, want.NextAttemptAt)
	g, w := *got, *want
	g.CreatedAt, w.CreatedAt = time.Time{}, time.Time{}
	g.ProcessingStartedAt, w.ProcessingStartedAt, g.ProcessingCompletedAt, w.ProcessingCompletedAt = nil, nil, nil, nil
	g.NextAttemptAt, w.NextAttemptAt = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("delivery =\n%+v\nwant\n%+v", g, w)
	}
}

func testDeliveries(t *testing.T, st sentstub.Store) {
	ctx := context.Background()
	MustProvisionDemo(t, st, created)
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	base := time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)
	zone := time.FixedZone("UTC-3", -3*3600)
	started := time.Date(2026, 2, 2, 6, 1, 0, 999999999, zone) // 09:01:00.999999 UTC
	completed := started.Add(1500 * time.Microsecond)
	status200, status204, empty, answer, problem := 200, 204, "", "ok\x00\xff, cut sh\xc3", "slow to answer"

	// Every nullable field set (in another zone, to the nanosecond), none
	// set, and an empty answer (no body is not no answer).
	d1 := &sentstub.Delivery{ID: seqID(1), WebhookID: order, EventID: uuid.MustParse("11111111-2222-4333-8444-555555555555"),
		EventType: "message.delivered", EventData: []byte("{\"id\":\"1\"}\x00\xff\n"), Status: sentstub.DeliveryDelivered,
		Attempts: 2, HTTPStatusCode: &status200, ResponseBody: &answer, ErrorMessage: &problem,
		ProcessingStartedAt: &started, ProcessingCompletedAt: &completed, CreatedAt: base.Add(time.Minute)}
	d2 := &sentstub.Delivery{ID: seqID(2), WebhookID: order, EventID: uuid.MustParse("22222222-3333-4444-8555-666666666666"),
		EventType: "message.failed", EventData: []byte(`{"id":"2"}`), Status: sentstub.DeliveryFailed, Attempts: 5,
		CreatedAt: base.Add(2 * time.Minute)}
	d3 := &sentstub.Delivery{ID: seqID(3), WebhookID: order, EventID: uuid.MustParse("33333333-4444-4555-8666-777777777777"),
		EventType: "template.approved", EventData: []byte(`{"id":"3"}`), Status: sentstub.DeliveryPending, Attempts: 1,
		HTTPStatusCode: &status204, ResponseBody: &empty, CreatedAt: base.Add(2 * time.Minute)} // ties with d2
	d4 := newDelivery(order, "message.test", base.Add(3*time.Minute))
	d4.ID = seqID(4)
	d5 := newDelivery(order, "custom.100%_done", base)
	d5.ID, d5.Status, d5.EventData = seqID(5), sentstub.DeliveryPending, []byte{} // empty, not nil
	ds := []*sentstub.Delivery{d1, d2, d3, d4, d5}
	for _, d := range ds {
		mustCreateDelivery(t, st, ctx, d)
	}
	// Another webhook's log.
	eu, euHook := uuid.MustParse(AcmeEUProfileID), uuid.MustParse(EUWebhookID)
	other := newDelivery(euHook, "message.delivered", base.Add(time.Hour))
	mustCreateDelivery(t, st, ctx, other)

	want1 := *d1
	s, c := sentstub.Timestamp(started), sentstub.Timestamp(completed)
	want1.ProcessingStartedAt, want1.ProcessingCompletedAt = &s, &c
	wants := map[uuid.UUID]*sentstub.Delivery{d1.ID: &want1, d2.ID: d2, d3.ID: d3, d4.ID: d4, d5.ID: d5}

	page, total := mustListDeliveries(t, st, ctx, acme, order, sentstub.DeliveryFilter{Limit: 100})
	if want := deliveriesNewestFirst(ds); !slices.Equal(deliveryIDs(page), want) || total != len(ds) {
		t.Fatalf("ListDeliveries = %v (total %d)\nwant %v (total %d)", deliveryIDs(page), total, want, len(ds))
	}
	for _, got := range page {
		assertDelivery(t, got, wants[got.ID])
	}
	if page, total := mustListDeliveries(t, st, ctx, eu, euHook, sentstub.DeliveryFilter{Limit: 100}); len(page) != 1 || total != 1 {
		t.Errorf("the other webhook's log = %v (total %d), want its one delivery", deliveryIDs(page), total)
	} else {
		assertDelivery(t, page[0], other)
	}

	for _, c := range []struct {
		search string
		want   []*sentstub.Delivery
	}{
		{"MESSAGE.DEL", []*sentstub.Delivery{d1}},
		{"message.", []*sentstub.Delivery{d1, d2, d4}},
		{"FAIL", []*sentstub.Delivery{d2}},              // event type and status
		{"Pending", []*sentstub.Delivery{d3, d5}},       // status only
		{"deliver", []*sentstub.Delivery{d1, d4}},       // d4 by its status
		{"100%", []*sentstub.Delivery{d5}},              // literal %
		{"0%_d", []*sentstub.Delivery{d5}},              // literal % and _
		{"e%", nil},                                     // % is no wildcard
		{"e_t", nil},                                    // nor is _
		{d3.EventID.String(), []*sentstub.Delivery{d3}}, // the event id
		{strings.ToUpper(d3.EventID.String()), []*sentstub.Delivery{d3}},
		{d3.EventID.String()[:8], nil}, // part of one is not one
		{d2.ID.String(), nil},          // the delivery's own id is not the event's
		{"\xff", nil},
		{"", ds},
	} {
		page, total, err := st.ListDeliveries(ctx, acme, order, sentstub.DeliveryFilter{Search: c.search, Limit: 100})
		if err != nil {
			t.Errorf("ListDeliveries(search %q): %v", c.search, err)
			continue
		}
		if got, want := deliveryIDs(page), deliveriesNewestFirst(c.want); !slices.Equal(got, want) || total != len(c.want) {
			t.Errorf("ListDeliveries(search %q) = %v (total %d), want %v (total %d)", c.search, got, total, want, len(c.want))
		}
	}

	var paged []uuid.UUID
	for offset := 0; offset < len(ds); offset += 2 {
		page, total := mustListDeliveries(t, st, ctx, acme, order, sentstub.DeliveryFilter{Offset: offset, Limit: 2})
		if total != len(ds) || len(page) != min(2, len(ds)-offset) {
			t.Errorf("page at %d: %d deliveries, total %d; want %d, total %d", offset, len(page), total, min(2, len(ds)-offset), len(ds))
		}
		paged = append(paged, deliveryIDs(page)...)
	}
	if want := deliveriesNewestFirst(ds); !slices.Equal(paged, want) {
		t.Errorf("pages of 2 = %v, want %v", paged, want)
	}
	for _, f := range []sentstub.DeliveryFilter{
		{Offset: len(ds), Limit: 5},
		{Offset: 1000, Limit: 1},
		{Search: "pending", Offset: 2, Limit: 10},
	} {
		want := len(ds)
		if f.Search != "" {
			want = 2
		}
		if page, total := mustListDeliveries(t, st, ctx, acme, order, f); len(page) != 0 || total != want {
			t.Errorf("a page past the end (%+v) = %v (total %d), want none (total %d)", f, deliveryIDs(page), total, want)
		}
	}

	// Only the webhook's owner sees its log, whatever the filter.
	for name, c := range map[string]struct{ owner, id string }{
		"another organization's":  {GlobexOrgID, OrderWebhookID},
		"its organization's":      {AcmeEUProfileID, OrderWebhookID},
		"its own profile's":       {AcmeOrgID, EUWebhookID},
		"one that does not exist": {AcmeOrgID, uuid.NewString()},
	} {
		for _, f := range []sentstub.DeliveryFilter{{Limit: 10}, {Offset: 100, Limit: 10}, {Search: "message", Limit: 10}, {Search: "\xff", Limit: 10}} {
			if page, _, err := st.ListDeliveries(ctx, uuid.MustParse(c.owner), uuid.MustParse(c.id), f); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
				t.Errorf("ListDeliveries(%s, %+v) = %v, %v; want ENOTFOUND", name, f, deliveryIDs(page), err)
			}
		}
	}
	// A webhook with an empty log has an empty list.
	globex, globexHook := uuid.MustParse(GlobexOrgID), uuid.MustParse(GlobexWebhookID)
	for _, f := range []sentstub.DeliveryFilter{{Limit: 10}, {Offset: 20, Limit: 10}, {Search: "x", Limit: 10}} {
		if page, total := mustListDeliveries(t, st, ctx, globex, globexHook, f); len(page) != 0 || total != 0 {
			t.Errorf("an empty log (%+v) = %v (total %d)", f, deliveryIDs(page), total)
		}
	}

	if err := st.CreateDelivery(ctx, newDelivery(uuid.New(), "message.sent", base)); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
		t.Errorf("CreateDelivery(an unknown webhook) error = %v, want ENOTFOUND", err)
	}
}
