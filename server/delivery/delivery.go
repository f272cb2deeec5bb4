// Package delivery sends webhook events to their receivers: it builds the
// body, signs it as sent.dm does (the Standard Webhooks scheme with
// sent.dm's x-webhook-* header names), makes one HTTP attempt bounded by the
// webhook's timeout, and tells what came of it. It knows nothing of stores
// or of the API: the server and the dispatcher decide what to send and
// record the outcome.
package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/api/apitime"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The headers of every delivery. The first three are signed (through the
// content); the event's id and type are not.
const (
	HeaderWebhookID = "x-webhook-id"        // the webhook's id
	HeaderTimestamp = "x-webhook-timestamp" // unix seconds of the signature
	HeaderSignature = "x-webhook-signature" // v1,<base64 HMAC-SHA256>
	HeaderEventID   = "x-webhook-event-id"  // the body's id
	HeaderEventType = "x-webhook-event-type"
)

// How much of a receiver's answer is read (the rest is not waited for), and
// how much of it an attempt keeps for the delivery log.
const (
	MaxResponseBody = 64 << 10
	MaxKeptResponse = 4 << 10
)

// Message is one event to deliver to one webhook.
type Message struct {
	WebhookID uuid.UUID
	EventID   uuid.UUID
	EventType string // the full type, "message.delivered"
	Body      []byte // the JSON body, as EventBody makes it
	URL       string
	Secret    string        // "whsec_..."
	Timeout   time.Duration // the webhook's timeout_seconds
}

// For is the message that delivers d to its webhook w.
func For(w *sentstub.Webhook, d *sentstub.Delivery) Message {
	return Message{WebhookID: w.ID, EventID: d.EventID, EventType: d.EventType, Body: d.EventData,
		URL: w.EndpointURL, Secret: w.SigningSecret, Timeout: time.Duration(w.TimeoutSeconds) * time.Second}
}

// Deliver sends d to w once and returns the outcome timed by now, the
// caller's clock (the signature's timestamp is the wall clock's).
func (s *Sender) Deliver(ctx context.Context, w *sentstub.Webhook, d *sentstub.Delivery, now func() time.Time) sentstub.Outcome {
	started := now()
	o := s.Send(ctx, For(w, d))
	o.Started, o.Completed = started, now()
	return o
}

// EventBody is the body of a delivery: the event's id, full type, creation
// time (RFC 3339, UTC) and data, a JSON object.
func EventBody(id uuid.UUID, eventType string, created time.Time, data any) ([]byte, error) {
	b, err := json.Marshal(struct {
		ID        uuid.UUID    `json:"id"`
		Type      string       `json:"type"`
		CreatedAt apitime.Time `json:"created_at"`
		Data      any          `json:"data"`
	}{id, eventType, apitime.New(created), data})
	if err != nil {
		return nil, fmt.Errorf("delivery: encode event body: %w", err)
	}
	return b, nil
}

// Event is an event to deliver: its id, full type, creation time (at the
// stores' precision) and body (EventBody).
type Event struct {
	ID      uuid.UUID
	Type    string
	Created time.Time
	Body    []byte
}

// NewEvent is a fresh event of eventType with data, created at now.
func NewEvent(eventType string, data any, now time.Time) (Event, error) {
	e := Event{ID: uuid.New(), Type: eventType, Created: sentstub.Timestamp(now)}
	var err error
	e.Body, err = EventBody(e.ID, e.Type, e.Created, data)
	return e, err
}

// To is the pending delivery of e to the webhook webhookID.
func (e Event) To(webhookID uuid.UUID) *sentstub.Delivery {
	return &sentstub.Delivery{ID: uuid.New(), WebhookID: webhookID, EventID: e.ID, EventType: e.Type,
		EventData: e.Body, Status: sentstub.DeliveryPending, CreatedAt: e.Created}
}

// Sender makes delivery attempts. It is safe for concurrent use.
type Sender struct {
	client    *http.Client
	userAgent string
}

