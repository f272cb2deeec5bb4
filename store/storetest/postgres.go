package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sentstub/sentstub/internal/testutil"
	"github.com/sentstub/sentstub/store"
)

// RequirePostgresEnv names the environment variable that, set to 1, makes
// tests that need PostgreSQL fail instead of skip when it is not installed.
// CI sets it, so that the PostgreSQL store is never untested by accident.
const RequirePostgresEnv = "SENTSTUB_REQUIRE_POSTGRES"

// postgresMissing is the skip message: loud, because a skipped test passes.
const postgresMissing = "PostgreSQL not installed: the PostgreSQL store is NOT tested; install postgresql (CI does)"

var (
	pgOnce   sync.Once
	pgMu     sync.Mutex // guards pg against StopPostgres
	pg       *pgServer
	pgErr    error  // the server could not start
	pgAbsent string // why there is no PostgreSQL to start
	pgSeq    atomic.Int64
)

// MustStartPostgres returns the URL of a new, empty database for tb on a
// throwaway PostgreSQL server. The server is started on the first call in
// the test binary (initdb and postgres in a temporary directory, listening
// on a free loopback port, with fsync off) and serves every later call; each
// call creates its own database, dropped when tb ends, so tests are
// isolated. A package that uses it should stop the server from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		storetest.StopPostgres()
//		os.Exit(code)
//	}
//
// (On Linux the server also dies with the test binary should TestMain not
// get to stop it.) When the process is root, PostgreSQL runs as the
// postgres user, since it refuses to run as root. Without PostgreSQL's
// binaries (in PATH or /usr/lib/postgresql/*/bin) the test is skipped with
// a loud message, or fails if SENTSTUB_REQUIRE_POSTGRES=1.
func MustStartPostgres(tb testing.TB) string {
	tb.Helper()
	pgOnce.Do(startPostgres)
	if pgAbsent != "" {
		if os.Getenv(RequirePostgresEnv) == "1" {
			tb.Fatalf("%s=1 but %s (%s)", RequirePostgresEnv, postgresMissing, pgAbsent)
		}
		tb.Skipf("%s (%s)", postgresMissing, pgAbsent)
	}
	if pgErr != nil {
		tb.Fatalf("start PostgreSQL: %v", pgErr)
	}
	pgMu.Lock()
	srv := pg
	pgMu.Unlock()
	if srv == nil {
		tb.Fatal("MustStartPostgres: the PostgreSQL server was stopped (StopPostgres) before this test")
	}
	return srv.newDatabase(tb)
}

// newDatabase creates a database on s for tb, dropped when tb ends, and
// returns its URL.
func (s *pgServer) newDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("%s_%d", dbNamePart(tb.Name()), pgSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a store the test did not close must not keep it alive.
		if err := s.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Logf("drop database %s: %v", name, err)
		}
	})
	return s.url(name)
}

