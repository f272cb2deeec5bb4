package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// The rate-limit headers, as sent.dm documents them. Go's HTTP server
// writes the names in canonical form (X-Ratelimit-Limit); header names are
// case-insensitive, as with X-API-Version.
const (
	headerRateLimit     = "X-RateLimit-Limit"
	headerRateRemaining = "X-RateLimit-Remaining"
	headerRateReset     = "X-RateLimit-Reset"
	headerRetryAfter    = "Retry-After"
)

// RateLimit is one token bucket: PerMinute requests a minute on average,
// up to Burst at once. A zero PerMinute limits nothing.
type RateLimit struct {
	PerMinute int
	Burst     int
}

// valid reports whether l is either off or a bucket that can fill.
func (l RateLimit) valid() bool { return l.PerMinute == 0 || l.PerMinute > 0 && l.Burst > 0 }

func (l RateLimit) String() string { return fmt.Sprintf("%d/min,burst=%d", l.PerMinute, l.Burst) }

// RateLimits are the limits the server enforces on /v3 per calling account
// (the API key's owner: an organization stays one account whatever
// x-profile-id it sends), each class of operation with a bucket of its
// own. The zero value enforces none, the default: a stub in a big CI suite
// must not throttle it.
type RateLimits struct {
	Standard  RateLimit // every /v3 operation but rotate-secret and test
	Sensitive RateLimit // rotate-secret and test
}

// SentDMRateLimits are sent.dm's documented limits: standard endpoints 200
// a minute with a burst of 50; rotate-secret and test 10 a minute.
// Decision: rotate-secret and test may spend their minute's 10 at once.
var SentDMRateLimits = RateLimits{
	Standard:  RateLimit{PerMinute: 200, Burst: 50},
	Sensitive: RateLimit{PerMinute: 10, Burst: 10},
}

// Enabled reports whether l limits any class.
func (l RateLimits) Enabled() bool { return l.Standard.PerMinute > 0 || l.Sensitive.PerMinute > 0 }

// String is l as --rate-limit writes it.
func (l RateLimits) String() string {
	switch {
	case !l.Enabled():
		return "off"
	case l == SentDMRateLimits:
		return "sentdm"
	case l.Sensitive == SentDMRateLimits.Sensitive:
		return l.Standard.String()
	}
	return l.Standard.String() + " (rotate-secret and test " + l.Sensitive.String() + ")"
}

// maxRate bounds N and B of --rate-limit N/min,burst=B.
const maxRate = 1_000_000

// ParseRateLimits reads --rate-limit: "off" (or ""), "sentdm" (sent.dm's
// documented limits), or "N/min,burst=B": N a minute with a burst of B on
// standard operations, rotate-secret and test keeping sent.dm's 10 a
// minute. Without ",burst=B" the burst is N, a minute's worth.
func ParseRateLimits(s string) (RateLimits, error) {
	switch s {
	case "", "off":
		return RateLimits{}, nil
	case "sentdm":
		return SentDMRateLimits, nil
	}
	bad := fmt.Errorf("%q is not a rate limit; write sentdm, off, or N/min,burst=B like 30/min,burst=3", s)
	perMinute, rest, hasBurst := strings.Cut(s, ",")
	n, ok := strings.CutSuffix(perMinute, "/min")
	if !ok {
		return RateLimits{}, bad
	}
	l := RateLimit{}
	var err error
	if l.PerMinute, err = strconv.Atoi(n); err != nil {
		return RateLimits{}, bad
	}
	l.Burst = l.PerMinute
	if hasBurst {
		b, ok := strings.CutPrefix(rest, "burst=")
		if !ok {
			return RateLimits{}, bad
		}
		if l.Burst, err = strconv.Atoi(b); err != nil {
			return RateLimits{}, bad
		}
	}
	if l.PerMinute < 1 || l.PerMinute > maxRate || l.Burst < 1 || l.Burst > maxRate {
		return RateLimits{}, fmt.Errorf("%q: N and B must be 1 to %d", s, maxRate)
	}
	return RateLimits{Standard: l, Sensitive: SentDMRateLimits.Sensitive}, nil
}

// rateClass is the bucket an operation draws from.
type rateClass uint8

const (
	classStandard rateClass = iota
	classSensitive
)

// rateClassExt names an operation's class in the spec: the operations
// sent.dm limits apart (rotate-secret and test) say
// `x-sentstub-rate-class: sensitive`; the others are standard.
const rateClassExt = "x-sentstub-rate-class"

func rateClassOf(op *openapi3.Operation) rateClass {
	if c, _ := op.Extensions[rateClassExt].(string); c == "sensitive" {
		return classSensitive
	}
	return classStandard
}

