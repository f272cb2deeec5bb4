// Package client is a Go client for sent.dm's v3 Webhooks API, as served by
// api.sent.dm and by sentstub.
//
// It is a thin layer over the client side that oapi-codegen generates from
// api/openapi.yaml (package gen/client: the models and the request and
// response code, with no server and no embedded spec): requests are built
// and answers decoded with the generated code, so a change to the spec
// reaches this package through `go generate`. What the methods return are
// this package's own documented types (Webhook, WebhookEvent, EventType,
// ...), converted from the generated models in one place. On top of the
// generated code the package adds what every official sent.dm SDK adds:
//
//   - configuration from the environment (SENT_DM_API_KEY, SENT_BASE_URL);
//   - retries, with an Idempotency-Key on every mutation;
//   - one error type, *Error, for every answer that is not 2xx;
//   - each answer's metadata (request id, replay, sandbox, rate limits),
//     with WithResponseInto.
//
// Importing it brings in the standard library, google/uuid and
// oapi-codegen's small runtime and nullable packages, and nothing of the
// server (Echo, kin-openapi, the database drivers).
//
// # Retries
//
// A call is retried (DefaultMaxRetries times unless WithMaxRetries says
// otherwise) after a connection error or an answer with status 408, 409,
// 429 or 5xx; never after another 4xx. Before each retry it waits as the
// server asks with retry-after-ms or Retry-After (seconds or an HTTP-date),
// else DefaultRetryBackoff doubling up to DefaultMaxRetryBackoff, less up
// to a quarter at random. A wait that would end after the call's deadline
// (its context's, or WithTimeout's), or a Retry-After over a minute, is not
// made: the call returns the last error at once. A context that ends stops
// the call at once, mid-request or mid-wait.
//
// Every mutation carries an Idempotency-Key: the caller's, or one generated
// for the call and reused by each of its retries. A server that honours the
// header, as sent.dm does, executes a call at most once however many
// attempts reach it, and answers the later ones with the first one's answer
// (ResponseMeta.IdempotentReplayed says when it did).
//
// # Response metadata
//
// Every method takes CallOptions last. WithResponseInto(&meta) fills a
// ResponseMeta from the call's last attempt: its X-Request-Id,
// Idempotent-Replayed and X-Original-Request-Id, X-Sandbox, the
// X-RateLimit-* headers, Retry-After, the number of attempts and the whole
// header. An *Error carries the same for its answer in Error.Response.
//
// A Client is safe for concurrent use by multiple goroutines.
package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	genclient "github.com/sentstub/sentstub/gen/client"
)

// Version is the version of this client, sent in the User-Agent header.
const Version = "0.1.0"

// UserAgent is the User-Agent header of every request: the client's name
// and version, and the module path it comes from.
const UserAgent = "sentstub-go/" + Version + " (github.com/sentstub/sentstub/client)"

// Environment variables read by New when the matching option is not given.
// The names are the ones sent.dm's official SDKs read.
const (
	EnvAPIKey  = "SENT_DM_API_KEY"
	EnvBaseURL = "SENT_BASE_URL"
)

// Defaults of New.
const (
	// DefaultBaseURL is the base URL used when neither WithBaseURL nor
	// SENT_BASE_URL is set.
	DefaultBaseURL = "https://api.sent.dm"
	// DefaultMaxRetries is the number of retries after the first attempt:
	// a call makes at most DefaultMaxRetries+1 attempts.
	DefaultMaxRetries = 2
	// DefaultTimeout bounds a whole call (see WithTimeout).
	DefaultTimeout = 60 * time.Second
	// DefaultRetryBackoff is the wait before the first retry; each further
	// retry doubles it, up to DefaultMaxRetryBackoff. Both are then reduced
	// by up to a quarter at random (jitter), so that clients failing
	// together do not retry together.
	DefaultRetryBackoff    = 500 * time.Millisecond
	DefaultMaxRetryBackoff = 8 * time.Second
)

// HTTPDoer sends HTTP requests. *http.Client implements it; tests and
// callers with special transport needs may pass anything else that does.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client calls the API. Create one with New and reuse it: it holds no
// per-call state and is safe for concurrent use.
type Client struct {
	api        *genclient.Client
	baseURL    string
	maxRetries int
	timeout    time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
}

