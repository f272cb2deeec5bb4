package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/internal/testutil"
)

// A command line or a start-up the binary cannot use ends it within this
// long, with one line that says what to do.
const failFast = 3 * time.Second

var shared struct {
	once     sync.Once
	dir, bin string
	err      error
}

// sharedSentstub is the binary, built once for the package's tests by
// buildSentstubIn; TestMain deletes it.
func sharedSentstub(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "sentstub-cli-"); shared.err == nil {
			shared.bin, shared.err = buildSentstubIn(shared.dir)
		}
	})
	if shared.err != nil {
		t.Fatalf("build sentstub: %v", shared.err)
	}
	return shared.bin
}

func removeSharedSentstub() {
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

// ran is what one run of the binary did.
type ran struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runSentstub runs the binary to its end (at most 20 s) with args and the
// environment without SENTSTUB_* variables plus env.
func runSentstub(t *testing.T, env []string, args ...string) ran {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sharedSentstub(t), args...)
	cmd.Env = append(withoutSentstubEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := ran{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		r.code = exit.ExitCode()
	default:
		t.Fatalf("sentstub %s: %v (it ran %v)\nstderr:\n%s", strings.Join(args, " "), err, r.took, r.stderr)
	}
	return r
}

// goTypeName matches what a message must not show: a Go type or package
// name, such as fixtures.webhook or *pgconn.ConnectError.
var goTypeName = regexp.MustCompile(`\bfixtures\.[a-z]\w*\b|\*?\b[a-z]+\.[A-Z]\w+\b|\(\d+\)$`)

// wantOneLineError checks that r ended with status code within failFast,
// having printed only "sentstub: ..." once on stderr, containing every one
// of want.
func wantOneLineError(t *testing.T, r ran, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d\nstderr:\n%s", r.code, code, r.stderr)
	}
	if r.took > failFast {
		t.Errorf("it took %v to fail, want at most %v", r.took, failFast)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "sentstub: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr = %q, want one line \"sentstub: ...\"", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("the message %q does not say %q", lines[0], w)
		}
	}
	if m := goTypeName.FindString(lines[0]); m != "" {
		t.Errorf("the message %q shows %q, a Go name or a driver's code", lines[0], m)
	}
}

// --version prints one line: the module version and commit the build
// information holds (as `go version -m` reads them), and the toolchain.
func TestVersion(t *testing.T) {
	bin := sharedSentstub(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(goBin, "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	version, commit, modified := "", "unknown", false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/sentstub/sentstub":
			version = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			commit = strings.TrimPrefix(f[1], "vcs.revision=")
		case len(f) == 2 && f[0] == "build" && f[1] == "vcs.modified=true":
			modified = true
		}
	}
	if version == "" {
		t.Fatalf("go version -m shows no module version:\n%s", out)
	}
	want := "sentstub " + version + " commit " + commit
	if modified {
		want += " (modified)"
	}
	want += " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	r := runSentstub(t, nil, "--version")
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("sentstub --version: status %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, want)
	}
}

