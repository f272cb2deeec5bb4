package server

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"time"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/fixtures"
	"github.com/sentstub/sentstub/internal/logbuf"
	"github.com/sentstub/sentstub/server/dispatch"
	"github.com/sentstub/sentstub/store"
)

// Options are the settings of the sentstub binary.
type Options struct {
	Addr     string // listen address; port 0 picks a free port
	DB       string // SQLite file, ":memory:", or a postgres:// or postgresql:// URL
	Fixtures string // fixtures file; "" loads the demo fixture

	// DBTimeout bounds every call of the store (see store.Options.Timeout).
	DBTimeout time.Duration

	// PostgreSQL only: see store.Options. Zero keeps the URL's
	// setting or the driver's default.
	DBMaxConns         int
	DBConnectTimeout   time.Duration
	DBStatementTimeout time.Duration

	// Idempotency-Key policy (see Config).
	IdempotencyWait        time.Duration
	IdempotencyLockTimeout time.Duration
	SweepInterval          time.Duration // how often expired Idempotency-Keys are deleted

	// Deliveries of emitted events (see package dispatch).
	DeliveryRetryBase   time.Duration // the first retry's wait; each later one doubles, up to 60 times it
	DeliveryWorkers     int           // attempts at once
	DeliveryPerEndpoint int           // attempts at once to one endpoint
	DeliveryLease       time.Duration // how long an attempt's claim holds if its process dies

	// Rate limits on /v3 (none by default) and simulated failures (see
	// Config.RateLimits and Config.Chaos).
	RateLimit   RateLimits
	Chaos       float64 // the fraction of /v3 requests chaos fails
	ChaosFaults []Fault // what it picks from
	ChaosSeed   uint64  // 0 picks one

	LogLevel slog.Level

	// Pprof, when set, is a loopback address on which Go's profiles are
	// served (see net/http/pprof), on a listener of their own.
	Pprof string

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration

	// AccessLog, when set, receives the access log instead of the logger
	// (see Config.AccessLog); it is not a flag.
	AccessLog io.Writer
}

// DefaultOptions are the binary's defaults.
func DefaultOptions() Options {
	return Options{
		Addr:              "127.0.0.1:8080",
		DB:                "sentstub.db",
		LogLevel:          slog.LevelInfo,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Past the longest test delivery (timeout_seconds is at most 120).
		WriteTimeout:    135 * time.Second,
		IdleTimeout:     120 * time.Second,
		ShutdownTimeout: 15 * time.Second,

		DBTimeout:          store.DefaultTimeout,
		DBConnectTimeout:   10 * time.Second,
		DBStatementTimeout: 10 * time.Second,

		IdempotencyWait:        DefaultIdempotencyWait,
		IdempotencyLockTimeout: DefaultIdempotencyLockTimeout,
		SweepInterval:          time.Minute,

		DeliveryRetryBase:   sentstub.DefaultRetryBase,
		DeliveryWorkers:     dispatch.DefaultWorkers,
		DeliveryPerEndpoint: dispatch.DefaultPerEndpoint,
		DeliveryLease:       dispatch.DefaultLease,

		ChaosFaults: DefaultChaosFaults,
	}
}

// Main is a running sentstub: its store, its server and its listener.
type Main struct {
	store  sentstub.Store
	server *http.Server
	ln     net.Listener
	served chan error

	stopSweeper context.CancelFunc
	sweeperDone chan struct{}

	stopDeliveries context.CancelFunc
	deliveriesDone chan struct{}

	pprof   *http.Server // nil unless Options.Pprof
	pprofLn net.Listener
}

// Start opens the store, loads the fixtures, and serves on opts.Addr until
// Shutdown. It returns once the listener is open.
func Start(ctx context.Context, opts Options, logger *slog.Logger) (*Main, error) {
	if err := checkDatabasePath(opts.DB); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, opts.DB, store.Options{
		Timeout:          opts.DBTimeout,
		MaxConns:         int32(opts.DBMaxConns),
		ConnectTimeout:   opts.DBConnectTimeout,
		StatementTimeout: opts.DBStatementTimeout,
	})
	if err != nil {
		return nil, openError(opts.DB, err)
	}
	provision, err := loadFixtures(ctx, st, opts.Fixtures)
	if err != nil {
		st.Close()
		return nil, err
	}
	srv, err := New(Config{Store: st, Logger: logger, AccessLog: opts.AccessLog, Fixtures: provision,
		IdempotencyWait: opts.IdempotencyWait, IdempotencyLockTimeout: opts.IdempotencyLockTimeout,
		RateLimits: opts.RateLimit, Chaos: Chaos{Fraction: opts.Chaos, Faults: opts.ChaosFaults, Seed: opts.ChaosSeed},
		Dispatch: dispatch.Config{Policy: sentstub.RetryPolicy{Base: opts.DeliveryRetryBase}, Workers: opts.DeliveryWorkers,
			PerEndpoint: opts.DeliveryPerEndpoint, Lease: opts.DeliveryLease, Drain: opts.ShutdownTimeout / 2}})
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		st.Close()
		return nil, listenError("addr", opts.Addr, err)
	}
	var pprofLn net.Listener
	if opts.Pprof != "" {
		if pprofLn, err = net.Listen("tcp", opts.Pprof); err != nil {
			ln.Close()
			st.Close()
			return nil, listenError("pprof", opts.Pprof, err)
		}
	}
	m := &Main{
		store: st,
		ln:    ln,
		server: &http.Server{
			Handler:           srv,
			ReadHeaderTimeout: opts.ReadHeaderTimeout,
			ReadTimeout:       opts.ReadTimeout,
			WriteTimeout:      opts.WriteTimeout,
			IdleTimeout:       opts.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		served: make(chan error, 1),
	}
	go func() { m.served <- m.server.Serve(ln) }()
	if pprofLn != nil {
		m.pprof, m.pprofLn = newPprofServer(logger), pprofLn
		go m.pprof.Serve(pprofLn)
	}
	sweepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stopSweeper, m.sweeperDone = stop, make(chan struct{})
	go func() {
		defer close(m.sweeperDone)
		srv.RunSweeper(sweepCtx, opts.SweepInterval)
	}()
	deliverCtx, stopDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	m.stopDeliveries, m.deliveriesDone = stopDeliveries, make(chan struct{})
	go func() {
		defer close(m.deliveriesDone)
		srv.RunDeliveries(deliverCtx)
	}()
	return m, nil
}

