package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/gen"
	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// startMain runs the binary's Start on port 0 with the database at db.
func startMain(t *testing.T, db, fixtures string) *server.Main {
	t.Helper()
	opts := server.DefaultOptions()
	opts.Addr, opts.DB, opts.Fixtures = "127.0.0.1:0", db, fixtures
	m, err := server.Start(context.Background(), opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return m
}

func shutdown(t *testing.T, m *server.Main) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func genClient(t *testing.T, url, key string) *gen.ClientWithResponses {
	t.Helper()
	c, err := gen.NewClientWithResponses(url, gen.WithHTTPClient(contract.Client(t)),
		gen.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("x-api-key", key)
			return nil
		}))
	if err != nil {
		t.Fatalf("NewClientWithResponses: %v", err)
	}
	return c
}

// End to end: the generated client against the binary's server on a real
// SQLite file; a restart on the same file keeps the toggle.
func TestEndToEndGeneratedClient(t *testing.T) {
	db := filepath.Join(t.TempDir(), "e2e.db")
	m := startMain(t, db, "")
	c := genClient(t, m.URL(), storetest.AcmeOrgKey)
	ctx := context.Background()
	id := uuid.MustParse(storetest.OrderWebhookID)
	off := false
	key := "e2e-1"
	res, err := c.ToggleWebhookStatusWithResponse(ctx, id, &gen.ToggleWebhookStatusParams{IdempotencyKey: &key}, gen.ToggleWebhookStatusJSONRequestBody{IsActive: &off})
	if err != nil {
		t.Fatalf("toggle: %v", err)
	}
	if res.JSON200 == nil || res.JSON200.Data.IsActive || !res.JSON200.Success {
		t.Fatalf("toggle answered %d %s", res.StatusCode(), res.Body)
	}
	if got := res.JSON200.Data.UpdatedAt; got == nil || time.Since(got.Time) > time.Minute {
		t.Errorf("updated_at = %v, want about now", got)
	}
	missing, err := c.ToggleWebhookStatusWithResponse(ctx, uuid.New(), nil, gen.ToggleWebhookStatusJSONRequestBody{})
	if err != nil {
		t.Fatal(err)
	}
	if missing.JSON404 == nil || missing.JSON404.Error.Code != "RESOURCE_008" {
		t.Errorf("unknown webhook answered %d %s", missing.StatusCode(), missing.Body)
	}
	shutdown(t, m)

	m = startMain(t, db, "")
	defer shutdown(t, m)
	c = genClient(t, m.URL(), storetest.AcmeOrgKey)
	res, err = c.ToggleWebhookStatusWithResponse(ctx, id, nil, gen.ToggleWebhookStatusJSONRequestBody{})
	if err != nil {
		t.Fatal(err)
	}
	if res.JSON200 == nil || !res.JSON200.Data.IsActive {
		t.Fatalf("after a restart the flip of an inactive webhook answered %d %s", res.StatusCode(), res.Body)
	}
}