// NewSender returns a Sender that identifies itself as userAgent and signs
// with the wall clock's time (receivers check the timestamp against
// theirs). A nil transport is a fresh one that keeps connections to
// receivers alive, bounded like every outbound call.
func NewSender(userAgent string, transport http.RoundTripper) *Sender {
	if transport == nil {
		transport = &http.Transport{
			Proxy:                 nil, // a receiver on the developer's machine is never reached through a proxy
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 0, // the attempt's own deadline bounds it
			ForceAttemptHTTP2:     true,
		}
	}
	return &Sender{
		client: &http.Client{
			Transport: transport,
			// Redirects are not followed: the attempt is judged by the
			// receiver's own answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		userAgent: userAgent,
	}
}

// Sign returns the x-webhook-signature of body sent to webhookID at ts with
// secret: "v1," and the base64 HMAC-SHA256 of "<webhookID>.<ts>.<body>".
func Sign(secret string, webhookID uuid.UUID, ts time.Time, body []byte) (string, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return "", fmt.Errorf("delivery: signing secret: %w", err)
	}
	sig, err := wh.Sign(webhookID.String(), ts, body)
	if err != nil {
		return "", fmt.Errorf("delivery: sign: %w", err)
	}
	return sig, nil
}

// Send makes one attempt to deliver m, signed afresh, within m.Timeout (and
// ctx). It never fails: what went wrong is the attempt's Message.
func (s *Sender) Send(ctx context.Context, m Message) (a sentstub.Outcome) {
	a.Started = time.Now()
	defer func() { a.Completed = time.Now() }()
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	sig, err := Sign(m.Secret, m.WebhookID, a.Started, m.Body)
	if err != nil {
		a.Message = "The webhook's signing secret is unusable; rotate it"
		return a
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		a.Message = fmt.Sprintf("The endpoint URL cannot be requested: %v", err)
		return a
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", s.userAgent)
	h[HeaderWebhookID] = []string{m.WebhookID.String()}
	h[HeaderTimestamp] = []string{strconv.FormatInt(a.Started.Unix(), 10)}
	h[HeaderSignature] = []string{sig}
	h[HeaderEventID] = []string{m.EventID.String()}
	h[HeaderEventType] = []string{m.EventType}
	res, err := s.client.Do(req)
	if err != nil {
		a.Message = describeFailure(err, m)
		return a
	}
	defer res.Body.Close()
	status := res.StatusCode
	a.StatusCode = &status
	body, readErr := io.ReadAll(io.LimitReader(res.Body, MaxResponseBody))
	text := keep(body)
	a.ResponseBody = &text
	switch {
	case status >= 200 && status < 300 && readErr == nil:
		a.Delivered = true
		a.Message = fmt.Sprintf("Delivered: the receiver answered %s", statusText(status))
	case status >= 200 && status < 300:
		a.Message = fmt.Sprintf("The receiver answered %s but its body could not be read: %s", statusText(status), describeFailure(readErr, m))
	case status >= 300 && status < 400:
		a.Message = fmt.Sprintf("The receiver answered %s (redirect to %q, which is not followed)", statusText(status), res.Header.Get("Location"))
	default:
		a.Message = fmt.Sprintf("The receiver answered %s", statusText(status))
	}
	return a
}

// keep is the start of a receiver's answer that the log keeps: at most
// MaxKeptResponse bytes, cut at a character boundary, invalid UTF-8 replaced.
func keep(body []byte) string {
	if len(body) > MaxKeptResponse {
		cut := MaxKeptResponse
		for cut > 0 && !utf8.RuneStart(body[cut]) {
			cut--
		}
		body = body[:cut]
	}
	return string(bytes.ToValidUTF8(body, []byte(string(utf8.RuneError))))
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("%d %s", status, t)
	}
	return strconv.Itoa(status)
}

// describeFailure says in plain words why a request got no answer.
func describeFailure(err error, m Message) string {
	host := m.URL
	if u, perr := url.Parse(m.URL); perr == nil {
		host = u.Host
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("No answer from %s within %v (timeout_seconds)", host, m.Timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("Connection refused by %s", host)
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Sprintf("Connection reset by %s", host)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("The host %s could not be resolved", dnsErr.Name)
	case errors.Is(err, context.Canceled):
		return "The attempt was cancelled"
	default:
		return fmt.Sprintf("The request to %s failed: %v", host, unwrapURLError(err))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