// loadFixtures provisions st from the fixtures file at path (the demo
// fixture for "") and returns what it read, which resets restore.
func loadFixtures(ctx context.Context, st sentstub.Store, path string) (*sentstub.Provision, error) {
	var p *sentstub.Provision
	var err error
	if path == "" {
		p, err = fixtures.Parse(bytes.NewReader(fixtures.Demo), time.Now())
	} else {
		p, err = fixtures.ParseFile(path, time.Now())
	}
	if err != nil {
		return nil, err
	}
	if err := st.Provision(ctx, p); err != nil {
		return nil, fmt.Errorf("fixtures %s: %w", fixturesName(path), err)
	}
	return p, nil
}

// newPprofServer serves Go's profiles, and nothing else. Its handlers are
// registered on a mux of its own, never on http.DefaultServeMux.
func newPprofServer(logger *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
}

// PprofAddr is the address the profiles are served on, or "" when they
// are not.
func (m *Main) PprofAddr() string {
	if m.pprofLn == nil {
		return ""
	}
	return m.pprofLn.Addr().String()
}

// Addr is the address the server listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// URL is the server's base URL.
func (m *Main) URL() string { return "http://" + m.Addr() }

// Shutdown stops accepting connections, lets requests in flight finish
// (until ctx ends) and then delivery attempts in flight (for up to half the
// shutdown timeout, after which their leases are handed back), and closes
// the store.
func (m *Main) Shutdown(ctx context.Context) error {
	err := m.server.Shutdown(ctx)
	if m.pprof != nil {
		m.pprof.Close() // a profile being taken is cut short
	}
	if serveErr := <-m.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	// No request can emit now: let the attempts in flight finish (or hand
	// them back), then stop the sweeper.
	m.stopDeliveries()
	<-m.deliveriesDone
	m.stopSweeper()
	<-m.sweeperDone
	return errors.Join(err, m.store.Close())
}

// defaultGCPercent is the binary's GOGC unless the environment sets one.
const defaultGCPercent = 400

// Run is the sentstub command: it parses args, serves until ctx is
// cancelled (SIGINT or SIGTERM in the binary), then shuts down gracefully.
// --help and --version write to stdout and return nil; the log goes to
// stderr. A command line it cannot use is a *UsageError.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	opts, err := ParseOptions(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, ErrVersion) {
		return nil
	}
	if err != nil {
		return err
	}
	// A request allocates a few kilobytes that die with it, and the live
	// heap is small: collecting at 5x it rather than 2x takes a sixth of
	// the garbage collector's time off every request (measured under wrk),
	// for a few megabytes. GOGC, when set, decides instead.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	// The access log is on by default; its lines are written by a goroutine
	// of their own, so that no request waits on stderr.
	logs := logbuf.New(stderr)
	defer logs.Close()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: opts.LogLevel}))
	if opts.LogLevel <= slog.LevelInfo {
		opts.AccessLog = logs // the same lines, formatted without slog's handler
	}
	m, err := Start(ctx, opts, logger)
	if err != nil {
		return err
	}
	logger.Info("sentstub listening", "addr", m.Addr(), "db", store.RedactDSN(opts.DB), "fixtures", fixturesName(opts.Fixtures))
	if a := m.PprofAddr(); a != "" {
		logger.Info("serving profiles", "url", "http://"+a+"/debug/pprof/")
	}
	select {
	case <-ctx.Done():
	case err := <-m.served:
		m.served <- err // for Shutdown
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	return m.Shutdown(sctx)
}

func fixturesName(path string) string {
	if path == "" {
		return "demo"
	}
	return path
}
