package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/internal/testutil"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store"
	"github.com/sentstub/sentstub/store/storetest"
)

// TestMain stops the PostgreSQL server the tests started and deletes the
// binary they shared; the test binary then exits with m.Run's code.
func TestMain(m *testing.M) {
	m.Run()
	storetest.StopPostgres()
	removeSharedSentstub()
}

// Two sentstub processes on one PostgreSQL database behave as one server:
// a write through either is seen by the other at once, and one
// Idempotency-Key used on both runs its request once.
func TestReplicasShareOnePostgres(t *testing.T) {
	dbURL := storetest.MustStartPostgres(t)
	// Started together: both migrate and load the demo fixture at once.
	a, b := startPair(t, sharedSentstub(t), dbURL)

	t.Run("WritesSeenAtOnce", func(t *testing.T) {
		c := &caller{client: contract.Client(t)}
		off := c.toggle(t, a, `{"is_active":false}`, "")
		if off.Data.IsActive {
			t.Fatalf("A: is_active false answered active: %s", off.Body)
		}
		flipped := c.toggle(t, b, `{}`, "")
		if !flipped.Data.IsActive {
			t.Fatalf("B flipped the webhook A had just deactivated, and it is still inactive: B does not see A's write\n%s", flipped.Body)
		}
		same := c.toggle(t, a, `{"is_active":true}`, "")
		if !same.Data.IsActive || same.Data.UpdatedAt != flipped.Data.UpdatedAt {
			t.Fatalf("A set the state B had just set, and it changed something (updated_at %s, B's %s): A does not see B's write",
				same.Data.UpdatedAt, flipped.Data.UpdatedAt)
		}
		if off := c.toggle(t, a, `{"is_active":false}`, ""); off.Data.IsActive {
			t.Fatalf("A: is_active false answered active: %s", off.Body)
		}
	})

	t.Run("OneIdempotencyKeyOnBoth", func(t *testing.T) {
		c := &caller{client: contract.Client(t)}
		const perReplica = 10
		key := "replicas-" + strings.ReplaceAll(uuid.NewString(), "-", "")
		var (
			start = make(chan struct{})
			mu    sync.Mutex
			got   []toggled
			wg    sync.WaitGroup
		)
		for i := range 2 * perReplica {
			r := a
			if i%2 == 1 {
				r = b
			}
			wg.Go(func() {
				<-start
				res, err := c.try(r, `{}`, key)
				if err != nil {
					t.Errorf("replica %s: %v", r.name, err)
					return
				}
				mu.Lock()
				got = append(got, res)
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		replayed, inactive := 0, 0
		requestIDs := map[string]int{}
		for _, res := range got {
			if res.Status != http.StatusOK {
				t.Fatalf("replica %s answered %d, want 200:\n%s", res.Replica, res.Status, res.Body)
			}
			requestIDs[res.Meta.RequestID]++
			if !res.Data.IsActive {
				inactive++
			}
			if res.Header.Get("Idempotent-Replayed") == "true" {
				replayed++
			}
		}
		if len(requestIDs) != 1 {
			t.Errorf("the responses carry %d different meta.request_id (%v), want 1: the request ran more than once",
				len(requestIDs), requestIDs)
		}
		if inactive > 0 {
			t.Errorf("%d of %d responses say is_active false; the one flip of an inactive webhook activates it", inactive, len(got))
		}
		if replayed != len(got)-1 {
			t.Errorf("%d of %d responses carry Idempotent-Replayed: true, want all but one", replayed, len(got))
		}

		// The database agrees: flipped once, by the request that answered.
		st, err := store.OpenPostgres(context.Background(), dbURL, store.Options{MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		w, err := st.FindWebhook(context.Background(), uuid.MustParse(storetest.AcmeOrgID), uuid.MustParse(storetest.OrderWebhookID))
		if err != nil {
			t.Fatal(err)
		}
		answered, err := time.Parse(time.RFC3339Nano, got[0].Data.UpdatedAt)
		if err != nil {
			t.Fatalf("updated_at %q: %v", got[0].Data.UpdatedAt, err)
		}
		if !w.IsActive || w.UpdatedAt == nil || !w.UpdatedAt.Equal(answered) {
			t.Errorf("stored webhook: active %v, updated_at %v; want active, updated at %v (one flip)", w.IsActive, w.UpdatedAt, answered)
		}
	})
}

// buildSentstubIn builds this package's binary into dir with the test
// binary's race setting, which reuses its compiled packages and
// race-checks the replicas.
func buildSentstubIn(dir string) (string, error) {
	goBin, err := exec.LookPath("go") // go test puts its own first in PATH
	if err != nil {
		return "", fmt.Errorf("no go command to build sentstub with: %w", err)
	}
	bin := filepath.Join(dir, "sentstub")
	args := []string{"build", "-o", bin}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if (s.Key == "-race" && s.Value == "true") || (s.Key == "-tags" && s.Value != "") {
				args = append(args, s.Key+"="+s.Value)
			}
		}
	}
	build := exec.Command(goBin, append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// replica is a running sentstub process.
type replica struct {
	name   string
	url    string
	cmd    *exec.Cmd
	logs   *testutil.SyncBuffer
	exited chan struct{}
}

// startReplica starts the binary on dbURL; extra flags follow the usual ones.
func startReplica(t *testing.T, bin, name, dbURL string, extra ...string) *replica {
	port, err := testutil.FreePort()
	if err != nil {
		t.Errorf("replica %s: %v", name, err)
		return nil
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	r := &replica{name: name, url: "http://" + addr, logs: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"--db", dbURL, "--addr", addr, "--log-level", "warn", "--db-max-conns", "8"}, extra...)...)
	r.cmd.Env = withoutSentstubEnv()
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	storetest.KillWithTestBinary(r.cmd)
	if err := r.cmd.Start(); err != nil {
		t.Errorf("replica %s: %v", name, err)
		return nil
	}
	go func() {
		r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(10 * time.Second):
			r.cmd.Process.Kill()
			<-r.exited
			t.Errorf("replica %s did not stop within 10s of SIGTERM", name)
		}
		if logs := r.logs.String(); strings.Contains(logs, "DATA RACE") || t.Failed() {
			if strings.Contains(logs, "DATA RACE") {
				t.Errorf("replica %s reported a data race", name)
			}
			t.Logf("replica %s output:\n%s", name, logs)
		}
	})
	return r
}

// startReady starts a replica as startReplica does and waits until it is
// ready.
func startReady(t *testing.T, bin, name, dbURL string, extra ...string) *replica {
	t.Helper()
	r := startReplica(t, bin, name, dbURL, extra...)
	if r == nil {
		t.FailNow()
	}
	if err := r.waitReady(20 * time.Second); err != nil {
		t.Fatalf("replica %s: %v\n%s", name, err, r.logs)
	}
	return r
}

// startPair starts replicas A and B on dbURL at the same time and waits
// until both are ready.
func startPair(t *testing.T, bin, dbURL string, extra ...string) (a, b *replica) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { a = startReplica(t, bin, "A", dbURL, extra...) })
	wg.Go(func() { b = startReplica(t, bin, "B", dbURL, extra...) })
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	for _, r := range []*replica{a, b} {
		if err := r.waitReady(20 * time.Second); err != nil {
			t.Fatalf("replica %s: %v\n%s", r.name, err, r.logs)
		}
	}
	return a, b
}

