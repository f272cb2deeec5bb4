package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/gen"
)

// metrics are a Server's Prometheus metrics, served at GET /metrics. Each
// Server has a registry of its own, so that servers in one process (tests)
// count apart. No label carries an API key, an id or a raw path: routes
// are Echo's templates, such as /v3/webhooks/:id/toggle-status.
type metrics struct {
	registry *prometheus.Registry
	routes   map[string]string // the route templates of the document's operations (Server.allow)

	requests *prometheus.CounterVec   // route, method, status
	duration *prometheus.HistogramVec // route, method
	replays  *prometheus.CounterVec   // route
	store    *prometheus.HistogramVec // call
	delivery *prometheus.CounterVec   // outcome

	// series caches the children of requests and duration by their labels,
	// which a request would otherwise hash twice.
	mu     sync.RWMutex
	series map[seriesKey]requestSeries
}

type seriesKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// unmatchedRoute is the route label of a request no route of the document
// matches (an unknown path), whatever its path was.
const unmatchedRoute = "unmatched"

// instrument gives s its metrics and times every call to its store.
func (s *Server) instrument() {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		routes:   s.allow,
		series:   map[seriesKey]requestSeries{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentstub_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sentstub_http_request_duration_seconds",
			Help:    "Time from a request's arrival until its answer was written, by route template and method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100µs to 6.6s
		}, []string{"route", "method"}),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentstub_idempotent_replays_total",
			Help: "Requests answered with the stored answer of an earlier request with their Idempotency-Key, by route template.",
		}, []string{"route"}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sentstub_store_call_duration_seconds",
			Help:    "Duration of calls to the database store, by call.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 9), // 10µs to 0.66s
		}, []string{"call"}),
		delivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentstub_deliveries_total",
			Help: "Delivery attempts of emitted events, by outcome: delivered, failed (retried while retries remain) or dropped (not attempted: the webhook is inactive).",
		}, []string{"outcome"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.replays, m.store, m.delivery,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = m
	s.store = &timedStore{store: s.store, calls: m.store}
}

// observe counts every request and times it. It runs before begin, so it
// sees the status that begin's error handling sent.
func (m *metrics) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		defer func() {
			route := c.Path()
			if _, ok := m.routes[route]; !ok {
				route = unmatchedRoute
			}
			res := c.Response()
			key := seriesKey{route, methodLabel(c.Request().Method), requestOf(c).recordedStatus(res.Status)}
			series := m.seriesOf(key)
			series.count.Inc()
			series.duration.Observe(time.Since(start).Seconds())
			if res.Header().Get(headerReplayed) == "true" {
				m.replays.WithLabelValues(route).Inc()
			}
		}()
		return next(c)
	}
}

func (m *metrics) seriesOf(key seriesKey) requestSeries {
	m.mu.RLock()
	series, ok := m.series[key]
	m.mu.RUnlock()
	if ok {
		return series
	}
	series = requestSeries{
		count:    m.requests.WithLabelValues(key.route, key.method, strconv.Itoa(key.status)),
		duration: m.duration.WithLabelValues(key.route, key.method),
	}
	m.mu.Lock()
	m.series[key] = series
	m.mu.Unlock()
	return series
}

// methodLabel is the method, or "other" for one HTTP does not define, so
// that clients cannot grow the label without bound.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// GetMetrics implements GET /metrics.
func (s *Server) GetMetrics(ctx context.Context, _ gen.GetMetricsRequestObject) (gen.GetMetricsResponseObject, error) {
	families, err := s.metrics.registry.Gather()
	if err != nil { // what could be gathered is still served
		s.logger.LogAttrs(ctx, slog.LevelWarn, "gather metrics", slog.String("request_id", requestFromContext(ctx).id), slog.Any("error", err))
	}
	return metricsResponse{families: families}, nil
}

// metricsResponse writes metrics in Prometheus's text format, with its
// versioned content type.
type metricsResponse struct {
	families []*dto.MetricFamily
}

