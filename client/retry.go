package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter is the longest Retry-After the client waits for. A server
// asking for more is not going to be ready soon: the call returns the last
// error at once rather than block that long or retry earlier than asked.
const maxRetryAfter = 60 * time.Second

// maxBodyBytes bounds how much of a response body is read. The API's
// answers are a few kilobytes; a larger body is not one of them.
const maxBodyBytes = 4 << 20

// sendFunc makes one attempt of an operation. Each call builds a new
// request, so an attempt never reuses a consumed body.
type sendFunc func(ctx context.Context) (*http.Response, error)

// decodeFunc decodes the body of a 2xx answer into the operation's result.
type decodeFunc func(body []byte) error

// attemptError is the outcome of a failed attempt.
type attemptError struct {
	err       error // an *Error, or a connection or decoding error
	retryable bool  // whether another attempt may succeed
	hasAfter  bool  // whether to wait the answer's ResponseMeta.RetryAfter
}

// call runs an operation: attempts, with retries on failures worth
// retrying, within c.timeout and ctx. op names the operation in errors;
// cs.record gets the ResponseMeta of the last attempt when call returns.
//
// The returned error is the *Error of the last answer when there was one
// and nothing else went wrong, unwrapped so that errors.As and a type
// assertion both find it; a connection error wrapped with %w; or, when ctx
// ends, an error wrapping ctx.Err() (and the last attempt's error).
func (c *Client) call(ctx context.Context, op string, cs callSettings, send sendFunc, decode decodeFunc) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var (
		last error
		meta ResponseMeta // of the last attempt
	)
	defer func() { cs.record(meta) }()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return stopped(op, err, last)
		}
		var fail *attemptError
		meta, fail = c.attempt(ctx, attempt, send, decode)
		if fail == nil {
			return nil
		}
		last = fail.err
		if err := ctx.Err(); err != nil {
			return stopped(op, err, last)
		}
		if !fail.retryable || attempt > c.maxRetries {
			return giveUp(op, last, attempt)
		}
		wait := c.backoffFor(attempt)
		if fail.hasAfter {
			if meta.RetryAfter > maxRetryAfter {
				return giveUp(op, last, attempt)
			}
			wait = meta.RetryAfter
		}
		// Waiting past the deadline would only end in the deadline's error;
		// the caller learns more from the last answer, and learns it now.
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
			return giveUp(op, last, attempt)
		}
		if err := sleep(ctx, wait); err != nil {
			return stopped(op, err, last)
		}
	}
}

// attempt makes attempt number n and classifies its failure; a nil
// *attemptError means the answer was 2xx and decoded. The ResponseMeta is
// that of the answer, or has StatusCode 0 when there was none.
func (c *Client) attempt(ctx context.Context, n int, send sendFunc, decode decodeFunc) (ResponseMeta, *attemptError) {
	resp, err := send(ctx)
	if err != nil {
		return ResponseMeta{Attempts: n}, &attemptError{err: err, retryable: retryableTransportError(err)}
	}
	defer resp.Body.Close()
	now := time.Now()
	meta, hasAfter := responseMeta(resp, n, now)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		// The connection broke while the answer was read. Retrying is safe:
		// the Idempotency-Key makes the server replay what it answered.
		return meta, &attemptError{err: fmt.Errorf("read %d answer: %w", resp.StatusCode, err), retryable: true}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := decode(body); err != nil {
			return meta, &attemptError{err: fmt.Errorf("decode %d answer (request_id %q): %w; body: %q",
				resp.StatusCode, meta.RequestID, err, snippet(body))}
		}
		return meta, nil
	}
	return meta, &attemptError{err: newError(body, meta), retryable: retryableStatus(resp.StatusCode), hasAfter: hasAfter}
}

// retryableStatus reports whether an answer with status code is worth
// retrying: a timeout (408), a request with the same Idempotency-Key in
// flight (409), rate limiting (429) and server errors (5xx).
func retryableStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusConflict, code == http.StatusTooManyRequests:
		return true
	default:
		return code >= 500 && code <= 599
	}
}

// retryableTransportError reports whether a failure to get an answer is
// worth retrying. Connection errors are, whether or not the request reached
// the server: its Idempotency-Key keeps a retry from executing twice. A
// certificate the client does not trust will not become trusted on retry.
func retryableTransportError(err error) bool {
	var certErr *tls.CertificateVerificationError
	return !errors.As(err, &certErr)
}

// backoffFor returns the wait after the given failed attempt (1-based):
// c.backoff doubled for each earlier retry, capped at c.maxBackoff, less a
// random part of up to a quarter.
func (c *Client) backoffFor(attempt int) time.Duration {
	d := c.backoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		if d > c.maxBackoff/2 { // doubling would pass the cap (or overflow)
			d = c.maxBackoff
		} else {
			d *= 2
		}
	}
	return d - time.Duration(rand.Float64()*0.25*float64(d))
}

// retryAfter reads how long the server asks the client to wait:
// retry-after-ms (milliseconds, as some of sent.dm's SDKs honour), else
// Retry-After in seconds or as an HTTP-date. ok is false when neither is
// present and valid. A wait too long for a time.Duration is the longest
// one.
func retryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return duration(ms, time.Millisecond), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return duration(float64(s), time.Second), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// duration is n units, or the longest time.Duration if that is longer.
func duration(n float64, unit time.Duration) time.Duration {
	if d := n * float64(unit); d < float64(math.MaxInt64) {
		return time.Duration(d)
	}
	return math.MaxInt64
}

// sleep waits for d, or returns ctx.Err() as soon as ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// giveUp returns the error of a call whose last attempt failed. An *Error
// is returned as is; anything else is wrapped with the operation.
func giveUp(op string, last error, attempts int) error {
	var apiErr *Error
	if errors.As(last, &apiErr) {
		return last
	}
	if attempts > 1 {
		return fmt.Errorf("sentdm: %s failed after %d attempts: %w", op, attempts, last)
	}
	return fmt.Errorf("sentdm: %s: %w", op, last)
}

// stopped returns the error of a call whose context ended with cause: it
// wraps cause, so errors.Is(err, context.Canceled) (or DeadlineExceeded)
// holds, and the last attempt's error, if any, for errors.As.
func stopped(op string, cause, last error) error {
	switch {
	case last == nil:
		return fmt.Errorf("sentdm: %s: %w", op, cause)
	case errors.Is(last, cause):
		return fmt.Errorf("sentdm: %s: %w", op, last)
	default:
		return fmt.Errorf("sentdm: %s: %w (last attempt: %w)", op, cause, last)
	}
}
