// Package dispatch makes the deliveries of emitted events: it leases due
// deliveries from the store's outbox, sends each with package delivery,
// and records the outcome, retrying on sent.dm's schedule and disabling a
// webhook after ten consecutive failures (the rules are the domain's:
// sentstub.RecordAttempt). Delivery is at least once: a delivery whose
// process died mid-attempt is leased again when its lease ends.
//
// Concurrency is bounded twice: Workers attempts at once in all, and
// PerEndpoint at once to one endpoint (scheme and host), so that one slow
// receiver cannot hold every worker.
package dispatch

import (
	"context"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/server/delivery"
)

// Store is what the dispatcher needs of a store.
type Store interface {
	ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) ([]sentstub.Claimed, error)
	FinishDelivery(ctx context.Context, id, lease uuid.UUID, record func(d *sentstub.Delivery, w *sentstub.Webhook) (disabled bool)) error
	ReleaseDeliveries(ctx context.Context, lease uuid.UUID, ids []uuid.UUID) error
}

// Defaults of Config.
const (
	DefaultWorkers     = 16
	DefaultPerEndpoint = 8
	DefaultPoll        = 100 * time.Millisecond
	// DefaultLease outlasts the longest attempt (timeout_seconds is at most
	// 120) with room for a wait for the endpoint's cap.
	DefaultLease = 5 * time.Minute
	// DefaultDrain is how long a stop waits for attempts in flight.
	DefaultDrain = 10 * time.Second
)

// Outcomes of an attempt, as Config.Observe is told them.
const (
	OutcomeDelivered = "delivered" // the receiver answered 2xx
	OutcomeFailed    = "failed"    // it did not; a retry may follow
	OutcomeDropped   = "dropped"   // not attempted: the webhook is inactive
)

// Config configures a Dispatcher. Store and Sender are required.
type Config struct {
	Store       Store
	Sender      *delivery.Sender
	Policy      sentstub.RetryPolicy // Base 0 is sentstub.DefaultRetryBase
	Workers     int                  // attempts at once; 0 is DefaultWorkers
	PerEndpoint int                  // attempts at once to one endpoint; 0 is DefaultPerEndpoint
	Poll        time.Duration        // how often the outbox is looked at when nothing wakes it; 0 is DefaultPoll
	Lease       time.Duration        // how long a claim holds a delivery; 0 is DefaultLease
	Drain       time.Duration        // how long Run waits for attempts in flight once ctx ends; 0 is DefaultDrain
	Now         func() time.Time     // the clock of due times and records; nil is time.Now
	Logger      *slog.Logger         // nil discards
	Observe     func(outcome string) // told every outcome; nil ignores
}

// Dispatcher makes deliveries until its Run ends. Wake tells it that
// deliveries are due now.
type Dispatcher struct {
	cfg  Config
	wake chan struct{}

	mu        sync.Mutex
	endpoints map[string]chan struct{} // per-endpoint slots
	// disabled holds when each webhook this dispatcher disabled was
	// disabled: a delivery to it claimed before then (so still in hand) is
	// not sent, as the disabling transaction dropped it.
	disabled sync.Map // uuid.UUID -> time.Time
}

// New returns a Dispatcher over cfg; Run starts it.
func New(cfg Config) *Dispatcher {
	if cfg.Policy.Base <= 0 {
		cfg.Policy.Base = sentstub.DefaultRetryBase
	}
	cfg.Workers = orDefault(cfg.Workers, DefaultWorkers)
	cfg.PerEndpoint = orDefault(cfg.PerEndpoint, DefaultPerEndpoint)
	cfg.Poll = orDefault(cfg.Poll, DefaultPoll)
	cfg.Lease = orDefault(cfg.Lease, DefaultLease)
	cfg.Drain = orDefault(cfg.Drain, DefaultDrain)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string) {}
	}
	return &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1), endpoints: map[string]chan struct{}{}}
}

func orDefault[T ~int | ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Wake makes a running dispatcher look at the outbox now, rather than at
// its next poll. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run leases and sends due deliveries until ctx ends. Then it claims no
// more, lets the attempts in flight finish for up to Config.Drain, and
// hands back the leases of those that did not (they are due again at once,
// for this process after a restart or another one sharing the database).
func (d *Dispatcher) Run(ctx context.Context) {
	attempts, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var (
		wg       sync.WaitGroup
		inflight = make(chan struct{}, d.cfg.Workers) // a token per attempt in flight
		done     = make(chan struct{}, d.cfg.Workers) // an attempt ended: a worker is free
	)
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	for ctx.Err() == nil {
		free := cap(inflight) - len(inflight)
		var (
			claimed   []sentstub.Claimed
			claimedAt time.Time
		)
		if free > 0 {
			now := d.cfg.Now()
			var err error
			claimedAt = now
			claimed, err = d.cfg.Store.ClaimDeliveries(ctx, now, now.Add(d.cfg.Lease), free)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "claiming due deliveries failed", slog.Any("error", err))
			}
		}
		for _, c := range claimed {
			inflight <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.attempt(attempts, c, claimedAt)
				<-inflight
				select {
				case done <- struct{}{}:
				default:
				}
			}()
		}
		if len(claimed) > 0 && len(claimed) == free {
			continue // there may be more due, and workers to free
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-poll.C:
		case <-done:
		}
	}
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(d.cfg.Drain):
		cancel() // the attempts still running hand their leases back
		<-drained
	}
}