// waitReady waits for GET /readyz to answer 200.
func (r *replica) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		res, err := http.Get(r.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.exited:
			return fmt.Errorf("exited: %v", r.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v (last: %v)", timeout, err)
		}
	}
}

// caller sends toggle requests with the demo's Acme key through the
// contract-checking client.
type caller struct{ client *http.Client }

type toggled struct {
	Replica string
	Status  int
	Header  http.Header
	Body    []byte
	Data    struct {
		IsActive  bool   `json:"is_active"`
		UpdatedAt string `json:"updated_at"`
	} `json:"data"`
	Meta struct {
		RequestID string `json:"request_id"`
	} `json:"meta"`
}

func (c *caller) try(r *replica, body, idempotencyKey string) (toggled, error) {
	res := toggled{Replica: r.name}
	req, err := http.NewRequest(http.MethodPatch, r.url+"/v3/webhooks/"+storetest.OrderWebhookID+"/toggle-status", strings.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", storetest.AcmeOrgKey)
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if res.Body, err = io.ReadAll(resp.Body); err != nil {
		return res, err
	}
	res.Status, res.Header = resp.StatusCode, resp.Header
	if err := json.Unmarshal(res.Body, &res); err != nil {
		return res, fmt.Errorf("body is not JSON: %w\n%s", err, res.Body)
	}
	return res, nil
}

// toggle sends one request that must answer 200.
func (c *caller) toggle(t *testing.T, r *replica, body, idempotencyKey string) toggled {
	t.Helper()
	res, err := c.try(r, body, idempotencyKey)
	if err != nil {
		t.Fatalf("replica %s: %v", r.name, err)
	}
	if res.Status != http.StatusOK {
		t.Fatalf("replica %s answered %d, want 200:\n%s", r.name, res.Status, res.Body)
	}
	return res
}

// withoutSentstubEnv is the environment without SENTSTUB_* settings, so
// that only the test's flags configure the replicas.
func withoutSentstubEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SENTSTUB_") {
			env = append(env, kv)
		}
	}
	return env
}

// The PostgreSQL options of the binary: flags, then SENTSTUB_* variables,
// then defaults.
func TestParseOptionsPostgres(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	o, err := server.ParseOptions([]string{"--db", "postgres://app@db/sentstub", "--db-max-conns", "16", "--db-statement-timeout", "2s"},
		env(map[string]string{"SENTSTUB_DB_MAX_CONNS": "4", "SENTSTUB_DB_CONNECT_TIMEOUT": "3s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.DB != "postgres://app@db/sentstub" || o.DBMaxConns != 16 || o.DBConnectTimeout != 3*time.Second || o.DBStatementTimeout != 2*time.Second {
		t.Errorf("options = db %q, max conns %d, connect timeout %v, statement timeout %v", o.DB, o.DBMaxConns, o.DBConnectTimeout, o.DBStatementTimeout)
	}
	o, err = server.ParseOptions(nil, env(map[string]string{"SENTSTUB_DB": "postgresql://db/x"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	def := server.DefaultOptions()
	if o.DB != "postgresql://db/x" || o.DBMaxConns != def.DBMaxConns || o.DBConnectTimeout != def.DBConnectTimeout || o.DBStatementTimeout != def.DBStatementTimeout {
		t.Errorf("options from SENTSTUB_DB = %+v", o)
	}
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"negative pool":           {args: []string{"--db-max-conns", "-1"}},
		"huge pool":               {args: []string{"--db-max-conns", "99999999999"}},
		"negative timeout":        {args: []string{"--db-connect-timeout", "-1s"}},
		"malformed env pool":      {env: map[string]string{"SENTSTUB_DB_MAX_CONNS": "many"}},
		"malformed env timeout":   {env: map[string]string{"SENTSTUB_DB_STATEMENT_TIMEOUT": "5"}},
		"malformed flag duration": {args: []string{"--db-statement-timeout", "soon"}},
	} {
		if _, err := server.ParseOptions(c.args, env(c.env), io.Discard); err == nil {
			t.Errorf("%s: ParseOptions succeeded", name)
		}
	}
}