// config collects the options given to New.
type config struct {
	apiKey     *string
	baseURL    *string
	maxRetries int
	timeout    time.Duration
	httpClient HTTPDoer
	backoff    time.Duration
	maxBackoff time.Duration
}

// Option configures a Client in New. Options override the environment; a
// later option overrides an earlier one of the same kind.
type Option func(*config) error

// WithAPIKey sets the API key sent as x-api-key on every request, instead
// of SENT_DM_API_KEY. An empty key is an error from New: pass no option to
// use the environment.
func WithAPIKey(key string) Option {
	return func(c *config) error {
		if key == "" {
			return errors.New("WithAPIKey: empty api key")
		}
		c.apiKey = &key
		return nil
	}
}

// WithBaseURL sets the URL the API is served at, instead of SENT_BASE_URL
// or DefaultBaseURL. It must be an absolute http or https URL; a path in it
// is kept as a prefix of every operation's path.
func WithBaseURL(u string) Option {
	return func(c *config) error {
		c.baseURL = &u
		return nil
	}
}

// WithMaxRetries sets how many times a failed attempt is retried (default
// DefaultMaxRetries); 0 disables retries. Negative values are an error.
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("WithMaxRetries: negative retry count %d", n)
		}
		c.maxRetries = n
		return nil
	}
}

// WithHTTPClient sets what sends the requests (default: a new
// &http.Client{} over http.DefaultTransport). A timeout configured on it
// bounds each attempt; such a timeout counts as a connection error and is
// retried.
func WithHTTPClient(hc HTTPDoer) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("WithHTTPClient: nil http client")
		}
		if h, ok := hc.(*http.Client); ok && h == nil {
			return errors.New("WithHTTPClient: nil *http.Client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithTimeout bounds each call of the Client as a whole: every attempt and
// every wait between attempts must fit in d, measured from the start of the
// call (default DefaultTimeout). It does not bound each attempt separately,
// so a slow first attempt leaves less time to its retries; and a retry
// whose backoff would end after the bound is not made: the call returns the
// last error at once. A deadline on the call's context applies too; the
// earlier one wins. d == 0 removes the client's bound, leaving only the
// context's; negative values are an error.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithTimeout: negative timeout %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetryBackoff sets the wait before the first retry (initial) and the
// cap of the doubling waits that follow (max); see DefaultRetryBackoff.
// A Retry-After answered by the server takes precedence over both. Tests
// use small values to run fast.
func WithRetryBackoff(initial, max time.Duration) Option {
	return func(c *config) error {
		if initial < 0 || max < initial {
			return fmt.Errorf("WithRetryBackoff: need 0 <= initial <= max, got %v and %v", initial, max)
		}
		c.backoff, c.maxBackoff = initial, max
		return nil
	}
}

// New returns a Client configured by opts. Without WithAPIKey it reads the
// API key from SENT_DM_API_KEY, and without WithBaseURL the base URL from
// SENT_BASE_URL, falling back to DefaultBaseURL. Having no API key at all is
// an error, as is an option with an invalid value.
func New(opts ...Option) (*Client, error) {
	cfg := config{
		maxRetries: DefaultMaxRetries,
		timeout:    DefaultTimeout,
		backoff:    DefaultRetryBackoff,
		maxBackoff: DefaultMaxRetryBackoff,
	}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("sentdm: %w", err)
		}
	}

	var key string
	if cfg.apiKey != nil {
		key = *cfg.apiKey
	} else if key = strings.TrimSpace(os.Getenv(EnvAPIKey)); key == "" {
		return nil, fmt.Errorf("sentdm: no api key: use WithAPIKey or set %s", EnvAPIKey)
	}
	if !validHeaderValue(key) {
		return nil, errors.New("sentdm: the api key contains characters not allowed in an HTTP header")
	}

	base := DefaultBaseURL
	if cfg.baseURL != nil {
		base = *cfg.baseURL
	} else if env := strings.TrimSpace(os.Getenv(EnvBaseURL)); env != "" {
		base = env
	}
	if err := checkBaseURL(base); err != nil {
		return nil, fmt.Errorf("sentdm: %w", err)
	}

	hc := cfg.httpClient
	if hc == nil {
		hc = &http.Client{}
	}
	api, err := genclient.NewClient(base,
		genclient.WithHTTPClient(hc),
		genclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("x-api-key", key)
			req.Header.Set("User-Agent", UserAgent)
			req.Header.Set("Accept", "application/json")
			return nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("sentdm: %w", err)
	}
	return &Client{
		api:        api,
		baseURL:    base,
		maxRetries: cfg.maxRetries,
		timeout:    cfg.timeout,
		backoff:    cfg.backoff,
		maxBackoff: cfg.maxBackoff,
	}, nil
}

