// Package server is the HTTP side of sentstub: the implementation of the
// generated strict server interface, the middlewares that authenticate,
// validate against the OpenAPI document and scope requests, and the one
// error handler that turns every failure into sent.dm's envelope.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/api"
	"github.com/sentstub/sentstub/api/apitime"
	"github.com/sentstub/sentstub/gen"
	"github.com/sentstub/sentstub/server/delivery"
	"github.com/sentstub/sentstub/server/dispatch"
)

var _ gen.StrictServerInterface = (*Server)(nil)

// DefaultBodyLimit bounds request bodies: 1 MiB.
const DefaultBodyLimit = 1 << 20

// Config configures a Server. Store is required.
type Config struct {
	Store  sentstub.Store
	Logger *slog.Logger // default: discard
	// AccessLog, when set, receives the access log's lines (one per
	// request, in slog's text format) instead of Logger.
	AccessLog io.Writer
	Now       func() time.Time // default: time.Now; tests inject a clock

	BodyLimit int64 // default: DefaultBodyLimit

	// Sender makes test deliveries; default: delivery.NewSender with a
	// User-Agent naming sentstub and its version.
	Sender *delivery.Sender

	// Dispatch configures the deliveries of emitted events (RunDeliveries
	// makes them); zero fields take package dispatch's defaults, and the
	// server supplies its store, sender, clock and logger.
	Dispatch dispatch.Config
	// Fixtures is what POST /_sentstub/v1/reset restores an account to:
	// the provision the store was loaded with. nil restores no webhooks.
	Fixtures *sentstub.Provision

	// Idempotency-Key policy; zero values take the defaults.
	IdempotencyTTL         time.Duration // how long an answer is replayed (24 h)
	IdempotencyWait        time.Duration // how long a duplicate waits for its original (5 s)
	IdempotencyLockTimeout time.Duration // when a claim whose process died is released (30 s)
	IdempotencyMaxStored   int           // the largest answer stored for replay (MaxStoredResponse)

	// RateLimits are enforced per calling account on /v3; the zero value
	// (the default) enforces none. Their clock is Now.
	RateLimits RateLimits
	// Chaos fails a fraction of /v3 requests, as X-Sentstub-Simulate can.
	Chaos Chaos
}

// Server serves the API. It is an http.Handler.
type Server struct {
	store     sentstub.Store
	logger    *slog.Logger
	now       func() time.Time
	bodyLimit int64
	sender    *delivery.Sender
	accessOut io.Writer
	dispatch  *dispatch.Dispatcher
	fixtures  *sentstub.Provision

	echo          *echo.Echo
	ops           map[routeKey]*operation // by method and Echo path
	allow         map[string]string       // Echo path -> its methods, for Allow
	filterOptions openapi3filter.Options
	idem          idempotencyConfig
	metrics       *metrics // see metrics.go

	// Rate limits and simulated failures: see limits.go and faults.go.
	limits *limiter
	sim    *simulator

	// keys caches accounts by API key hash. Accounts are never changed or
	// deleted once provisioned, so a hit can never be stale; misses are not
	// cached, so keys another replica provisions are seen at once.
	keys sync.Map // sentstub.KeyHash -> *sentstub.Account
	// accounts caches accounts by id, for x-profile-id, on the same terms.
	accounts sync.Map // uuid.UUID -> *sentstub.Account
}

// routeKey names a route as Echo does: method and path pattern, such as
// PATCH and /v3/webhooks/:id/toggle-status.
type routeKey struct{ method, path string }

// operation is an operation of the OpenAPI document, as routed by Echo.
type operation struct {
	id      string
	route   *routers.Route
	secured bool
	// idempotent: a POST, PUT or PATCH whose spec declares the
	// Idempotency-Key header gets the idempotency middleware's semantics.
	idempotent bool
	// internalMessage is the message of the operation's documented 500
	// example, which sent.dm words per operation.
	internalMessage string
	// headers are the names of the header parameters it declares.
	headers []headerName
	// rateClass is the rate-limit bucket it draws from (see limits.go).
	rateClass rateClass
	// shortcut passes, without kin-openapi, requests that are surely valid.
	shortcut *validShortcut
}