// MustOpenPostgres opens a PostgresStore on a new database of the test
// server (see MustStartPostgres), closed when the test ends.
func MustOpenPostgres(tb testing.TB) *store.PostgresStore {
	tb.Helper()
	st, err := store.OpenPostgres(context.Background(), MustStartPostgres(tb), store.Options{})
	if err != nil {
		tb.Fatalf("open postgres store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// StopPostgres stops the server MustStartPostgres started, if it did, the
// way `pg_ctl stop -m immediate` does, and deletes its files. Call it from
// TestMain once the tests have run.
func StopPostgres() {
	pgMu.Lock()
	defer pgMu.Unlock()
	if pg != nil {
		pg.stop()
		pg = nil
	}
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

// dbNamePart turns a test name into a readable piece of a database name.
func dbNamePart(test string) string {
	s := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return "t_" + s
}

// pgServer is a cluster in a directory of the test binary's, and the
// postmaster serving it.
type pgServer struct {
	dir      string // data/, the socket and postgres.log
	port     int
	bin      string     // the directory of postgres
	runAs    *user.User // nil: the test binary's user
	pm       *postmaster
	stopOnce sync.Once
}

// postmaster is a running postgres process.
type postmaster struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when it has exited
	exitErr error         // how it exited, once exited is closed
}

func (s *pgServer) url(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// admin runs one statement on the server's postgres database.
func (s *pgServer) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// stop stops the server and deletes its files.
func (s *pgServer) stop() {
	s.stopOnce.Do(func() {
		s.halt(false)
		os.RemoveAll(s.dir)
	})
}

// halt stops the postmaster, if it runs, as `pg_ctl stop -m immediate`
// does (or `-m fast`, which first ends every session and writes a
// checkpoint, when fast), and keeps the files: start serves them again.
func (s *pgServer) halt(fast bool) {
	pm := s.pm
	s.pm = nil
	if pm == nil {
		return
	}
	if fast {
		fastShutdown(pm.cmd.Process)
	} else {
		immediateShutdown(pm.cmd.Process)
	}
	select {
	case <-pm.exited:
	case <-time.After(10 * time.Second):
		pm.cmd.Process.Kill()
		<-pm.exited
	}
}

// startPostgres is MustStartPostgres's once: it sets pg, pgErr or pgAbsent.
func startPostgres() {
	bin, err := findPostgresBin()
	if err != nil {
		pgAbsent = err.Error()
		fmt.Fprintf(os.Stderr, "\n*** storetest: %s (%s) ***\n\n", postgresMissing, pgAbsent)
		return
	}
	reapStaleServers()
	var runAs *user.User
	if os.Geteuid() == 0 {
		if runAs, err = user.Lookup("postgres"); err != nil {
			pgErr = fmt.Errorf("running as root, and PostgreSQL refuses to: no postgres user to run it as: %w", err)
			return
		}
	}
	// Several attempts: another process may take the free port first.
	for range 3 {
		var srv *pgServer
		if srv, pgErr = launchPostgres(bin, runAs); pgErr == nil {
			pgMu.Lock()
			pg = srv
			pgMu.Unlock()
			return
		}
	}
}

// findPostgresBin returns the directory of initdb and postgres: the one in
// PATH, or else the newest of /usr/lib/postgresql/*/bin (Debian, Ubuntu)
// and /usr/pgsql-*/bin (Red Hat).
func findPostgresBin() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real)) // postgres is next to the real initdb
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		found, _ := filepath.Glob(pattern)
		sort.Slice(found, func(i, j int) bool { return pgVersion(found[i]) > pgVersion(found[j]) })
		dirs = append(dirs, found...)
	}
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("no initdb and postgres in PATH, /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin")
}

var versionInPath = regexp.MustCompile(`(\d+)(?:\.(\d+))?/bin$|pgsql-(\d+)/bin$`)