// --help lists the flags by group, each with its variable and default.
func TestHelp(t *testing.T) {
	r := runSentstub(t, nil, "--help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("sentstub --help: status %d, stderr %q", r.code, r.stderr)
	}
	if h := runSentstub(t, nil, "-h"); h.stdout != r.stdout || h.code != 0 {
		t.Errorf("-h printed something else than --help (status %d):\n%s", h.code, h.stdout)
	}
	groups := []struct {
		name  string
		flags [][3]string // flag, variable, default
	}{
		{"Server", [][3]string{{"addr", "SENTSTUB_ADDR", "127.0.0.1:8080"}, {"fixtures", "SENTSTUB_FIXTURES", "the demo fixture"}}},
		{"Database", [][3]string{{"db", "SENTSTUB_DB", "sentstub.db"}, {"db-timeout", "SENTSTUB_DB_TIMEOUT", "5s"}, {"db-max-conns", "SENTSTUB_DB_MAX_CONNS", "0"},
			{"db-connect-timeout", "SENTSTUB_DB_CONNECT_TIMEOUT", "10s"}, {"db-statement-timeout", "SENTSTUB_DB_STATEMENT_TIMEOUT", "10s"}}},
		{"Idempotency", [][3]string{{"idempotency-wait", "SENTSTUB_IDEMPOTENCY_WAIT", "5s"},
			{"idempotency-lock-timeout", "SENTSTUB_IDEMPOTENCY_LOCK_TIMEOUT", "30s"}}},
		{"Deliveries", [][3]string{{"delivery-retry-base", "SENTSTUB_DELIVERY_RETRY_BASE", "1m0s"},
			{"delivery-workers", "SENTSTUB_DELIVERY_WORKERS", "16"}, {"delivery-per-endpoint", "SENTSTUB_DELIVERY_PER_ENDPOINT", "8"},
			{"delivery-lease", "SENTSTUB_DELIVERY_LEASE", "5m0s"}}},
		{"Limits", [][3]string{{"rate-limit", "SENTSTUB_RATE_LIMIT", "off"}}},
		{"Faults", [][3]string{{"chaos", "SENTSTUB_CHAOS", "0"},
			{"chaos-faults", "SENTSTUB_CHAOS_FAULTS", "rate_limited,internal_error,unavailable,timeout,disconnect"},
			{"chaos-seed", "SENTSTUB_CHAOS_SEED", "0"}}},
		{"Logging", [][3]string{{"log-level", "SENTSTUB_LOG_LEVEL", "info"}}},
	}
	help := r.stdout
	at := 0
	for _, g := range groups {
		i := strings.Index(help[at:], "\n"+g.name+":\n")
		if i < 0 {
			t.Fatalf("--help has no group %q after position %d:\n%s", g.name, at, help)
		}
		at += i + 1
		section := help[at:]
		if end := strings.Index(section, "\n\n"); end >= 0 {
			section = section[:end]
		}
		for _, f := range g.flags {
			entry := regexp.MustCompile(`(?m)^  --` + regexp.QuoteMeta(f[0]) + ` \S+\n +\S.*\n +env ` +
				regexp.QuoteMeta(f[1]) + `, default ` + regexp.QuoteMeta(f[2]) + `$`)
			if !entry.MatchString(section) {
				t.Errorf("--help's %s group does not list --%s with env %s and default %s:\n%s", g.name, f[0], f[1], f[2], section)
			}
		}
		if n := strings.Count(section, "\n  --"); n != len(g.flags) {
			t.Errorf("--help's %s group lists %d flags, want %d:\n%s", g.name, n, len(g.flags), section)
		}
	}
	for _, other := range []string{"--help", "--version"} {
		if !strings.Contains(help, other) {
			t.Errorf("--help does not mention %s", other)
		}
	}
}

// A command line or variable the binary cannot use: status 2 and one line
// that names the flag or variable.
func TestBadUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"unknown flag", nil, []string{"--bogus"}, []string{"unknown flag --bogus", "--help"}},
		{"flag without its value", nil, []string{"--db"}, []string{"--db needs a value"}},
		{"malformed duration", nil, []string{"--idempotency-wait", "5x"}, []string{`--idempotency-wait: "5x" is not a duration; write it like 5s or 250ms`}},
		{"malformed duration with =", nil, []string{"--db-connect-timeout=soon"}, []string{`--db-connect-timeout: "soon" is not a duration`, "5s"}},
		{"malformed duration in a variable", []string{"SENTSTUB_IDEMPOTENCY_LOCK_TIMEOUT=30"}, nil,
			[]string{`SENTSTUB_IDEMPOTENCY_LOCK_TIMEOUT: "30" is not a duration; write it like 5s or 250ms`}},
		{"zero wait", nil, []string{"--idempotency-wait", "0s"}, []string{"--idempotency-wait", "more than 0"}},
		{"negative timeout", nil, []string{"--db-statement-timeout", "-1s"}, []string{"--db-statement-timeout", "negative"}},
		{"malformed number", nil, []string{"--db-max-conns", "many"}, []string{`--db-max-conns: "many" is not a whole number`}},
		{"number out of range", nil, []string{"--db-max-conns", "99999999999"}, []string{"--db-max-conns", "out of range"}},
		{"unknown log level", nil, []string{"--log-level", "loud"}, []string{`--log-level: "loud"`, "debug, info, warn or error"}},
		{"empty database", nil, []string{"--db="}, []string{"--db: must not be empty"}},
		{"an argument", nil, []string{"serve"}, []string{`unexpected argument "serve"`}},
		{"unknown rate limit", nil, []string{"--rate-limit", "fast"}, []string{`--rate-limit: "fast" is not a rate limit`, "30/min,burst=3"}},
		{"rate limit of 0", []string{"SENTSTUB_RATE_LIMIT=0/min"}, nil, []string{"SENTSTUB_RATE_LIMIT", "must be 1 to"}},
		{"chaos over 1", nil, []string{"--chaos=1.5"}, []string{`--chaos: "1.5" is not a fraction from 0 to 1`}},
		{"unknown fault", nil, []string{"--chaos-faults", "timeout,meteor"}, []string{`--chaos-faults: "meteor" is not a fault`, "disconnect"}},
		{"negative seed", nil, []string{"--chaos-seed", "-1"}, []string{`--chaos-seed: "-1" is not a whole number`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantOneLineError(t, runSentstub(t, tt.env, tt.args...), 2, tt.want...)
		})
	}
}