// New returns a Server over cfg.Store, validating against the OpenAPI
// document embedded in package gen.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: a store is required")
	}
	s := &Server{store: cfg.Store, logger: cfg.Logger, now: cfg.Now, bodyLimit: orDefault(cfg.BodyLimit, DefaultBodyLimit),
		fixtures: cfg.Fixtures, accessOut: cfg.AccessLog}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sender = cfg.Sender; s.sender == nil {
		s.sender = delivery.NewSender(UserAgent(), nil)
	}
	s.idem = idempotencyConfig{
		ttl:         orDefault(cfg.IdempotencyTTL, DefaultIdempotencyTTL),
		wait:        orDefault(cfg.IdempotencyWait, DefaultIdempotencyWait),
		lockTimeout: orDefault(cfg.IdempotencyLockTimeout, DefaultIdempotencyLockTimeout),
		maxStored:   orDefault(cfg.IdempotencyMaxStored, MaxStoredResponse),
		holders:     map[idemSlot]holding{},
	}
	if err := s.initLimits(cfg); err != nil {
		return nil, err
	}
	doc, err := gen.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("server: load embedded spec: %w", err)
	}
	if err := api.Prepare(context.Background(), doc); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.filterOptions = openapi3filter.Options{
		MultiError:         true,
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, // authenticate runs first; see operations
		KeepValidatedValue: true,
		// Defaults are the handler's business (an omitted sandbox is false);
		// setting them would make kin-openapi re-encode every body.
		SkipSettingDefaults:     true,
		SchemaValidationOptions: doc.GetSchemaValidationOptions(),
	}
	s.ops = operations(doc)
	s.allow = allowedMethods(s.ops)
	s.instrument()
	dc := cfg.Dispatch
	dc.Store, dc.Sender, dc.Now, dc.Logger = s.store, s.sender, s.now, s.logger
	dc.Observe = func(outcome string) { s.metrics.delivery.WithLabelValues(outcome).Inc() }
	s.dispatch = dispatch.New(dc)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// The order is sent.dm's order of checks: authentication, request
	// validation, profile authorization, then (the stub's decision) rate
	// limits and simulated failures, idempotency, the operation.
	e.Use(s.metrics.observe, s.begin, s.authenticate, s.validate, s.authorize, s.limit, s.idempotent)
	gen.RegisterHandlers(e, gen.NewStrictHandler(s, nil))
	s.echo = e
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// operations indexes the document's operations the way Echo names their
// routes: "{id}" becomes ":id".
func operations(doc *openapi3.T) map[routeKey]*operation {
	ops := map[routeKey]*operation{}
	for path, item := range doc.Paths.Map() {
		echoPath := path
		for {
			open := strings.IndexByte(echoPath, '{')
			end := strings.IndexByte(echoPath, '}')
			if open < 0 || end < open {
				break
			}
			echoPath = echoPath[:open] + ":" + echoPath[open+1:end] + echoPath[end+1:]
		}
		for method, op := range item.Operations() {
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			// Request validation skips security: authenticate has already
			// run, so the route it validates with declares none.
			unsecured := *op
			unsecured.Security = &openapi3.SecurityRequirements{}
			headers := headerParams(item, op)
			route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: &unsecured}
			ops[routeKey{method, echoPath}] = &operation{
				id:       op.OperationID,
				route:    route,
				shortcut: newValidShortcut(route),
				secured:  len(security) > 0,
				idempotent: (method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch) &&
					slices.ContainsFunc(headers, func(h headerName) bool { return h.spec == headerIdempotencyKey }),
				internalMessage: exampleErrorMessage(op, http.StatusInternalServerError),
				headers:         headers,
				rateClass:       rateClassOf(op),
			}
		}
	}
	return ops
}

// allowedMethods lists, for each path of ops, the methods it serves, as an
// Allow header says them: "GET, PUT".
func allowedMethods(ops map[routeKey]*operation) map[string]string {
	methods := map[string][]string{}
	for k := range ops {
		methods[k.path] = append(methods[k.path], k.method)
	}
	allow := make(map[string]string, len(methods))
	for path, m := range methods {
		sort.Strings(m)
		allow[path] = strings.Join(m, ", ")
	}
	return allow
}

func headerParams(item *openapi3.PathItem, op *openapi3.Operation) []headerName {
	var names []headerName
	for _, p := range operationParameters(item, op) {
		if p.In == openapi3.ParameterInHeader {
			names = append(names, newHeaderName(p.Name))
		}
	}
	return names
}

// orDefault is v, or def when v is not positive (a Config field left zero).
func orDefault[T ~int | ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// exampleErrorMessage returns error.message of the example documented for
// status on op, or "".
func exampleErrorMessage(op *openapi3.Operation, status int) string {
	resp := op.Responses.Status(status)
	if resp == nil || resp.Value == nil {
		return ""
	}
	mt := resp.Value.Content.Get("application/json")
	if mt == nil {
		return ""
	}
	example, _ := mt.Example.(map[string]any)
	errObj, _ := example["error"].(map[string]any)
	msg, _ := errObj["message"].(string)
	return msg
}

// UserAgent is the User-Agent of the deliveries sentstub makes: its name,
// and its module version when the binary was built from a tagged module.
func UserAgent() string {
	version := "devel"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		version = info.Main.Version
	}
	return "sentstub/" + version + " (+https://github.com/sentstub/sentstub)"
}

// meta is the meta object of a response to r, stamped now.
func (s *Server) meta(r *request) gen.Meta {
	return gen.Meta{RequestID: r.id, Timestamp: apitime.RequestTime{Time: s.now()}, Version: gen.V3}
}
