package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub"
)

// The stub-only request headers of every /v3 operation (declared in the
// spec as the parameters SentstubDelay and SentstubSimulate). api.sent.dm
// ignores them, and the Go client does not send them.
const (
	headerDelay    = "X-Sentstub-Delay"
	headerSimulate = "X-Sentstub-Simulate"
)

// maxSimulatedDelay bounds X-Sentstub-Delay, below the server's write
// timeout.
const maxSimulatedDelay = 30 * time.Second

// Fault is a failure the stub simulates, by X-Sentstub-Simulate or chaos.
// A simulated failure executes nothing and stores nothing.
type Fault string

// The faults, with what each answers.
const (
	FaultRateLimited            Fault = "rate_limited"            // 429 BUSINESS_002, with the rate-limit headers and Retry-After: 1
	FaultInternalError          Fault = "internal_error"          // 500 INTERNAL_001, the operation's message
	FaultUnavailable            Fault = "unavailable"             // 503 INTERNAL_005
	FaultTimeout                Fault = "timeout"                 // 504 INTERNAL_004
	FaultIdempotencyUnavailable Fault = "idempotency_unavailable" // 503 SERVICE_001
	FaultDisconnect             Fault = "disconnect"              // the connection is closed without an answer
)

// AllFaults are the faults, in the order the documentation lists them.
var AllFaults = []Fault{FaultRateLimited, FaultInternalError, FaultUnavailable, FaultTimeout,
	FaultIdempotencyUnavailable, FaultDisconnect}

// DefaultChaosFaults are what chaos picks from unless told otherwise: a
// failure of each kind a client's retries must survive (429, 500, 503,
// 504, a dropped connection). idempotency_unavailable, another 503, is
// left out.
var DefaultChaosFaults = []Fault{FaultRateLimited, FaultInternalError, FaultUnavailable, FaultTimeout, FaultDisconnect}

// ParseFaults reads a comma-separated list of faults, as --chaos-faults
// takes it.
func ParseFaults(list string) ([]Fault, error) {
	var faults []Fault
	for name := range strings.SplitSeq(list, ",") {
		f := Fault(strings.TrimSpace(name))
		if !slices.Contains(AllFaults, f) {
			return nil, fmt.Errorf("%q is not a fault; the faults are %s", name, joinFaults(AllFaults))
		}
		if !slices.Contains(faults, f) {
			faults = append(faults, f)
		}
	}
	return faults, nil
}

func joinFaults(faults []Fault) string {
	s := make([]string, len(faults))
	for i, f := range faults {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}

// Chaos answers a fraction of /v3 requests with a simulated failure, so
// that a client's retries are exercised without changing its tests.
type Chaos struct {
	Fraction float64 // of the requests past the rate limit, 0 (none) to 1 (all)
	Faults   []Fault // what it picks from, evenly; empty: DefaultChaosFaults
	// Seed seeds the random choices (PCG): one seed gives one sequence of
	// choices for one sequence of requests. 0 picks a seed, which New logs.
	Seed uint64
}

// simulator decides which requests fail: those whose X-Sentstub-Simulate
// says so, and chaos's share of the others.
type simulator struct {
	chaos Chaos

	mu    sync.Mutex
	rng   *rand.Rand            // chaos's choices, under mu
	times map[[32]byte]*counted // ";times=N": requests failed so far, by call
}

// counted is how many requests of one call (see timesKey) were failed.
type counted struct {
	failed int
	last   time.Time
}

// The bounds of what ";times=N" remembers: a call is forgotten timesTTL
// after its last request, and at most maxTimesEntries calls are kept (when
// more are seen within timesTTL, arbitrary ones are forgotten, and fail
// again).
const (
	timesTTL        = 10 * time.Minute
	maxTimesEntries = 10_000
)

func newSimulator(c Chaos) (*simulator, error) {
	if c.Fraction < 0 || c.Fraction > 1 {
		return nil, fmt.Errorf("chaos fraction %v is out of range 0..1", c.Fraction)
	}
	if len(c.Faults) == 0 {
		c.Faults = DefaultChaosFaults
	}
	for _, f := range c.Faults {
		if !slices.Contains(AllFaults, f) {
			return nil, fmt.Errorf("chaos fault %q is not one of %s", f, joinFaults(AllFaults))
		}
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	return &simulator{chaos: c, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)), times: map[[32]byte]*counted{}}, nil
}