// attempt makes one attempt of c and records it. An attempt cut short by
// the dispatcher's stop records nothing and hands its lease back.
func (d *Dispatcher) attempt(ctx context.Context, c sentstub.Claimed, claimedAt time.Time) {
	dl, w := c.Delivery, c.Webhook
	if !w.IsActive {
		d.finish(ctx, c, func(dl *sentstub.Delivery, w *sentstub.Webhook) bool {
			dl.Drop("not attempted: the webhook is inactive")
			return false
		}, OutcomeDropped)
		return
	}
	// The slot is held until the outcome is recorded, so that the next
	// attempt to the endpoint sees whether this one disabled the webhook.
	release, err := d.endpointSlot(ctx, w.EndpointURL)
	if err != nil {
		d.release(c)
		return
	}
	defer release()
	if at, ok := d.disabled.Load(w.ID); ok && !claimedAt.After(at.(time.Time)) {
		return // disabled while this one waited for the endpoint: dropped, not sent
	}
	// Recorded on the dispatcher's clock, which due times follow.
	outcome := d.cfg.Sender.Deliver(ctx, w, dl, d.cfg.Now)
	if ctx.Err() != nil {
		d.release(c)
		return
	}
	label := OutcomeFailed
	if outcome.Delivered {
		label = OutcomeDelivered
	}
	d.finish(ctx, c, func(dl *sentstub.Delivery, w *sentstub.Webhook) bool {
		return sentstub.RecordAttempt(dl, w, outcome, d.cfg.Policy)
	}, label)
}

func (d *Dispatcher) finish(ctx context.Context, c sentstub.Claimed, record func(*sentstub.Delivery, *sentstub.Webhook) bool, outcome string) {
	disabled := false
	// Recorded even when the stop's drain runs out meanwhile: the attempt was made.
	err := d.cfg.Store.FinishDelivery(context.WithoutCancel(ctx), c.Delivery.ID, c.Lease, func(dl *sentstub.Delivery, w *sentstub.Webhook) bool {
		disabled = record(dl, w)
		return disabled
	})
	switch code := sentstub.ErrorCode(err); {
	case err == nil:
		d.cfg.Observe(outcome)
		if disabled {
			d.disabled.Store(c.Webhook.ID, d.cfg.Now())
			d.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "webhook disabled after consecutive failed deliveries",
				slog.String("webhook_id", c.Webhook.ID.String()), slog.Int("failures", sentstub.AutoDisableAfter))
		}
	case code == sentstub.ENOTFOUND || code == sentstub.ECONFLICT:
		// Deleted meanwhile, or leased again after this lease ran out: the
		// outcome is not this attempt's to record.
		d.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "a delivery's outcome was not recorded",
			slog.String("delivery_id", c.Delivery.ID.String()), slog.Any("reason", err))
	default:
		d.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "recording a delivery attempt failed; it is retried when its lease ends",
			slog.String("delivery_id", c.Delivery.ID.String()), slog.Any("error", err))
	}
}

// release hands c's lease back, so that it is due again at once.
func (d *Dispatcher) release(c sentstub.Claimed) {
	ctx := context.Background()
	if err := d.cfg.Store.ReleaseDeliveries(ctx, c.Lease, []uuid.UUID{c.Delivery.ID}); err != nil {
		d.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "handing back a delivery's lease failed; it is retried when the lease ends",
			slog.String("delivery_id", c.Delivery.ID.String()), slog.Any("error", err))
	}
}

// endpointSlot waits for one of the endpoint's PerEndpoint slots and
// returns the function that frees it.
func (d *Dispatcher) endpointSlot(ctx context.Context, endpoint string) (release func(), err error) {
	key := endpoint
	if u, err := url.Parse(endpoint); err == nil {
		key = u.Scheme + "://" + u.Host
	}
	d.mu.Lock()
	slots, ok := d.endpoints[key]
	if !ok {
		slots = make(chan struct{}, d.cfg.PerEndpoint)
		d.endpoints[key] = slots
	}
	d.mu.Unlock()
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