func (l RateLimits) of(c rateClass) RateLimit {
	if c == classSensitive {
		return l.Sensitive
	}
	return l.Standard
}

// limiter keeps one token bucket (golang.org/x/time/rate) per calling
// account and class, in this process: replicas limit apart. Buckets are
// made for authenticated accounts only, so there are at most two per
// account the store holds (accounts come from the fixtures), and the map
// needs no eviction.
type limiter struct {
	cfg     RateLimits
	buckets sync.Map // bucketKey -> *bucket
}

type bucketKey struct {
	account uuid.UUID
	class   rateClass
}

// bucket is a rate.Limiter under a lock of its own, so that a request's
// take and the tokens it leaves are read as one.
type bucket struct {
	mu  sync.Mutex
	lim *rate.Limiter
}

// quota is what a class's bucket says of a request, for its headers.
type quota struct {
	limit      int           // requests a minute: X-RateLimit-Limit
	remaining  int           // whole tokens left after the request: X-RateLimit-Remaining
	reset      time.Time     // when the bucket is full again: X-RateLimit-Reset
	retryAfter time.Duration // refused: until one token is there, for Retry-After
}

// take spends a token of account's bucket of class at now, if it has one:
// ok is false when the request is over the limit. The class must be
// limited (PerMinute > 0).
func (l *limiter) take(account uuid.UUID, class rateClass, now time.Time) (q quota, ok bool) {
	cfg := l.cfg.of(class)
	key := bucketKey{account, class}
	v, found := l.buckets.Load(key)
	if !found {
		v, _ = l.buckets.LoadOrStore(key, &bucket{lim: rate.NewLimiter(rate.Limit(float64(cfg.PerMinute)/60), cfg.Burst)})
	}
	b := v.(*bucket)
	b.mu.Lock()
	ok = b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	b.mu.Unlock()
	perSecond := float64(cfg.PerMinute) / 60
	q = quota{
		limit:     cfg.PerMinute,
		remaining: int(math.Floor(max(tokens, 0))),
		reset:     now.Add(seconds((float64(cfg.Burst) - tokens) / perSecond)),
	}
	if !ok {
		q.retryAfter = seconds((1 - tokens) / perSecond)
	}
	return q, ok
}

// emptyQuota is the quota of a simulated 429: class's rate (sent.dm's when
// the class is not limited), no token left, one back in a second.
func (l RateLimits) emptyQuota(class rateClass, now time.Time) quota {
	if l.of(class).PerMinute == 0 {
		l = SentDMRateLimits
	}
	return quota{limit: l.of(class).PerMinute, reset: now.Add(time.Second), retryAfter: time.Second}
}

// set writes q's headers: X-RateLimit-Limit and -Remaining on every answer
// past the limit; on a 429 (refused) X-RateLimit-Reset and Retry-After
// too, Retry-After rounded up to whole seconds and at least 1.
func (q quota) set(h http.Header, refused bool) {
	h.Set(headerRateLimit, strconv.Itoa(q.limit))
	h.Set(headerRateRemaining, strconv.Itoa(q.remaining))
	if !refused {
		return
	}
	h.Set(headerRateReset, strconv.FormatInt(ceilUnix(q.reset), 10))
	h.Set(headerRetryAfter, strconv.FormatInt(max(1, int64(math.Ceil(q.retryAfter.Seconds()))), 10))
}

// seconds is s seconds as a duration, none when s is not positive.
func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	u := t.Unix()
	if t.Nanosecond() > 0 {
		u++
	}
	return u
}

// initLimits sets up s's rate limits and simulator from cfg, and logs them
// when they are on.
func (s *Server) initLimits(cfg Config) error {
	if !cfg.RateLimits.Standard.valid() || !cfg.RateLimits.Sensitive.valid() {
		return fmt.Errorf("server: rate limits %+v: a limited class needs a burst of at least 1", cfg.RateLimits)
	}
	s.limits = &limiter{cfg: cfg.RateLimits}
	sim, err := newSimulator(cfg.Chaos)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.sim = sim
	ctx := context.Background()
	if cfg.RateLimits.Enabled() {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "rate limits on, per calling account and process",
			slog.String("rate_limit", cfg.RateLimits.String()))
	}
	if sim.chaos.Fraction > 0 {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "chaos on: a fraction of /v3 requests is answered with a simulated failure",
			slog.Float64("fraction", sim.chaos.Fraction), slog.String("faults", joinFaults(sim.chaos.Faults)),
			slog.Uint64("seed", sim.chaos.Seed))
	}
	return nil
}
