package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// The groups of --help, in the order it lists them. A group is shown only
// when a flag belongs to it, so adding one is one line here.
var flagGroups = []string{"Server", "Database", "Idempotency", "Deliveries", "Limits", "Faults", "Logging", "Profiling"}

// optionFlag is one flag of the binary and its SENTSTUB_* variable.
type optionFlag struct {
	group string
	name  string
	arg   string // the value's placeholder in --help
	value flag.Value
	usage string
	def   string // the default as --help states it; "" shows value's default
}

// flags are the binary's flags, bound to o. Adding a flag is one line.
func (o *Options) flags() []optionFlag {
	return []optionFlag{
		{"Server", "addr", "HOST:PORT", stringValue{&o.Addr, true}, "listen address; port 0 picks a free port", ""},
		{"Server", "fixtures", "FILE", stringValue{&o.Fixtures, false}, "YAML file of organizations, profiles, keys and webhooks to load", "the demo fixture"},
		{"Database", "db", "PATH|URL", stringValue{&o.DB, true}, "SQLite database file, :memory:, or a postgres:// URL that replicas share", ""},
		{"Database", "db-timeout", "DURATION", durationValue{&o.DBTimeout, true}, "how long a request waits for the database (a connection, and each statement) before 504", ""},
		{"Database", "db-max-conns", "N", intValue{&o.DBMaxConns, 0, math.MaxInt32}, "PostgreSQL connection pool size; 0 keeps the URL's pool_max_conns, else max(4, CPUs)", ""},
		{"Database", "db-connect-timeout", "DURATION", durationValue{&o.DBConnectTimeout, false}, "PostgreSQL connect timeout; 0 keeps the URL's connect_timeout", ""},
		{"Database", "db-statement-timeout", "DURATION", durationValue{&o.DBStatementTimeout, false}, "PostgreSQL statement_timeout; 0 keeps the server's", ""},
		{"Idempotency", "idempotency-wait", "DURATION", durationValue{&o.IdempotencyWait, true}, "how long a request waits for one in flight with the same Idempotency-Key before 409", ""},
		{"Idempotency", "idempotency-lock-timeout", "DURATION", durationValue{&o.IdempotencyLockTimeout, true}, "how long a request in flight holds its Idempotency-Key if its process dies", ""},
		{"Deliveries", "delivery-retry-base", "DURATION", durationValue{&o.DeliveryRetryBase, true}, "wait before a failed delivery's first retry; each later retry doubles it, up to 60 times it (sent.dm: 1m); 50ms runs the schedule in tests", ""},
		{"Deliveries", "delivery-workers", "N", intValue{&o.DeliveryWorkers, 1, 1024}, "delivery attempts at once", ""},
		{"Deliveries", "delivery-per-endpoint", "N", intValue{&o.DeliveryPerEndpoint, 1, 1024}, "delivery attempts at once to one endpoint (scheme and host)", ""},
		{"Deliveries", "delivery-lease", "DURATION", durationValue{&o.DeliveryLease, true}, "how long an attempt holds its delivery if its process dies; then another attempt is made", ""},
		{"Limits", "rate-limit", "sentdm|N/min,burst=B|off", rateLimitValue{&o.RateLimit}, "enforce rate limits on /v3 per calling account: sentdm is sent.dm's (200/min, burst 50; rotate-secret and test 10/min); N/min,burst=B sets the standard operations'", ""},
		{"Faults", "chaos", "FRACTION", fractionValue{&o.Chaos}, "answer this fraction (0 to 1) of /v3 requests with a simulated failure, logged as simulated", ""},
		{"Faults", "chaos-faults", "LIST", faultsValue{&o.ChaosFaults}, "the failures chaos picks from, comma-separated: " + joinFaults(AllFaults), ""},
		{"Faults", "chaos-seed", "N", uint64Value{&o.ChaosSeed}, "seed of chaos's choices, for a run that can be repeated; 0 picks one, which the log states", ""},
		{"Logging", "log-level", "LEVEL", levelValue{&o.LogLevel}, "debug, info, warn or error", ""},
		{"Profiling", "pprof", "HOST:PORT", loopbackValue{&o.Pprof}, "serve Go's profiles (net/http/pprof, under /debug/pprof/) on this loopback address, apart from the API; port 0 picks a free one", "off"},
	}
}