func pgVersion(dir string) int {
	m := versionInPath.FindStringSubmatch(filepath.ToSlash(dir))
	if m == nil {
		return 0
	}
	major, _ := strconv.Atoi(m[1] + m[3])
	minor, _ := strconv.Atoi(m[2])
	return major*1000 + minor
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// launchPostgres creates a cluster in a new temporary directory and starts
// its postmaster on a free loopback port, returning once it accepts
// connections.
func launchPostgres(bin string, runAs *user.User) (_ *pgServer, err error) {
	parent := "" // os.TempDir()
	if runAs != nil {
		parent = "/tmp" // every parent traversable by the postgres user
	}
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-", staleDirPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	srv := &pgServer{dir: dir, bin: bin, runAs: runAs}
	defer func() {
		if err != nil {
			srv.stop()
		}
	}()
	attr, err := childAttr(runAs)
	if err != nil {
		return nil, err
	}
	if runAs != nil {
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := chown(dir, runAs); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir, initdb.Env, initdb.SysProcAttr = dir, childEnv(), attr
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if srv.port, err = testutil.FreePort(); err != nil {
		return nil, err
	}
	return srv, srv.start()
}

// start starts the postmaster on the server's directory and port, and
// returns once it accepts connections.
func (s *pgServer) start() error {
	logPath := filepath.Join(s.dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"), "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "log_min_messages=warning")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = s.dir, childEnv(), logFile, logFile
	if cmd.SysProcAttr, err = childAttr(s.runAs); err != nil {
		return err
	}
	setParentDeathSignal(cmd.SysProcAttr)
	pm := &postmaster{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal follows the thread that forked, not the
		// process: fork from a thread of our own that lives until the
		// postmaster exits.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(pm.exited)
			return
		}
		started <- nil
		pm.exitErr = cmd.Wait()
		close(pm.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.pm = pm

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		pingErr := s.admin(ctx, "SELECT 1")
		cancel()
		if pingErr == nil {
			return nil
		}
		select {
		case <-pm.exited:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited (%v):\n%s", pm.exitErr, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres did not accept connections within 30s (%v):\n%s", pingErr, out)
		}
	}
}

// childEnv is the environment of initdb and postgres, without the PG*
// variables of the user's own setup.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

// staleDirPrefix starts the name of a server's directory, followed by the
// process id of the test binary that owns it.
const staleDirPrefix = "sentstub-pg-"

func staleDirPID(dir string) (int, bool) {
	rest, ok := strings.CutPrefix(filepath.Base(dir), staleDirPrefix)
	if !ok {
		return 0, false
	}
	pid, _, ok := strings.Cut(rest, "-")
	n, err := strconv.Atoi(pid)
	return n, ok && err == nil
}

// KillWithTestBinary arranges, on Linux, for cmd's process to be killed
// when the test binary exits, so that a test that dies before its cleanup
// (a panic, a -timeout) leaves no server running; elsewhere it does
// nothing. Call it before cmd.Start. Best effort: the kernel signals when
// the thread that started cmd exits, which in Go is normally with the
// process.
func KillWithTestBinary(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setParentDeathSignal(cmd.SysProcAttr)
}

// errFreezeUnsupported: freeze needs to find a process's children.
var errFreezeUnsupported = errors.New("freezing PostgreSQL's processes is supported on Linux only")

// PostgresServer is a PostgreSQL server that one test has to itself, to
// make it hang or go away without disturbing the tests that share the
// server of MustStartPostgres.
type PostgresServer struct {
	srv    *pgServer
	frozen []int // the processes Freeze stopped
}

// MustStartPostgresServer starts a PostgreSQL server for tb alone, as
// MustStartPostgres starts the shared one (and skipped or failed the same
// way without PostgreSQL), stopped and deleted when tb ends.
func MustStartPostgresServer(tb testing.TB) *PostgresServer {
	tb.Helper()
	bin, err := findPostgresBin()
	if err != nil {
		if os.Getenv(RequirePostgresEnv) == "1" {
			tb.Fatalf("%s=1 but %s (%s)", RequirePostgresEnv, postgresMissing, err)
		}
		tb.Skipf("%s (%s)", postgresMissing, err)
	}
	var runAs *user.User
	if os.Geteuid() == 0 {
		if runAs, err = user.Lookup("postgres"); err != nil {
			tb.Fatalf("running as root, and PostgreSQL refuses to: no postgres user to run it as: %v", err)
		}
	}
	var srv *pgServer
	for range 3 { // another process may take the free port first
		if srv, err = launchPostgres(bin, runAs); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("start PostgreSQL: %v", err)
	}
	p := &PostgresServer{srv: srv}
	tb.Cleanup(func() {
		thaw(p.frozen)
		srv.stop()
	})
	return p
}

// Database creates a database for tb, dropped when tb ends, and returns
// its URL. The server must be running.
func (p *PostgresServer) Database(tb testing.TB) string {
	tb.Helper()
	return p.srv.newDatabase(tb)
}

// Freeze stops every process of the server (the postmaster and each
// backend) with SIGSTOP, as a machine that hangs or a network path that
// black-holes would: connections stay open, new ones are accepted by the
// kernel, and nothing answers.
func (p *PostgresServer) Freeze(tb testing.TB) {
	tb.Helper()
	if p.srv.pm == nil {
		tb.Fatal("Freeze: the server is not running")
	}
	if p.frozen != nil {
		tb.Fatal("Freeze: the server is frozen already")
	}
	pids, err := freeze(p.srv.pm.cmd.Process.Pid)
	p.frozen = pids
	if errors.Is(err, errFreezeUnsupported) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatalf("Freeze: %v", err)
	}
}

// Thaw resumes the processes Freeze stopped: each carries on from where it
// was, with whatever its clients sent meanwhile.
func (p *PostgresServer) Thaw(tb testing.TB) {
	tb.Helper()
	if err := thaw(p.frozen); err != nil {
		tb.Fatalf("Thaw: %v", err)
	}
	p.frozen = nil
}

// Stop shuts the server down, as `pg_ctl stop` does: every session is
// ended, and new connections are refused. Start serves the same databases
// again, on the same port.
func (p *PostgresServer) Stop(tb testing.TB) {
	tb.Helper()
	if p.frozen != nil {
		tb.Fatal("Stop: the server is frozen")
	}
	p.srv.halt(true)
}

// Start starts a server that Stop stopped, and returns once it accepts
// connections.
func (p *PostgresServer) Start(tb testing.TB) {
	tb.Helper()
	if p.srv.pm != nil {
		tb.Fatal("Start: the server is running")
	}
	if err := p.srv.start(); err != nil {
		tb.Fatalf("Start: %v", err)
	}
}