// A start-up that cannot succeed: status 1 and one line that names the
// problem and what to do, printed once.
func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	unknownField := write("unknown-field.yaml", `organizations:
  - id: 11111111-1111-4111-8111-111111111111
    name: Acme
    api_keys: [k1]
webhooks:
  - id: 22222222-2222-4222-8222-222222222222
    owner: 11111111-1111-4111-8111-111111111111
    display_name: Orders
    endpoint_url: https://example.com
    is_active: true
    event_types: [message]
    foo: bar
`)
	empty := write("empty.yaml", "")
	noOrganizations := write("no-organizations.yaml", "webhooks: []\n")
	closedPort, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	missingDir := filepath.Join(dir, "no-such-dir", "sentstub.db")
	memory := []string{"--db", ":memory:"}
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"database directory missing", []string{"--db", missingDir},
			[]string{"database file " + missingDir, "the directory " + filepath.Dir(missingDir) + " does not exist", "mkdir -p"}},
		{"database is a directory", []string{"--db", dir}, []string{dir + " is a directory", filepath.Join(dir, "sentstub.db")}},
		{"unknown fixtures field", append(memory, "--fixtures", unknownField),
			[]string{"fixtures " + unknownField + `: line 12: unknown field "foo" in a webhook`, "display_name"}},
		{"empty fixtures file", append(memory, "--fixtures", empty), []string{"fixtures " + empty + ": ", "defines no organizations"}},
		{"fixtures without organizations", append(memory, "--fixtures", noOrganizations), []string{"defines no organizations", "organizations:"}},
		{"fixtures file missing", append(memory, "--fixtures", filepath.Join(dir, "nope.yaml")),
			[]string{"fixtures " + filepath.Join(dir, "nope.yaml"), "no such file or directory", "--fixtures"}},
		{"PostgreSQL unreachable", []string{"--db", fmt.Sprintf("postgres://app:s3cret@127.0.0.1:%d/sentstub", closedPort)},
			[]string{"cannot connect to PostgreSQL at postgres://app:xxxxx@127.0.0.1:", "connection refused", "check that it is running"}},
		{"address in use", append(memory, "--addr", busy.Addr().String()), []string{"address " + busy.Addr().String() + " is in use", "--addr"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runSentstub(t, nil, append([]string{"--addr", "127.0.0.1:0"}, tt.args...)...)
			wantOneLineError(t, r, 1, tt.want...)
			if strings.Contains(r.stderr, "s3cret") {
				t.Errorf("the message shows the password: %s", r.stderr)
			}
			if n := strings.Count(r.stderr, "connection refused"); n > 1 {
				t.Errorf("the message says %d times why the connection failed: %s", n, r.stderr)
			}
		})
	}
}

// A second sentstub on a SQLite file that another one holds says so at
// once, and the first goes on serving.
func TestDatabaseInUse(t *testing.T) {
	bin := sharedSentstub(t)
	db := filepath.Join(t.TempDir(), "sentstub.db")
	first := startReady(t, bin, "first", db)

	r := runSentstub(t, nil, "--addr", "127.0.0.1:0", "--db", db)
	wantOneLineError(t, r, 1, "database file "+db+" is in use by another sentstub process; stop it or use another --db")

	res, err := http.Get(first.url + "/readyz")
	if err != nil {
		t.Fatalf("the first process no longer answers: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("the first process's /readyz = %d after the second tried its file", res.StatusCode)
	}
	c := &caller{client: contract.Client(t)}
	c.toggle(t, first, `{"is_active":false}`, "")
	select {
	case <-first.exited:
		t.Errorf("the first process exited: %v\n%s", first.cmd.ProcessState, first.logs)
	default:
	}
}