// simulatedFault is the cause of a simulated failure's error: it marks the
// error as simulated (the middleware has logged it) for handleError.
type simulatedFault struct {
	fault  Fault
	source string // headerSimulate or "chaos"
}

func (f *simulatedFault) Error() string { return fmt.Sprintf("simulated %s (%s)", f.fault, f.source) }

func isSimulated(err error) bool {
	var f *simulatedFault
	return errors.As(err, &f)
}

// limit is the one mechanism of rate limits and simulated failures, on
// every /v3 operation, after authentication (the limit is the calling
// account's), request validation and profile authorization, and before
// idempotency, so that a request it refuses or fails has executed nothing
// and claimed no Idempotency-Key, with or without one. In order:
//
//  1. X-Sentstub-Delay over 30s is 400 VALIDATION_001 (request validation);
//  2. with rate limits on, the request spends a token of its account's
//     bucket for its class, or is 429 BUSINESS_002; either way the answer
//     carries X-RateLimit-Limit and X-RateLimit-Remaining;
//  3. X-Sentstub-Simulate, else chaos, may fail it: after X-Sentstub-Delay,
//     it is answered with the fault and logged as simulated;
//  4. else it goes on, X-Sentstub-Delay applied to the operation, once
//     idempotency has run (see delayed).
//
// The stub's own /_sentstub/v1 operations are neither limited nor failed.
func (s *Server) limit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := requestOf(c)
		req := c.Request()
		if r.op == nil || r.caller == nil || !underAPI(req.URL.Path) {
			return next(c)
		}
		delay, err := simulatedDelay(req.Header.Get(headerDelay))
		if err != nil {
			return err
		}
		class := r.op.rateClass
		now := s.now()
		if s.limits.cfg.of(class).PerMinute > 0 {
			q, ok := s.limits.take(r.caller.ID, class, now)
			q.set(c.Response().Header(), !ok)
			if !ok {
				return &sentstub.Error{Code: sentstub.ERATELIMITED, Message: sentstub.RateLimitedMessage}
			}
		}
		fault, source := s.sim.choose(r, req, now)
		if fault == "" {
			r.delay = delay
			return next(c)
		}
		s.logger.LogAttrs(req.Context(), slog.LevelInfo, "simulated",
			slog.String("request_id", r.id), slog.String("fault", string(fault)), slog.String("source", source),
			slog.String("method", req.Method), slog.String("path", req.URL.Path))
		if err := sleep(req.Context(), delay); err != nil {
			return err
		}
		return s.simulate(c, fault, source, class, now)
	}
}

// delayed is the operation next made to take X-Sentstub-Delay (d), or next
// itself when there is none. The idempotency middleware applies it to the
// operation, so that a slow request holds its Idempotency-Key meanwhile,
// as a slow operation does: a duplicate waits for it, then replays it or
// gets 409 CONFLICT_001.
func delayed(next echo.HandlerFunc, d time.Duration) echo.HandlerFunc {
	if d <= 0 {
		return next
	}
	return func(c echo.Context) error {
		if err := sleep(c.Request().Context(), d); err != nil {
			return err
		}
		return next(c)
	}
}

// simulatedDelay reads X-Sentstub-Delay (whose form the spec checks:
// 500ms, 7s): at most maxSimulatedDelay.
func simulatedDelay(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d > maxSimulatedDelay {
		return 0, &sentstub.Error{Code: sentstub.EINVALID, Message: validationFailed,
			Details: map[string][]string{headerDelay: {"must be a duration of at most 30s, like 500ms or 7s"}}}
	}
	return d, nil
}

