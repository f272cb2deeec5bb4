package client

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ResponseMeta is what an answer's status and headers say about it, beyond
// the data a method returns: which request it answered, whether it was
// replayed for an Idempotency-Key, whether it is a sandbox fake, and the
// rate limits. WithResponseInto hands it back from any call, and every
// *Error carries the one of its answer (Error.Response).
type ResponseMeta struct {
	// StatusCode is the HTTP status of the answer; 0 when the attempt got
	// none (a connection error, or the context ended first).
	StatusCode int
	// RequestID is this answer's X-Request-Id. It equals the body's
	// meta.request_id, except on a replay: a replayed body is the original
	// answer, whose id is OriginalRequestID.
	RequestID string
	// IdempotentReplayed is true when the server answered with the stored
	// answer of an earlier request with the same Idempotency-Key
	// (Idempotent-Replayed: true) instead of executing the request again.
	IdempotentReplayed bool
	// OriginalRequestID is, on a replay, the request id of the request
	// whose answer was replayed (X-Original-Request-Id); empty otherwise.
	OriginalRequestID string
	// Sandbox is true for a sandbox answer (X-Sandbox: true): a realistic
	// fake, with nothing written or sent.
	Sandbox bool
	// RateLimit is what the X-RateLimit-* headers say; nil when the answer
	// has none of them (api.sent.dm sends them; sentstub only when started
	// with --rate-limit).
	RateLimit *RateLimit
	// RetryAfter is how long the server asked the client to wait before
	// trying again (retry-after-ms, else Retry-After in seconds or as an
	// HTTP-date); 0 when it did not ask. The client's retries honour it.
	RetryAfter time.Duration
	// Attempts counts the attempts the call had made up to and including
	// the one this describes: 1 for an answer to the first attempt. Since
	// WithResponseInto describes a call's last attempt, there it is the
	// number of attempts the call made (0 when it made none).
	Attempts int
	// Header is the answer's whole header, for anything not above.
	Header http.Header
}

// RateLimit is the rate limit an answer reports. A field whose header is
// missing or malformed is zero.
type RateLimit struct {
	// Limit is how many requests the window allows (X-RateLimit-Limit).
	Limit int
	// Remaining is how many are left in this window (X-RateLimit-Remaining).
	Remaining int
	// Reset is when the window restarts (X-RateLimit-Reset, Unix seconds).
	Reset time.Time
}

// CallOption configures one call of a Client's method; every method takes
// them last. WithResponseInto is the one there is.
type CallOption func(*callSettings)

// callSettings collects a call's options.
type callSettings struct {
	into *ResponseMeta
}

// WithResponseInto makes the call store into *dst the ResponseMeta of its
// last attempt, once it returns: whether it succeeded or failed, and even
// when that attempt got no answer (StatusCode 0). *dst is cleared when the
// call starts, so an error returned before any request (a malformed id)
// leaves it zero. Use it to read the request id of a success, or to see
// that a retried mutation was replayed:
//
//	var meta client.ResponseMeta
//	wh, err := c.ToggleWebhookStatus(ctx, id, params, client.WithResponseInto(&meta))
//	log.Printf("request %s, replayed %v", meta.RequestID, meta.IdempotentReplayed)
//
// With the iterators (Webhooks, WebhookEvents), *dst describes the page
// fetched last. A nil dst is ignored.
func WithResponseInto(dst *ResponseMeta) CallOption {
	return func(s *callSettings) { s.into = dst }
}

// settings applies opts, and clears the ResponseMeta they ask for.
func settings(opts []CallOption) callSettings {
	var s callSettings
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	if s.into != nil {
		*s.into = ResponseMeta{}
	}
	return s
}

// record stores the last attempt's meta where the call's options ask.
func (s callSettings) record(m ResponseMeta) {
	if s.into != nil {
		*s.into = m
	}
}

// responseMeta reads the metadata of resp, the answer to attempt number
// attempt, received at now. hasAfter reports whether the answer asked for
// a wait (m.RetryAfter, which may be 0: "retry now").
func responseMeta(resp *http.Response, attempt int, now time.Time) (m ResponseMeta, hasAfter bool) {
	h := resp.Header
	m = ResponseMeta{
		StatusCode:         resp.StatusCode,
		RequestID:          h.Get("X-Request-Id"),
		IdempotentReplayed: strings.EqualFold(strings.TrimSpace(h.Get("Idempotent-Replayed")), "true"),
		OriginalRequestID:  h.Get("X-Original-Request-Id"),
		Sandbox:            strings.EqualFold(strings.TrimSpace(h.Get("X-Sandbox")), "true"),
		Attempts:           attempt,
		Header:             h,
	}
	m.RetryAfter, hasAfter = retryAfter(h, now)
	limit, okLimit := headerInt(h, "X-RateLimit-Limit")
	remaining, okRemaining := headerInt(h, "X-RateLimit-Remaining")
	reset, okReset := headerInt(h, "X-RateLimit-Reset")
	if okLimit || okRemaining || okReset {
		m.RateLimit = &RateLimit{Limit: limit, Remaining: remaining}
		if okReset {
			m.RateLimit.Reset = time.Unix(int64(reset), 0).UTC()
		}
	}
	return m, hasAfter
}

// headerInt reads a header holding a non-negative integer.
func headerInt(h http.Header, name string) (int, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
