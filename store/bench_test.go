package store_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store/storetest"
)

// BenchmarkKeyedToggle is the store's side of a toggle with a fresh
// Idempotency-Key (claim, then update and store the answer in one
// transaction), on an empty table and
// on one holding a million stored answers: the table's size must not slow
// it noticeably.
func BenchmarkKeyedToggle(b *testing.B) {
	for _, stored := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			ctx := context.Background()
			st := storetest.MustOpenSQLite(b)
			now := time.Now()
			storetest.MustProvisionDemo(b, st, now)
			account := uuid.MustParse(storetest.AcmeOrgID)
			webhook := uuid.MustParse(storetest.OrderWebhookID)
			if stored > 0 {
				if err := st.FillIdempotencyKeys(ctx, account, stored, now.Add(24*time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
			body := make([]byte, 600)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				i++
				key := "bench-" + strconv.Itoa(i)
				_, claimed, err := st.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{AccountID: account, Key: key,
					RequestID: "req_" + key, Fingerprint: "fp", Now: now, LockedUntil: now.Add(30 * time.Second)})
				if err != nil || !claimed {
					b.Fatalf("claim: %v %v", claimed, err)
				}
				reqCtx, run := st.BeginIdempotentRequest(ctx, account, key, "req_"+key)
				if _, err := st.UpdateWebhook(reqCtx, account, webhook, func(w *sentstub.Webhook) bool { return w.SetActive(nil, now) }); err != nil {
					b.Fatal(err)
				}
				if ok, err := run.Complete(&sentstub.IdempotentResponse{RequestID: "req_" + key,
					Fingerprint: "fp", Status: 200, Body: body, StoredAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil || !ok {
					b.Fatalf("complete: %v %v", ok, err)
				}
			}
		})
	}
}