// envName is the environment variable of the flag name: SENTSTUB_ and the
// name in upper case, dashes as underscores.
func envName(flag string) string {
	return "SENTSTUB_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// UsageError is a command line or SENTSTUB_* variable the binary cannot
// use. Its message is one line that names the flag or variable; the binary
// exits with status 2.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// ErrVersion is what ParseOptions returns for --version, having written
// the version to its output. (For --help it returns flag.ErrHelp, having
// written the help.)
var ErrVersion = errors.New("version requested")

// ParseOptions reads the command line; each flag falls back to its
// SENTSTUB_* environment variable (looked up with getenv), then to its
// default. A flag is written --name VALUE, --name=VALUE, or with one dash.
// --help and --version write to output and return flag.ErrHelp and
// ErrVersion; a bad flag, value or variable is a *UsageError.
func ParseOptions(args []string, getenv func(string) string, output io.Writer) (Options, error) {
	o := DefaultOptions()
	flags := o.flags()
	byName := map[string]*optionFlag{}
	for i := range flags {
		f := &flags[i]
		if f.def == "" {
			f.def = f.value.String()
		}
		byName[f.name] = f
	}
	// A variable is the flag's value until the command line sets it.
	for _, f := range flags {
		if v := getenv(envName(f.name)); v != "" {
			if err := f.value.Set(v); err != nil {
				return o, usageErrorf("%s: %v", envName(f.name), err)
			}
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if i+1 < len(args) {
				return o, usageErrorf("unexpected argument %q: sentstub takes only flags (sentstub --help lists them)", args[i+1])
			}
			break
		}
		name, hasDash := strings.CutPrefix(arg, "-")
		if !hasDash || name == "" {
			return o, usageErrorf("unexpected argument %q: sentstub takes only flags (sentstub --help lists them)", arg)
		}
		name = strings.TrimPrefix(name, "-")
		name, value, hasValue := strings.Cut(name, "=")
		switch {
		case (name == "help" || name == "h") && !hasValue:
			writeHelp(output, flags)
			return o, flag.ErrHelp
		case name == "version" && !hasValue:
			fmt.Fprintln(output, Version())
			return o, ErrVersion
		}
		f := byName[name]
		if f == nil {
			return o, usageErrorf("unknown flag %s (sentstub --help lists the flags)", arg)
		}
		if !hasValue {
			if i+1 == len(args) {
				return o, usageErrorf("--%s needs a value, as in --%s %s", f.name, f.name, f.arg)
			}
			i++
			value = args[i]
		}
		if err := f.value.Set(value); err != nil {
			return o, usageErrorf("--%s: %v", f.name, err)
		}
	}
	return o, nil
}

// writeHelp writes --help: the flags by group, each with its variable and
// its default.
func writeHelp(w io.Writer, flags []optionFlag) {
	var b strings.Builder
	b.WriteString(`sentstub serves sent.dm's v3 Webhooks API from a local database, for SDKs
and client code in development and CI.

Usage: sentstub [flags]

Every flag can also be set by its environment variable. A flag on the command
line wins over its variable, and the variable over the default.
`)
	for _, group := range flagGroups {
		first := true
		for _, f := range flags {
			if f.group != group {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n%s:\n", group)
				first = false
			}
			def := f.def
			if def == "" {
				def = `""`
			}
			fmt.Fprintf(&b, "  --%s %s\n        %s\n        env %s, default %s\n", f.name, f.arg, f.usage, envName(f.name), def)
		}
	}
	b.WriteString(`
Other:
  -h, --help
        show this help and exit
  --version
        print the version and exit

Exit status: 0 after a clean shutdown (SIGINT or SIGTERM), 1 when sentstub
cannot start or stops serving, 2 for a flag or variable it cannot use.
`)
	io.WriteString(w, b.String())
}

// buildCommit is the commit to report when the build information has none
// (a build without the repository's .git, such as the Dockerfile's); set
// with -ldflags "-X github.com/sentstub/sentstub/server.buildCommit=...".
var buildCommit string

// Version is the binary's version line: its module version and commit, from
// the build information, and the Go toolchain and platform that built it.
func Version() string {
	version, commit, modified := "(unknown)", buildCommit, false
	if info, ok := debug.ReadBuildInfo(); ok {
		version = info.Main.Version
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	if modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("sentstub %s commit %s %s %s/%s", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// The values of the flags. Each Set error is a phrase to follow
// "--name: " or "SENTSTUB_NAME: ".

type stringValue struct {
	p        *string
	required bool
}

func (v stringValue) String() string { return *v.p }

func (v stringValue) Set(s string) error {
	if v.required && s == "" {
		return errors.New("must not be empty")
	}
	*v.p = s
	return nil
}

type intValue struct {
	p        *int
	min, max int
}

func (v intValue) String() string { return strconv.Itoa(*v.p) }

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is not a whole number", s)
	}
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("%s is out of range %d..%d", s, v.min, v.max)
	}
	*v.p = n
	return nil
}

type durationValue struct {
	p        *time.Duration
	positive bool // else zero is allowed too
}

func (v durationValue) String() string { return v.p.String() }

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a duration; write it like 5s or 250ms", s)
	case v.positive && d <= 0:
		return fmt.Errorf("%q must be more than 0; write it like 5s or 250ms", s)
	case d < 0:
		return fmt.Errorf("%q must not be negative; write it like 5s or 250ms, or 0 for none", s)
	}
	*v.p = d
	return nil
}

