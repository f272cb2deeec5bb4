package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

// runRequestWebhookWrites checks that creates and deletes of webhooks and
// deliveries made in an idempotent request are seen by the request's own
// reads at once, by nobody else's before it ends, and are undone, every
// read included, when it aborts.
func runRequestWebhookWrites(t *testing.T, open func(tb testing.TB) sentstub.Store) {
	acme, order := uuid.MustParse(AcmeOrgID), uuid.MustParse(OrderWebhookID)
	// begin claims key and begins its request, which a test that fails
	// before ending it aborts, lest it hold the store's connection (and
	// Close wait for it) for ever.
	begin := func(t *testing.T, st sentstub.Store, key string) (context.Context, sentstub.IdempotentRequest) {
		t.Helper()
		if _, claimed := mustClaim(t, st, claim(acme, key, "req_"+key, t0)); !claimed {
			t.Fatal("claim refused")
		}
		ctx, run := st.BeginIdempotentRequest(context.Background(), acme, key, "req_"+key)
		t.Cleanup(func() { run.Abort() }) // an error: the test ended it
		return ctx, run
	}
	bg := context.Background()

	t.Run("CreateThenAbort", func(t *testing.T) {
		st := open(t)
		MustProvisionDemo(t, st, created)
		_, before := mustListWebhooks(t, st, bg, acme, sentstub.WebhookFilter{Limit: 10})
		ctx, run := begin(t, st, "k")
		w := newWebhook(acme, "Fleeting", "https://example.com/fleeting", created.Add(time.Hour))
		mustCreateWebhook(t, st, ctx, w)
		// The request reads its own writes.
		assertWebhook(t, mustFindWebhook(t, st, ctx, acme, w.ID), w)
		if page, total := mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Limit: 10}); total != before+1 || findWebhookIn(page, w.ID) == nil {
			t.Errorf("in the request, ListWebhooks = %v (total %d); want the new one (total %d)", webhookIDs(page), total, before+1)
		}
		mustCreateDelivery(t, st, ctx, newDelivery(w.ID, "message.sent", created.Add(time.Hour)))
		if _, total := mustListDeliveries(t, st, ctx, acme, w.ID, sentstub.DeliveryFilter{Limit: 10}); total != 1 {
			t.Errorf("in the request, the new webhook's log has %d entries, want 1", total)
		}
		if err := run.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if _, err := st.FindWebhook(bg, acme, w.ID); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("after Abort, FindWebhook(created) error = %v, want ENOTFOUND", err)
		}
		if page, total := mustListWebhooks(t, st, bg, acme, sentstub.WebhookFilter{Limit: 10}); total != before || findWebhookIn(page, w.ID) != nil {
			t.Errorf("after Abort, ListWebhooks = %v (total %d); want it as before (total %d)", webhookIDs(page), total, before)
		}
		if err := st.DeleteWebhook(bg, acme, w.ID); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("after Abort, DeleteWebhook(created) error = %v, want ENOTFOUND", err)
		}
		// Its delivery was rolled back with it.
		mustCreateWebhook(t, st, bg, w)
		if _, total := mustListDeliveries(t, st, bg, acme, w.ID, sentstub.DeliveryFilter{Limit: 10}); total != 0 {
			t.Errorf("after Abort, the log of a webhook created again has %d entries, want 0", total)
		}
	})

	t.Run("DeleteThenAbort", func(t *testing.T) {
		st := open(t)
		MustProvisionDemo(t, st, created)
		mustCreateDelivery(t, st, bg, newDelivery(order, "message.sent", created))
		receipts := uuid.MustParse(ReceiptsWebhookID) // never read before the request
		kept := mustFindWebhook(t, st, bg, acme, order)
		_, before := mustListWebhooks(t, st, bg, acme, sentstub.WebhookFilter{Limit: 10})
		ctx, run := begin(t, st, "k")
		for _, id := range []uuid.UUID{order, receipts} {
			if err := st.DeleteWebhook(ctx, acme, id); err != nil {
				t.Fatalf("DeleteWebhook(%s) in the request: %v", id, err)
			}
			if _, err := st.FindWebhook(ctx, acme, id); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
				t.Errorf("in the request, FindWebhook(deleted) error = %v, want ENOTFOUND", err)
			}
		}
		if page, total := mustListWebhooks(t, st, ctx, acme, sentstub.WebhookFilter{Limit: 10}); total != before-2 || len(page) != before-2 {
			t.Errorf("in the request, ListWebhooks = %v (total %d); want total %d", webhookIDs(page), total, before-2)
		}
		if _, _, err := st.ListDeliveries(ctx, acme, order, sentstub.DeliveryFilter{Limit: 10}); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("in the request, ListDeliveries(deleted) error = %v, want ENOTFOUND", err)
		}
		if err := run.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		assertWebhook(t, mustFindWebhook(t, st, bg, acme, order), kept)
		mustFindWebhook(t, st, bg, acme, receipts)
		if page, total := mustListWebhooks(t, st, bg, acme, sentstub.WebhookFilter{Limit: 10}); total != before || findWebhookIn(page, order) == nil {
			t.Errorf("after Abort, ListWebhooks = %v (total %d); want it as before (total %d)", webhookIDs(page), total, before)
		}
		if _, total := mustListDeliveries(t, st, bg, acme, order, sentstub.DeliveryFilter{Limit: 10}); total != 1 {
			t.Errorf("after Abort, the log has %d entries, want 1", total)
		}
		// The webhook is whole again: it can be updated and deleted.
		no := false
		if _, err := st.UpdateWebhook(bg, acme, order, func(w *sentstub.Webhook) bool { return w.SetActive(&no, t0) }); err != nil {
			t.Errorf("after Abort, UpdateWebhook: %v", err)
		}
		if err := st.DeleteWebhook(bg, acme, order); err != nil {
			t.Errorf("after Abort, DeleteWebhook: %v", err)
		}
	})

	t.Run("CreateAndDeleteThenRelease", func(t *testing.T) {
		st := open(t)
		MustProvisionDemo(t, st, created)
		ctx, run := begin(t, st, "k")
		w := newWebhook(acme, "Lasting", "https://example.com/lasting", created.Add(time.Hour))
		mustCreateWebhook(t, st, ctx, w)
		mustCreateDelivery(t, st, ctx, newDelivery(w.ID, "message.sent", created.Add(time.Hour)))
		if err := st.DeleteWebhook(ctx, acme, order); err != nil {
			t.Fatalf("DeleteWebhook in the request: %v", err)
		}
		if err := run.Release(); err != nil {
			t.Fatalf("Release: %v", err)
		}
		assertWebhook(t, mustFindWebhook(t, st, bg, acme, w.ID), w)
		if _, total := mustListDeliveries(t, st, bg, acme, w.ID, sentstub.DeliveryFilter{Limit: 10}); total != 1 {
			t.Errorf("after Release, the new webhook's log has %d entries, want 1", total)
		}
		if _, err := st.FindWebhook(bg, acme, order); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("after Release, FindWebhook(deleted) error = %v, want ENOTFOUND", err)
		}
	})

	// A write the store refuses as ENOTFOUND leaves the request able to go
	// on and complete with the rest of its writes.
	t.Run("NotFoundThenComplete", func(t *testing.T) {
		st := open(t)
		MustProvisionDemo(t, st, created)
		ctx, run := begin(t, st, "k")
		if err := st.CreateDelivery(ctx, newDelivery(uuid.New(), "message.sent", created)); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("CreateDelivery(unknown webhook) error = %v, want ENOTFOUND", err)
		}
		w := newWebhook(acme, "Survivor", "https://example.com/survivor", created.Add(time.Hour))
		mustCreateWebhook(t, st, ctx, w)
		if err := st.CreateWebhook(ctx, newWebhook(uuid.New(), "Orphan", "https://example.com/orphan", created)); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("CreateWebhook(unknown owner) error = %v, want ENOTFOUND", err)
		}
		if err := st.CreateDelivery(ctx, newDelivery(uuid.New(), "message.sent", created)); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("CreateDelivery(unknown webhook) error = %v, want ENOTFOUND", err)
		}
		if err := st.DeleteWebhook(ctx, acme, uuid.New()); sentstub.ErrorCode(err) != sentstub.ENOTFOUND {
			t.Errorf("DeleteWebhook(unknown) error = %v, want ENOTFOUND", err)
		}
		mustCreateDelivery(t, st, ctx, newDelivery(w.ID, "message.sent", created.Add(time.Hour)))
		if stored, err := run.Complete(response("req_k", t0)); err != nil || !stored {
			t.Fatalf("Complete = %v, %v; want the answer stored", stored, err)
		}
		assertWebhook(t, mustFindWebhook(t, st, bg, acme, w.ID), w)
		if _, total := mustListDeliveries(t, st, bg, acme, w.ID, sentstub.DeliveryFilter{Limit: 10}); total != 1 {
			t.Errorf("after Complete, the log has %d entries, want 1", total)
		}
		if got, _ := mustClaim(t, st, claim(acme, "k", "req_again", t0.Add(time.Second))); got == nil || got.RequestID != "req_k" {
			t.Errorf("replay = %+v, want req_k's answer", got)
		}
	})
}
