package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/internal/testutil"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store"
	"github.com/sentstub/sentstub/store/storetest"
)

// The database deadline of these tests, and how much later than it an
// answer may come.
const (
	dbTimeout = 300 * time.Millisecond
	dbSlack   = time.Second
)

// outageEnv is the binary's server on a PostgreSQL server of its own,
// which the test makes hang or go away.
type outageEnv struct {
	*env
	pg   *storetest.PostgresServer
	db   string // the database's URL
	main *server.Main
}

func newOutageEnv(t *testing.T) *outageEnv {
	t.Helper()
	pg := storetest.MustStartPostgresServer(t)
	client := contract.Client(t)
	client.Timeout = 10 * time.Second // a server that hangs fails the test, not the test binary
	o := &outageEnv{env: &env{Logs: &testutil.SyncBuffer{}, Client: client}, pg: pg, db: pg.Database(t)}
	opts := server.DefaultOptions()
	opts.Addr, opts.DB = "127.0.0.1:0", o.db
	opts.DBTimeout = dbTimeout
	opts.IdempotencyLockTimeout = time.Second
	m, err := server.Start(context.Background(), opts, slog.New(slog.NewJSONHandler(o.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { shutdown(t, m) }) // before pg's cleanup, which thaws and stops it
	o.main, o.URL = m, m.URL()
	return o
}

// timed sends one request and asserts that it is answered within the
// database deadline and the slack.
func (o *outageEnv) timed(t *testing.T, send func() response) response {
	t.Helper()
	start := time.Now()
	r := send()
	elapsed := time.Since(start)
	if elapsed > dbTimeout+dbSlack {
		t.Errorf("answered %d after %v, more than the database deadline %v and %v", r.Status, elapsed, dbTimeout, dbSlack)
	}
	t.Logf("answered %d after %v", r.Status, elapsed.Round(time.Millisecond))
	return r
}

// isActive reads the order webhook's state from the database itself.
func (o *outageEnv) isActive(t *testing.T) bool {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), o.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := st.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(orderID))
	if err != nil {
		t.Fatal(err)
	}
	return w.IsActive
}

// waitReady polls /readyz until it answers 200.
func (o *outageEnv) waitReady(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r := o.call(t, http.MethodGet, "/readyz", nil); r.Status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not answer 200 within 10s of the database's return")
		}
	}
}

// logLine is a line of the server's JSON log.
type logLine map[string]any

func (o *outageEnv) logLines(t *testing.T, requestID string) []logLine {
	t.Helper()
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(o.Logs.String()))
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		if l["request_id"] == requestID {
			lines = append(lines, l)
		}
	}
	return lines
}

// wantLogged asserts that the access log states status for the request
// answered r, and that no line about it says the client went away.
func (o *outageEnv) wantLogged(t *testing.T, r response, status int) {
	t.Helper()
	id := r.Header.Get("X-Request-Id")
	lines := o.logLines(t, id)
	logged := false
	for _, l := range lines {
		if l["msg"] == "request" {
			logged = true
			if l["status"] != float64(status) {
				t.Errorf("request %s answered %d is logged with status %v", id, r.Status, l["status"])
			}
		}
		if l["msg"] == "client went away" {
			t.Errorf("request %s is logged as a client that went away: %v", id, l)
		}
	}
	if !logged {
		t.Errorf("request %s has no access log line:\n%s", id, o.Logs.String())
	}
}

// A database that hangs (its processes stopped, as when the network path
// to it black-holes): every request that needs it is answered 504
// INTERNAL_004 within the deadline, and logged so; /readyz answers 503.
// Once the database resumes, the server serves again without a restart,
// none of the requests it was told failed has taken effect, and the key
// whose claim was cut off is free once its lock times out.
func TestDatabaseHangs(t *testing.T) {
	o := newOutageEnv(t)
	wantOK(t, o.toggle(t, orderID, str(`{"is_active":true}`))) // caches Acme's key

	o.pg.Freeze(t)
	frozen := true
	defer func() {
		if frozen {
			o.pg.Thaw(t)
		}
	}()
	for _, tc := range []struct {
		name    string
		body    string
		headers []string
	}{
		{"toggle", `{}`, nil},
		{"toggle with an Idempotency-Key", `{}`, []string{"Idempotency-Key", "cut-off"}},
		{"sandbox toggle", `{"sandbox":true}`, nil},
		{"a key not yet seen", `{}`, []string{"x-api-key", storetest.GlobexOrgKey}},
	} {
		r := o.timed(t, func() response { return o.toggle(t, orderID, str(tc.body), tc.headers...) })
		wantError(t, r, http.StatusGatewayTimeout, "INTERNAL_004", "Timeout waiting for operation")
		o.wantLogged(t, r, http.StatusGatewayTimeout)
	}
	if r := o.timed(t, func() response { return o.call(t, http.MethodGet, "/readyz", nil) }); r.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database frozen = %d %s", r.Status, r.Body)
	}
	if r := o.call(t, http.MethodGet, "/healthz", nil); r.Status != http.StatusOK {
		t.Errorf("/healthz with the database frozen = %d, want 200: the process serves", r.Status)
	}
	o.pg.Thaw(t)
	frozen = false

	o.waitReady(t)
	if !o.isActive(t) {
		t.Error("a toggle that was answered 504 took effect once the database resumed")
	}
	time.Sleep(time.Second) // the lock timeout of a claim the database took after all
	r := o.toggle(t, orderID, str(`{}`), "Idempotency-Key", "cut-off")
	if wantOK(t, r)["is_active"] != false || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the key whose claim was cut off did not run its request once: %s", r.Body)
	}
	if wantOK(t, o.toggle(t, orderID, str(`{}`)))["is_active"] != true {
		t.Error("the server does not toggle once the database resumed")
	}
}

// A database that is shut down: requests are answered 503 INTERNAL_005
// at once, /readyz 503; once it is back, the server serves again.
func TestDatabaseDown(t *testing.T) {
	o := newOutageEnv(t)
	wantOK(t, o.toggle(t, orderID, str(`{"is_active":true}`)))

	o.pg.Stop(t)
	for i, headers := range [][]string{nil, {"Idempotency-Key", "down"}, nil} {
		r := o.timed(t, func() response { return o.toggle(t, orderID, str(`{}`), headers...) })
		wantError(t, r, http.StatusServiceUnavailable, "INTERNAL_005", "Service temporarily unavailable")
		o.wantLogged(t, r, http.StatusServiceUnavailable)
		if t.Failed() {
			t.Fatalf("request %d: %s", i, o.Logs.String())
		}
	}
	if r := o.call(t, http.MethodGet, "/readyz", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down = %d %s", r.Status, r.Body)
	}
	o.pg.Start(t)

	o.waitReady(t)
	if !o.isActive(t) {
		t.Error("a toggle answered 503 took effect")
	}
	r := o.toggle(t, orderID, str(`{}`), "Idempotency-Key", "down")
	if wantOK(t, r)["is_active"] != false || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the key of a request answered 503 did not run once the database was back: %s", r.Body)
	}
}
