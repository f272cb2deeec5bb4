package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store"
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

// BenchmarkSQLitePages is the floor under BenchmarkKeyedToggle: raw SQLite
// transactions, with the store's settings, that rewrite one 400-byte row
// (a keyless toggle's write), and then that plus a 600-byte answer stored
// in three ways: appended to a table (what the store does), overwriting a
// row on a page not written lately (a ring of preallocated slots), and
// overwriting one of four rows in turn, whose pages stay in SQLite's cache
// (the cheapest second page there is). What a second page costs, against a
// whole keyless toggle, bounds the ratio of a keyed toggle to a keyless one.
func BenchmarkSQLitePages(b *testing.B) {
	const ring = 100_000 // slots of the cold variant, far more than SQLite's cache holds
	answer := make([]byte, 600)
	for _, variant := range []struct {
		name  string
		slots int // preallocated answer rows; 0: none
		store string
	}{
		{"webhook", 0, ""},
		{"webhook+append", 0, `INSERT INTO answers (body) VALUES (?)`},
		{"webhook+overwrite-cold", ring, `UPDATE answers SET body = ? WHERE id = ?`},
		{"webhook+overwrite-hot", 4, `UPDATE answers SET body = ? WHERE id = ?`},
	} {
		b.Run(variant.name, func(b *testing.B) {
			ctx := context.Background()
			db, err := sql.Open("sqlite", store.SQLiteDSN(filepath.Join(b.TempDir(), "pages.db")))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			conn, err := db.Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { conn.Close() })
			exec := func(query string, args ...any) {
				b.Helper()
				if _, err := conn.ExecContext(ctx, query, args...); err != nil {
					b.Fatalf("%s: %v", query, err)
				}
			}
			exec(`CREATE TABLE webhooks (id TEXT PRIMARY KEY, is_active INTEGER NOT NULL, rest BLOB NOT NULL)`)
			exec(`INSERT INTO webhooks VALUES ('d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8', 0, ?)`, make([]byte, 360))
			exec(`CREATE TABLE answers (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`)
			exec(`BEGIN`)
			for range variant.slots {
				exec(`INSERT INTO answers (body) VALUES (?)`, answer)
			}
			exec(`COMMIT`)
			exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			toggle, err := conn.PrepareContext(ctx, `UPDATE webhooks SET is_active = 1 - is_active`)
			if err != nil {
				b.Fatal(err)
			}
			var storeAnswer *sql.Stmt
			if variant.store != "" {
				if storeAnswer, err = conn.PrepareContext(ctx, variant.store); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				exec(`BEGIN`)
				if _, err := toggle.ExecContext(ctx); err != nil {
					b.Fatal(err)
				}
				if storeAnswer != nil {
					args := []any{answer}
					if variant.slots > 0 {
						args = append(args, i%variant.slots+1)
					}
					if _, err := storeAnswer.ExecContext(ctx, args...); err != nil {
						b.Fatal(err)
					}
				}
				exec(`COMMIT`)
			}
		})
	}
}