func (r metricsResponse) VisitGetMetricsResponse(w http.ResponseWriter) error {
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	w.WriteHeader(http.StatusOK)
	enc := expfmt.NewEncoder(w, format)
	for _, f := range r.families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

var _ sentstub.Store = (*timedStore)(nil)

// timedStore is a sentstub.Store that times each call to the store it
// wraps. It embeds nothing, so that a method added to the interface does not
// compile until it is timed too.
type timedStore struct {
	store sentstub.Store
	calls *prometheus.HistogramVec
}

// done observes a call that started at start: defer t.done(call, time.Now()).
func (t *timedStore) done(call string, start time.Time) {
	t.calls.WithLabelValues(call).Observe(time.Since(start).Seconds())
}

func (t *timedStore) FindAccountByKey(ctx context.Context, h sentstub.KeyHash) (*sentstub.Account, error) {
	defer t.done("FindAccountByKey", time.Now())
	return t.store.FindAccountByKey(ctx, h)
}

func (t *timedStore) FindAccount(ctx context.Context, id uuid.UUID) (*sentstub.Account, error) {
	defer t.done("FindAccount", time.Now())
	return t.store.FindAccount(ctx, id)
}

func (t *timedStore) FindWebhook(ctx context.Context, owner, id uuid.UUID) (*sentstub.Webhook, error) {
	defer t.done("FindWebhook", time.Now())
	return t.store.FindWebhook(ctx, owner, id)
}

func (t *timedStore) UpdateWebhook(ctx context.Context, owner, id uuid.UUID, update func(*sentstub.Webhook) bool) (*sentstub.Webhook, error) {
	defer t.done("UpdateWebhook", time.Now())
	return t.store.UpdateWebhook(ctx, owner, id, update)
}

func (t *timedStore) ClaimIdempotencyKey(ctx context.Context, c sentstub.IdempotencyClaim) (*sentstub.IdempotentResponse, bool, error) {
	defer t.done("ClaimIdempotencyKey", time.Now())
	return t.store.ClaimIdempotencyKey(ctx, c)
}

// BeginIdempotentRequest is not timed: it sets up the request, and
// neither store calls the database for it.
func (t *timedStore) BeginIdempotentRequest(ctx context.Context, accountID uuid.UUID, key, requestID string) (context.Context, sentstub.IdempotentRequest) {
	ctx, req := t.store.BeginIdempotentRequest(ctx, accountID, key, requestID)
	return ctx, &timedRequest{IdempotentRequest: req, store: t}
}

func (t *timedStore) SweepIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error) {
	defer t.done("SweepIdempotencyKeys", time.Now())
	return t.store.SweepIdempotencyKeys(ctx, now, limit)
}

func (t *timedStore) Provision(ctx context.Context, p *sentstub.Provision) error {
	defer t.done("Provision", time.Now())
	return t.store.Provision(ctx, p)
}

func (t *timedStore) CreateWebhook(ctx context.Context, w *sentstub.Webhook) error {
	defer t.done("CreateWebhook", time.Now())
	return t.store.CreateWebhook(ctx, w)
}

func (t *timedStore) DeleteWebhook(ctx context.Context, owner, id uuid.UUID) error {
	defer t.done("DeleteWebhook", time.Now())
	return t.store.DeleteWebhook(ctx, owner, id)
}

func (t *timedStore) ListWebhooks(ctx context.Context, owner uuid.UUID, f sentstub.WebhookFilter) ([]*sentstub.Webhook, int, error) {
	defer t.done("ListWebhooks", time.Now())
	return t.store.ListWebhooks(ctx, owner, f)
}

func (t *timedStore) CreateDelivery(ctx context.Context, d *sentstub.Delivery) error {
	defer t.done("CreateDelivery", time.Now())
	return t.store.CreateDelivery(ctx, d)
}

func (t *timedStore) ListDeliveries(ctx context.Context, owner, id uuid.UUID, f sentstub.DeliveryFilter) ([]*sentstub.Delivery, int, error) {
	defer t.done("ListDeliveries", time.Now())
	return t.store.ListDeliveries(ctx, owner, id, f)
}

func (t *timedStore) EnqueueDeliveries(ctx context.Context, ds []*sentstub.Delivery) error {
	defer t.done("EnqueueDeliveries", time.Now())
	return t.store.EnqueueDeliveries(ctx, ds)
}

func (t *timedStore) ClaimDeliveries(ctx context.Context, now, until time.Time, limit int) ([]sentstub.Claimed, error) {
	defer t.done("ClaimDeliveries", time.Now())
	return t.store.ClaimDeliveries(ctx, now, until, limit)
}

func (t *timedStore) FinishDelivery(ctx context.Context, id, lease uuid.UUID, record func(*sentstub.Delivery, *sentstub.Webhook) bool) error {
	defer t.done("FinishDelivery", time.Now())
	return t.store.FinishDelivery(ctx, id, lease, record)
}

func (t *timedStore) ReleaseDeliveries(ctx context.Context, lease uuid.UUID, ids []uuid.UUID) error {
	defer t.done("ReleaseDeliveries", time.Now())
	return t.store.ReleaseDeliveries(ctx, lease, ids)
}

func (t *timedStore) ResetAccount(ctx context.Context, account uuid.UUID, webhooks []sentstub.Webhook) error {
	defer t.done("ResetAccount", time.Now())
	return t.store.ResetAccount(ctx, account, webhooks)
}

func (t *timedStore) Close() error { return t.store.Close() }

func (t *timedStore) Ping(ctx context.Context) error {
	defer t.done("Ping", time.Now())
	return t.store.Ping(ctx)
}

// timedRequest times the end of an idempotent request: the commit of its
// writes with its answer.
type timedRequest struct {
	sentstub.IdempotentRequest
	store *timedStore
}

func (r *timedRequest) Complete(resp *sentstub.IdempotentResponse) (bool, error) {
	defer r.store.done("IdempotentRequest.Complete", time.Now())
	return r.IdempotentRequest.Complete(resp)
}

func (r *timedRequest) Release() error {
	defer r.store.done("IdempotentRequest.Release", time.Now())
	return r.IdempotentRequest.Release()
}

func (r *timedRequest) Abort() error {
	defer r.store.done("IdempotentRequest.Abort", time.Now())
	return r.IdempotentRequest.Abort()
}