type levelValue struct{ p *slog.Level }

func (v levelValue) String() string { return strings.ToLower(v.p.String()) }

func (v levelValue) Set(s string) error {
	if err := v.p.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("%q is not a log level; use debug, info, warn or error", s)
	}
	return nil
}

type rateLimitValue struct{ p *RateLimits }

func (v rateLimitValue) String() string { return v.p.String() }

func (v rateLimitValue) Set(s string) (err error) {
	*v.p, err = ParseRateLimits(s)
	return err
}

type fractionValue struct{ p *float64 }

func (v fractionValue) String() string { return strconv.FormatFloat(*v.p, 'g', -1, 64) }

func (v fractionValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1 { // NaN too
		return fmt.Errorf("%q is not a fraction from 0 to 1, like 0.05", s)
	}
	*v.p = f
	return nil
}

type faultsValue struct{ p *[]Fault }

func (v faultsValue) String() string { return joinFaults(*v.p) }

func (v faultsValue) Set(s string) (err error) {
	*v.p, err = ParseFaults(s)
	return err
}

// loopbackValue is a listen address on a loopback interface, or "" for
// none: what it serves must not reach another machine.
type loopbackValue struct{ p *string }

func (v loopbackValue) String() string { return *v.p }

func (v loopbackValue) Set(s string) error {
	if s == "" || s == "off" {
		*v.p = ""
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT, like 127.0.0.1:6060", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q has no port number from 0 to 65535, like 127.0.0.1:6060", s)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not a loopback address (127.0.0.1, [::1] or localhost): profiles must not be served beyond this machine", s)
	}
	*v.p = s
	return nil
}

type uint64Value struct{ p *uint64 }

func (v uint64Value) String() string { return strconv.FormatUint(*v.p, 10) }

func (v uint64Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number from 0 to %d", s, uint64(math.MaxUint64))
	}
	*v.p = n
	return nil
}