// choose returns the fault r is to be answered with, and what asked for it,
// or "". A request carrying X-Sentstub-Simulate gets what the header says
// and never chaos: with ";times=N", the first N requests of its call fail
// and the later ones run.
func (sim *simulator) choose(r *request, req *http.Request, now time.Time) (Fault, string) {
	if v := req.Header.Get(headerSimulate); v != "" {
		name, times, _ := strings.Cut(v, ";times=") // the spec allows only this form
		if times != "" {
			n, _ := strconv.Atoi(times)
			if !sim.count(timesKey(r, req, v), n, now) {
				return "", ""
			}
		}
		return Fault(name), headerSimulate
	}
	if sim.chaos.Fraction == 0 {
		return "", ""
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	if sim.rng.Float64() >= sim.chaos.Fraction {
		return "", ""
	}
	return sim.chaos.Faults[sim.rng.IntN(len(sim.chaos.Faults))], "chaos"
}

// timesKey names the call a request belongs to, for ";times=N": its
// calling account, the header's value, its Idempotency-Key and what it
// asks for (method, path, x-profile-id, body), which a client's retries of
// one call share.
func timesKey(r *request, req *http.Request, value string) [32]byte {
	return sha256.Sum256([]byte(r.caller.ID.String() + "\x00" + value + "\x00" +
		req.Header.Get(headerIdempotencyKey) + "\x00" + fingerprint(req, r.body)))
}

// count reports whether the call key is to fail once more, having failed
// fewer than n requests, and counts it if so.
func (sim *simulator) count(key [32]byte, n int, now time.Time) bool {
	sim.mu.Lock()
	defer sim.mu.Unlock()
	c := sim.times[key]
	if c == nil {
		if len(sim.times) >= maxTimesEntries {
			sim.forget(now)
		}
		c = &counted{}
		sim.times[key] = c
	}
	c.last = now
	if c.failed >= n {
		return false
	}
	c.failed++
	return true
}

// forget drops the calls not seen for timesTTL, and, if that leaves too
// many, any others until there is room. sim.mu is held.
func (sim *simulator) forget(now time.Time) {
	for k, c := range sim.times {
		if now.Sub(c.last) > timesTTL {
			delete(sim.times, k)
		}
	}
	for k := range sim.times {
		if len(sim.times) < maxTimesEntries {
			break
		}
		delete(sim.times, k)
	}
}

// statusNoResponse is the status the access log and the metrics record
// for a disconnect, which answers nothing: nginx's 444, "connection closed
// without response".
const statusNoResponse = 444

// simulate answers c with fault, having executed nothing.
func (s *Server) simulate(c echo.Context, fault Fault, source string, class rateClass, now time.Time) error {
	cause := &simulatedFault{fault: fault, source: source}
	switch fault {
	case FaultRateLimited:
		s.limits.cfg.emptyQuota(class, now).set(c.Response().Header(), true)
		return &sentstub.Error{Code: sentstub.ERATELIMITED, Message: sentstub.RateLimitedMessage, Cause: cause}
	case FaultUnavailable:
		return &sentstub.Error{Code: sentstub.EDBUNAVAILABLE, Message: sentstub.DBUnavailableMessage, Cause: cause}
	case FaultTimeout:
		return &sentstub.Error{Code: sentstub.ETIMEOUT, Message: sentstub.TimeoutMessage, Cause: cause}
	case FaultIdempotencyUnavailable:
		return &sentstub.Error{Code: sentstub.EUNAVAILABLE, Message: idempotencyUnavailable, Cause: cause}
	case FaultDisconnect:
		res := c.Response()
		conn, _, err := res.Hijack()
		if err != nil {
			// Not hijackable (HTTP/2): net/http resets the stream instead.
			panic(http.ErrAbortHandler)
		}
		conn.Close()
		res.Status, res.Committed = statusNoResponse, true
		return nil
	}
	return &sentstub.Error{Code: sentstub.EINTERNAL, Cause: cause} // FaultInternalError; handleError words it
}

// sleep waits for d, or returns ctx.Err() as soon as ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
