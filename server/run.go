package server

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/fixtures"
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

	LogLevel slog.Level

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
}

// DefaultOptions are the binary's defaults.
func DefaultOptions() Options {
	return Options{
		Addr:              "127.0.0.1:8080",
		DB:                "sentstub.db",
		LogLevel:          slog.LevelInfo,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   15 * time.Second,

		DBTimeout:          store.DefaultTimeout,
		DBConnectTimeout:   10 * time.Second,
		DBStatementTimeout: 10 * time.Second,

		IdempotencyWait:        DefaultIdempotencyWait,
		IdempotencyLockTimeout: DefaultIdempotencyLockTimeout,
		SweepInterval:          time.Minute,
	}
}

// ParseOptions reads the command line; each flag falls back to its
// SENTSTUB_* environment variable (looked up with getenv), then to its
// default.
func ParseOptions(args []string, getenv func(string) string, output io.Writer) (Options, error) {
	o := DefaultOptions()
	fs := flag.NewFlagSet("sentstub", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.Addr, "addr", o.Addr, "listen address")
	fs.StringVar(&o.DB, "db", o.DB, "SQLite database file, :memory:, or a postgres:// URL shared by replicas")
	fs.DurationVar(&o.DBTimeout, "db-timeout", o.DBTimeout, "how long a request waits for the database (a connection and each statement) before 504")
	fs.IntVar(&o.DBMaxConns, "db-max-conns", o.DBMaxConns, "PostgreSQL connection pool size; 0 keeps the URL's pool_max_conns or max(4, CPUs)")
	fs.DurationVar(&o.DBConnectTimeout, "db-connect-timeout", o.DBConnectTimeout, "PostgreSQL connect timeout; 0 keeps the URL's")
	fs.DurationVar(&o.DBStatementTimeout, "db-statement-timeout", o.DBStatementTimeout, "PostgreSQL statement_timeout; 0 keeps the server's")
	fs.DurationVar(&o.IdempotencyWait, "idempotency-wait", o.IdempotencyWait, "how long a request waits for one in flight with the same Idempotency-Key before 409")
	fs.DurationVar(&o.IdempotencyLockTimeout, "idempotency-lock-timeout", o.IdempotencyLockTimeout, "how long a request in flight holds its Idempotency-Key if its process dies")
	fs.StringVar(&o.Fixtures, "fixtures", o.Fixtures, "YAML file of organizations, profiles, keys and webhooks to load; empty loads the demo fixture")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	// A variable is the flag's value until the command line sets it.
	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SENTSTUB_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		f.Usage += " (env " + name + ")"
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	if err := errors.Join(envErrs...); err != nil {
		return o, err
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.DBMaxConns < 0 || o.DBMaxConns > math.MaxInt32 {
		return o, fmt.Errorf("--db-max-conns: %d is out of range", o.DBMaxConns)
	}
	if o.DBConnectTimeout < 0 || o.DBStatementTimeout < 0 {
		return o, errors.New("--db-connect-timeout and --db-statement-timeout must not be negative")
	}
	if o.IdempotencyWait <= 0 || o.IdempotencyLockTimeout <= 0 || o.DBTimeout <= 0 {
		return o, errors.New("--db-timeout, --idempotency-wait and --idempotency-lock-timeout must be positive")
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := o.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return o, fmt.Errorf("--log-level: %w", err)
	}
	return o, nil
}

// Main is a running sentstub: its store, its server and its listener.
type Main struct {
	store  sentstub.Store
	server *http.Server
	ln     net.Listener
	served chan error

	stopSweeper context.CancelFunc
	sweeperDone chan struct{}
}

// Start opens the store, loads the fixtures, and serves on opts.Addr until
// Shutdown. It returns once the listener is open.
func Start(ctx context.Context, opts Options, logger *slog.Logger) (*Main, error) {
	st, err := store.Open(ctx, opts.DB, store.Options{
		Timeout:          opts.DBTimeout,
		MaxConns:         int32(opts.DBMaxConns),
		ConnectTimeout:   opts.DBConnectTimeout,
		StatementTimeout: opts.DBStatementTimeout,
	})
	if err != nil {
		return nil, err
	}
	if err := loadFixtures(ctx, st, opts.Fixtures); err != nil {
		st.Close()
		return nil, err
	}
	srv, err := New(Config{Store: st, Logger: logger,
		IdempotencyWait: opts.IdempotencyWait, IdempotencyLockTimeout: opts.IdempotencyLockTimeout})
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen: %w", err)
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
	sweepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stopSweeper, m.sweeperDone = stop, make(chan struct{})
	go func() {
		defer close(m.sweeperDone)
		srv.RunSweeper(sweepCtx, opts.SweepInterval)
	}()
	return m, nil
}

func loadFixtures(ctx context.Context, st sentstub.Store, path string) error {
	data := fixtures.Demo
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return fmt.Errorf("fixtures: %w", err)
		}
	}
	p, err := fixtures.Parse(bytes.NewReader(data), time.Now())
	if err != nil {
		return err
	}
	if err := st.Provision(ctx, p); err != nil {
		return fmt.Errorf("fixtures: %w", err)
	}
	return nil
}

// Addr is the address the server listens on.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// URL is the server's base URL.
func (m *Main) URL() string { return "http://" + m.Addr() }

// Shutdown stops accepting connections, lets requests in flight finish
// (until ctx ends), and closes the store.
func (m *Main) Shutdown(ctx context.Context) error {
	m.stopSweeper()
	<-m.sweeperDone
	err := m.server.Shutdown(ctx)
	if serveErr := <-m.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return errors.Join(err, m.store.Close())
}

// Run is the sentstub command: it parses args, serves until ctx is
// cancelled (SIGINT or SIGTERM in the binary), then shuts down gracefully.
func Run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	opts, err := ParseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: opts.LogLevel}))
	m, err := Start(ctx, opts, logger)
	if err != nil {
		return err
	}
	logger.Info("sentstub listening", "addr", m.Addr(), "db", store.RedactDSN(opts.DB), "fixtures", fixturesName(opts.Fixtures))
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