// BaseURL returns the base URL the client sends its requests to.
func (c *Client) BaseURL() string { return c.baseURL }

func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base url %q: want an absolute http or https url", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("base url %q: a query or fragment is not allowed", base)
	}
	return nil
}

// validHeaderValue reports whether s can be sent as an HTTP header value.
// Checking here turns a bad key into an error from New or from a call,
// before any request, rather than into a transport error that would be
// retried for nothing.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// Bool returns a pointer to b, for ToggleStatusParams.IsActive.
func Bool(b bool) *bool { return &b }

// ToggleStatusParams are the parameters of ToggleWebhookStatus beyond the
// webhook's id. The zero value flips the webhook's state.
type ToggleStatusParams struct {
	// IsActive is the state to set. nil flips the current state. Setting
	// the state the webhook already has changes nothing.
	IsActive *bool
	// Sandbox asks for a realistic answer without writing anything.
	Sandbox bool
	// IdempotencyKey is sent as the Idempotency-Key header, as given: the
	// server answers 400 VALIDATION_007 unless it is 1 to 255 characters
	// among a-z, A-Z, 0-9, "_" and "-". Empty, the client generates a
	// random key for the call and reuses it on each of its retries.
	IdempotencyKey string
	// ProfileID, when not empty, is the UUID of a profile of the calling
	// organization to act for (the x-profile-id header).
	ProfileID string
}

// ToggleWebhookStatus activates or deactivates the webhook id
// (PATCH /v3/webhooks/{id}/toggle-status) and returns it as saved.
//
// id and p.ProfileID must be UUIDs: the generated client sends them as
// such, so a malformed one is a plain error (not an *Error) returned before
// any request is made; the server would answer it 400 VALIDATION_001.
//
// The call is retried as described in the package documentation, always
// with the same Idempotency-Key, so that the webhook is toggled at most
// once whatever happens to the attempts. When the last attempt got an
// answer that is not 2xx, the error is that answer's *Error, unwrapped;
// IsNotFound reports the webhook not existing for the caller (another
// customer's webhook does not exist for it). Other failures are wrapped
// errors: the last connection error, or the context's error (with the last
// attempt's, if any) when ctx ended or the call exceeded WithTimeout.
//
// WithResponseInto tells, among other things, whether the answer was
// replayed for the Idempotency-Key (ResponseMeta.IdempotentReplayed) and
// whether it is a sandbox fake (ResponseMeta.Sandbox).
func (c *Client) ToggleWebhookStatus(ctx context.Context, id string, p ToggleStatusParams, opts ...CallOption) (*Webhook, error) {
	const op = "toggle webhook status"
	cs := settings(opts)
	webhookID, profile, key, err := mutationArgs(op, id, p.ProfileID, p.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	params := &genclient.ToggleWebhookStatusParams{XProfileID: profile, IdempotencyKey: key}
	body := genclient.ToggleWebhookStatusJSONRequestBody{IsActive: p.IsActive, Sandbox: sandbox(p.Sandbox)}
	return callWebhook(ctx, c, op, cs, func(ctx context.Context) (*http.Response, error) {
		return c.api.ToggleWebhookStatus(ctx, webhookID, params, body)
	})
}

// idempotencyKeyPrefix starts every generated key, so that keys the client
// made are told apart from the caller's in server logs.
const idempotencyKeyPrefix = "sentstub-go-"

// NewIdempotencyKey returns a new random Idempotency-Key: the prefix
// "sentstub-go-" and 26 base32 characters (130 bits of randomness), which
// matches ^[a-zA-Z0-9_-]{1,255}$. It is what a call uses when its params
// have no key; use it to make a key of your own that survives a restart of
// your process (store it before the call, reuse it when you call again).
func NewIdempotencyKey() string {
	return idempotencyKeyPrefix + rand.Text()
}