func TestStartRejectsBadFixtures(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	yaml := `organizations:
  - id: 11111111-1111-4111-8111-111111111111
    name: Acme
    api_keys: [k1]
webhooks:
  - id: 22222222-2222-4222-8222-222222222222
    owner: 11111111-1111-4111-8111-111111111111
    display_name: ok
    endpoint_url: https://example.com
    is_active: true
    event_types: [messages]
  - id: 33333333-3333-4333-8333-333333333333
    owner: 11111111-1111-4111-8111-111111111111
    display_name: bad
    endpoint_url: https://example.com
    is_active: true
    event_types: [messages]
    retry_count: 9
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := server.DefaultOptions()
	opts.Addr, opts.DB, opts.Fixtures = "127.0.0.1:0", filepath.Join(dir, "x.db"), file
	_, err := server.Start(context.Background(), opts, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "webhooks[1]") || !strings.Contains(err.Error(), "retry_count") {
		t.Fatalf("Start with a bad fixture = %v, want an error naming webhooks[1] and retry_count", err)
	}
}

// Shutdown lets a request that is in flight finish: the request's body is
// still arriving when shutdown starts.
func TestGracefulShutdown(t *testing.T) {
	m := startMain(t, ":memory:", "")
	conn, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"is_active":false}`
	fmt.Fprintf(conn, "PATCH /v3/webhooks/%s/toggle-status HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		storetest.OrderWebhookID, storetest.AcmeOrgKey, len(body), body[:5])
	time.Sleep(100 * time.Millisecond) // the server is reading the body

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- m.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the in-flight response: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		t.Errorf("in-flight request answered %d", res.StatusCode)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := http.Get(m.URL() + "/healthz"); err == nil {
		t.Errorf("the server still accepts connections after Shutdown")
	}
}

// Concurrent flips of one webhook: none lost, none answered 5xx.
func TestConcurrentToggles(t *testing.T) {
	for _, db := range []string{"file", ":memory:"} {
		t.Run(db, func(t *testing.T) {
			st := storetest.MustOpenSQLite(t)
			if db == ":memory:" {
				st = storetest.MustOpenSQLitePath(t, ":memory:")
			}
			storetest.MustProvisionDemo(t, st, time.Now())
			e := newEnv(t, st)
			const workers, flips = 8, 15
			var wg sync.WaitGroup
			errs := make(chan error, workers*flips)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range flips {
						req, _ := http.NewRequest(http.MethodPatch, e.URL+"/v3/webhooks/"+orderID+"/toggle-status", strings.NewReader(`{}`))
						req.Header.Set("x-api-key", storetest.AcmeOrgKey)
						req.Header.Set("Content-Type", "application/json")
						res, err := e.Client.Do(req)
						if err != nil {
							errs <- err
							return
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusOK {
							errs <- fmt.Errorf("status %d", res.StatusCode)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			w, err := st.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(orderID))
			if err != nil {
				t.Fatal(err)
			}
			// 120 flips from active: active again; one lost update would leave it inactive.
			if want := (workers*flips)%2 == 0; w.IsActive != want {
				t.Errorf("after %d concurrent flips is_active = %v, want %v", workers*flips, w.IsActive, want)
			}
		})
	}
}

// jitteryStore waits a random moment (up to half a millisecond) before
// each update reaches the store, as a network would before the row lock.
type jitteryStore struct{ sentstub.Store }

func (s jitteryStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (*sentstub.Webhook, error) {
	time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
	return s.Store.UpdateWebhook(ctx, owner, id, update)
}

// Concurrent flips of one webhook, on each store, with the real clock:
// updated_at follows the order in which the flips committed. Sorted by it,
// the N answers have N distinct timestamps and alternate is_active, and the
// latest is the state the webhook is left in.
func TestConcurrentTogglesFollowCommitOrder(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) sentstub.Store{
		"sqlite":   func(t *testing.T) sentstub.Store { return storetest.MustOpenSQLite(t) },
		"postgres": func(t *testing.T) sentstub.Store { return storetest.MustOpenPostgres(t) },
	} {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			storetest.MustProvisionDemo(t, st, time.Now().Add(-time.Hour))
			e := newEnv(t, jitteryStore{st}, func(c *server.Config) { c.Now = time.Now })
			const workers, flips = 8, 25
			type answer struct {
				updated time.Time
				active  bool
			}
			answers := make(chan answer, workers*flips)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range flips {
						data := wantOK(t, e.toggle(t, orderID, str(`{}`)))
						updated, err := time.Parse(time.RFC3339Nano, data["updated_at"].(string))
						if err != nil {
							t.Error(err)
							return
						}
						answers <- answer{updated, data["is_active"].(bool)}
					}
				})
			}
			wg.Wait()
			close(answers)
			var sorted []answer
			for a := range answers {
				sorted = append(sorted, a)
			}
			sort.Slice(sorted, func(i, j int) bool { return sorted[i].updated.Before(sorted[j].updated) })
			var same, unordered int
			for i := 1; i < len(sorted); i++ {
				if sorted[i].updated.Equal(sorted[i-1].updated) {
					same++
				}
				if sorted[i].active == sorted[i-1].active {
					unordered++
				}
			}
			if same > 0 || unordered > 0 {
				t.Errorf("of %d answers sorted by updated_at, %d share a timestamp with the one before and %d do not alternate is_active",
					len(sorted), same, unordered)
			}
			w, err := st.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(orderID))
			if err != nil {
				t.Fatal(err)
			}
			if last := sorted[len(sorted)-1]; last.active != w.IsActive || !last.updated.Equal(*w.UpdatedAt) {
				t.Errorf("the latest answer (is_active %v at %v) is not the state the webhook was left in (%v at %v)",
					last.active, last.updated, w.IsActive, w.UpdatedAt)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	env := map[string]string{"SENTSTUB_ADDR": "0.0.0.0:9999", "SENTSTUB_DB": "env.db", "SENTSTUB_FIXTURES": "env.yaml"}
	getenv := func(k string) string { return env[k] }
	o, err := server.ParseOptions(nil, getenv, io.Discard)
	if err != nil || o.Addr != "0.0.0.0:9999" || o.DB != "env.db" || o.Fixtures != "env.yaml" {
		t.Errorf("from env: %+v, %v", o, err)
	}
	o, err = server.ParseOptions([]string{"--addr", ":1", "--db", "flag.db", "--fixtures", "f.yaml"}, getenv, io.Discard)
	if err != nil || o.Addr != ":1" || o.DB != "flag.db" || o.Fixtures != "f.yaml" {
		t.Errorf("flags over env: %+v, %v", o, err)
	}
	o, err = server.ParseOptions(nil, func(string) string { return "" }, io.Discard)
	if err != nil || o.Addr != "127.0.0.1:8080" || o.DB != "sentstub.db" || o.Fixtures != "" {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	var usage *server.UsageError
	if _, err := server.ParseOptions([]string{"--nope"}, getenv, io.Discard); !errors.As(err, &usage) {
		t.Errorf("an unknown flag: %v, want a *UsageError", err)
	}
	if o.DBTimeout != 5*time.Second {
		t.Errorf("default --db-timeout = %v, want 5s", o.DBTimeout)
	}
	o, err = server.ParseOptions(nil, func(k string) string { return map[string]string{"SENTSTUB_DB_TIMEOUT": "750ms"}[k] }, io.Discard)
	if err != nil || o.DBTimeout != 750*time.Millisecond {
		t.Errorf("SENTSTUB_DB_TIMEOUT=750ms: %v, %v", o.DBTimeout, err)
	}
	if _, err := server.ParseOptions([]string{"--db-timeout", "0s"}, getenv, io.Discard); err == nil {
		t.Errorf("--db-timeout 0s was accepted")
	}
	var out strings.Builder
	if _, err := server.ParseOptions([]string{"--version"}, getenv, &out); !errors.Is(err, server.ErrVersion) || out.String() != server.Version()+"\n" {
		t.Errorf("--version: %v, wrote %q", err, out.String())
	}
	if err := server.Run(context.Background(), []string{"-h"}, getenv, io.Discard, io.Discard); err != nil {
		t.Errorf("Run(-h) = %v, want nil", err)
	}
	if err := server.Run(context.Background(), []string{"--db", ""}, getenv, io.Discard, io.Discard); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Run with an empty --db = %v, want an error", err)
	}
}
