package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub"
)

// Idempotency defaults, as sent.dm documents them.
const (
	DefaultIdempotencyTTL         = 24 * time.Hour
	DefaultIdempotencyWait        = 5 * time.Second
	DefaultIdempotencyLockTimeout = 30 * time.Second
	// MaxStoredResponse is the largest response kept for replay: 5 MB.
	MaxStoredResponse = 5 << 20
)

// idempotencyUnavailable is sent.dm's message for SERVICE_001.
const idempotencyUnavailable = "Cache service temporarily unavailable"

const (
	headerIdempotencyKey  = "Idempotency-Key"
	headerReplayed        = "Idempotent-Replayed"
	headerOriginalRequest = "X-Original-Request-Id"
)

// replayedHeaders are the response headers stored with a response and
// replayed with it; the others (X-Request-Id, X-Response-Time, ...) belong
// to the replaying request.
var replayedHeaders = []string{echo.HeaderContentType, headerSandbox}

// notStored are the statuses of answers that say the operation did not
// run, or may succeed if retried: a retry with the same key runs again.
var notStored = map[int]bool{
	http.StatusBadRequest:            true, // request validation
	http.StatusUnauthorized:          true,
	http.StatusForbidden:             true,
	http.StatusRequestTimeout:        true,
	http.StatusConflict:              true,
	http.StatusRequestEntityTooLarge: true,
	http.StatusTooManyRequests:       true,
}

func storable(status int) bool {
	return status >= 200 && status < 300 || status >= 400 && status < 500 && !notStored[status]
}

// idempotent gives sent.dm's Idempotency-Key semantics to every operation
// whose spec declares the header on a POST, PUT or PATCH: the first request
// with a key runs and its answer is stored for the calling account; every
// later request with the key gets that answer back, byte for byte, with
// Idempotent-Replayed and X-Original-Request-Id. A duplicate that arrives
// while the first is running waits for it, then replays it, or gets 409
// CONFLICT_001. When the idempotency store fails, the answer is 503
// SERVICE_001 and the operation does not run. (X-Sentstub-Simulate:
// idempotency_unavailable is answered before, by limit, with or without
// a key.)
func (s *Server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := requestOf(c)
		key := c.Request().Header.Get(headerIdempotencyKey)
		if r.op == nil || !r.op.idempotent || r.caller == nil || key == "" {
			return delayed(next, r.delay)(c)
		}
		ctx := c.Request().Context()
		// The calling account is the key's owner: an organization stays the
		// same account whatever x-profile-id it sends.
		account := r.caller.ID
		fp := fingerprint(c.Request(), r.body)
		slot := idemSlot{account, key}
		var deadline <-chan time.Time // set when the request first waits
		for poll := 5 * time.Millisecond; ; poll = min(2*poll, 50*time.Millisecond) {
			now := s.now()
			stored, claimed, err := s.store.ClaimIdempotencyKey(ctx, sentstub.IdempotencyClaim{
				AccountID: account, Key: key, RequestID: r.id, Fingerprint: fp,
				Now: now, LockedUntil: now.Add(s.idem.lockTimeout),
			})
			if err != nil {
				return idempotencyStoreError(err)
			}
			if stored != nil {
				if stored.Fingerprint != fp {
					s.logger.LogAttrs(ctx, slog.LevelWarn, "Idempotency-Key reused for a different request; replaying the first answer",
						slog.String("request_id", r.id), slog.String("original_request_id", stored.RequestID),
						slog.String("idempotency_key", key), slog.String("method", c.Request().Method),
						slog.String("path", c.Request().URL.Path))
				}
				return replay(c, stored)
			}
			if claimed {
				break
			}
			// In flight elsewhere: wait for it to finish here (woken at once)
			// or on another replica (polled).
			if deadline == nil {
				t := time.NewTimer(s.idem.wait)
				defer t.Stop()
				deadline = t.C
			}
			select {
			case <-s.idem.done(slot):
			case <-time.After(poll):
			case <-deadline:
				return &sentstub.Error{Code: sentstub.ECONFLICT,
					Message: "A request with this Idempotency-Key is already being processed"}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		defer s.idem.release(slot, s.idem.hold(slot))
		return s.runAndStore(c, delayed(next, r.delay), account, key, fp)
	}
}

// runAndStore runs the operation as an idempotent request of the store and
// ends it by the answer: a storable answer is stored with the operation's
// writes, in one transaction; a 5xx rolls them back; any other answer
// commits them and frees the key. The answer is held back until then, so
// that a client never receives an answer whose effect or replay may be
// lost: when the store cannot commit, the answer is 503 SERVICE_001 and
// nothing the operation did remains.
func (s *Server) runAndStore(c echo.Context, next echo.HandlerFunc, account uuid.UUID, key, fp string) error {
	r := requestOf(c)
	ctx, run := s.store.BeginIdempotentRequest(c.Request().Context(), account, key, r.id)
	c.SetRequest(c.Request().WithContext(ctx))
	res := c.Response()
	unsent := holdResponse(res)
	ended := false
	defer func() {
		res.Writer = unsent.ResponseWriter
		defer unsent.release()
		if !ended { // a panic, which begin answers with a 500
			unsent.discard()
			if err := run.Abort(); err != nil {
				s.logger.LogAttrs(ctx, slog.LevelError, "ending an idempotent request after a panic failed; its key frees itself after the lock timeout",
					slog.String("request_id", r.id), slog.Any("error", err))
			}
		}
	}()
	if err := next(c); err != nil {
		c.Error(err) // the answer is written here, so that it can be stored
	}
	ended = true
	var err error
	switch {
	case !res.Committed: // nothing was written, nor will Echo write anything
		err = run.Release()
	case storable(res.Status) && unsent.body.Len() <= s.idem.maxStored:
		answer := unsent.answer(r.id, fp)
		now := s.now()
		answer.StoredAt, answer.ExpiresAt = now, now.Add(s.idem.ttl)
		var stored bool
		stored, err = run.Complete(answer)
		if err == nil && !stored {
			s.logger.LogAttrs(ctx, slog.LevelWarn, "an Idempotency-Key's lock timed out before its request finished; its answer is not stored",
				slog.String("request_id", r.id), slog.String("idempotency_key", key))
		}
	case res.Status >= 500:
		if err := run.Abort(); err != nil {
			s.logger.LogAttrs(ctx, slog.LevelError, "rolling back a failed idempotent request failed; its key frees itself after the lock timeout",
				slog.String("request_id", r.id), slog.Any("error", err))
		}
	default:
		err = run.Release()
	}
	if err != nil {
		unsent.discard()
		return idempotencyStoreError(err)
	}
	if !res.Committed {
		return nil
	}
	return unsent.send()
}

// idempotencyStoreError is what the client is told when the idempotency
// store fails: 503 SERVICE_001, unless the store says that the database
// failed as a whole (it did not answer in time, or cannot be reached),
// which is said as for any other call: 504 INTERNAL_004 or 503
// INTERNAL_005. Either way the operation did not run, or left nothing.
func idempotencyStoreError(err error) error {
	switch sentstub.ErrorCode(err) {
	case sentstub.ETIMEOUT, sentstub.EDBUNAVAILABLE:
		return err
	}
	return &sentstub.Error{Code: sentstub.EUNAVAILABLE, Message: idempotencyUnavailable, Cause: err}
}

func replay(c echo.Context, stored *sentstub.IdempotentResponse) error {
	res := c.Response()
	h := res.Header()
	for k, v := range stored.Headers {
		h.Set(k, v)
	}
	h.Set(headerReplayed, "true")
	h.Set(headerOriginalRequest, stored.RequestID)
	res.WriteHeader(stored.Status)
	_, err := res.Write(stored.Body)
	return err
}

// fingerprint identifies what a request asked for, to warn when a key is
// reused for something else: method, path, x-profile-id and a digest of
// body, the request's body as read.
func fingerprint(req *http.Request, body []byte) string {
	var buf [512]byte
	in := append(buf[:0], req.Method...)
	in = append(append(in, '\n'), req.URL.Path...)
	in = append(append(in, '\n'), headerValue(req, profileIDHeader)...)
	in = append(in, '\n')
	var sum [sha256.Size]byte
	if len(in)+len(body) <= len(buf) { // most requests: hashed without an allocation
		sum = sha256.Sum256(append(in, body...))
	} else { // a large body is not copied
		h := sha256.New()
		h.Write(in)
		h.Write(body)
		h.Sum(sum[:0])
	}
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	return string(hexSum[:])
}

// heldResponse holds a response back: its status and body are kept until
// send, and discard forgets them and the headers set since it was made.
type heldResponse struct {
	http.ResponseWriter // the writer it holds back
	res                 *echo.Response
	status              int
	body                bytes.Buffer
	header              []headerField // the headers as they were before the response
	stored              sentstub.IdempotentResponse
}

// answer returns the held response as the answer to store for the request
// id with the fingerprint fp, its times unset. It shares the held body, and
// is w's, to be reused once the store has it (a store copies what it keeps).
func (w *heldResponse) answer(id, fp string) *sentstub.IdempotentResponse {
	a := &w.stored
	if a.Headers == nil { // else empty, since release
		a.Headers = make(map[string]string, len(replayedHeaders))
	}
	for _, h := range replayedHeaders {
		if v := w.res.Header().Get(h); v != "" {
			a.Headers[h] = v
		}
	}
	a.RequestID, a.Fingerprint, a.Status, a.Body = id, fp, w.res.Status, w.body.Bytes()
	return a
}

// headerField is a header's values as they were when a response was held:
// net/http's Header.Set and Add replace or append to a slice, never write
// into one that a snapshot shares.
type headerField struct {
	name   string
	values []string
}

// heldResponses reuses held responses and the buffers of their bodies, one
// of which every keyed request fills and drops.
var heldResponses = sync.Pool{New: func() any { return new(heldResponse) }}

// maxPooledBody is the largest body buffer put back for reuse: one that a
// large answer grew is left to the collector.
const maxPooledBody = 64 << 10

// holdResponse makes res write into a heldResponse, until the caller puts
// back res.Writer and releases it.
func holdResponse(res *echo.Response) *heldResponse {
	w := heldResponses.Get().(*heldResponse)
	w.ResponseWriter, w.res = res.Writer, res
	for name, values := range res.Header() {
		w.header = append(w.header, headerField{name, values})
	}
	res.Writer = w
	return w
}

// release forgets the response and puts w back for reuse; w is not used
// after.
func (w *heldResponse) release() {
	if w.body.Cap() > maxPooledBody {
		return
	}
	w.body.Reset()
	clear(w.header)
	clear(w.stored.Headers)
	*w = heldResponse{body: w.body, header: w.header[:0], stored: sentstub.IdempotentResponse{Headers: w.stored.Headers}}
	heldResponses.Put(w)
}

func (w *heldResponse) WriteHeader(status int) { w.status = status }

func (w *heldResponse) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// Flush does nothing: the response is held back until it is sent.
func (w *heldResponse) Flush() {}

func (w *heldResponse) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// send writes the held response.
func (w *heldResponse) send() error {
	w.ResponseWriter.WriteHeader(w.status)
	_, err := w.ResponseWriter.Write(w.body.Bytes())
	return err
}

// discard forgets the held response, so that another can be written.
func (w *heldResponse) discard() {
	w.status = 0
	w.body.Reset()
	h := w.ResponseWriter.Header()
	clear(h)
	for _, f := range w.header {
		h[f.name] = f.values
	}
	w.res.Committed, w.res.Status, w.res.Size = false, http.StatusOK, 0
}

// idempotencyConfig is the policy, and the in-process waiting room.
type idempotencyConfig struct {
	ttl, wait, lockTimeout time.Duration
	maxStored              int

	mu      sync.Mutex
	holders map[idemSlot]holding // the slots whose requests run here
	held    uint64               // the number of the latest hold
}

// idemSlot is an Idempotency-Key of an account.
type idemSlot struct {
	account uuid.UUID
	key     string
}

// holding is a slot's request running here: the hold's number, and the
// channel closed when it finishes, made when a request first waits for it
// (most never have one).
type holding struct {
	hold     uint64
	finished chan struct{}
}

// hold marks slot as running here, and returns the number that release
// takes. The waiters of an earlier hold that it replaces (whose lock timed
// out) are woken, to find the slot held again.
func (ic *idempotencyConfig) hold(slot idemSlot) uint64 {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if h := ic.holders[slot]; h.finished != nil {
		close(h.finished)
	}
	ic.held++
	ic.holders[slot] = holding{hold: ic.held}
	return ic.held
}

// release marks slot's hold number finished and wakes the requests here
// that wait for it. A later hold of the slot (the earlier's lock timed out)
// is left alone.
func (ic *idempotencyConfig) release(slot idemSlot, hold uint64) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if h, ok := ic.holders[slot]; ok && h.hold == hold {
		delete(ic.holders, slot)
		if h.finished != nil {
			close(h.finished)
		}
	}
}

// done returns a channel closed when slot's request here finishes, or nil
// (never ready) when it is not running here.
func (ic *idempotencyConfig) done(slot idemSlot) <-chan struct{} {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	h, ok := ic.holders[slot]
	if !ok {
		return nil
	}
	if h.finished == nil {
		h.finished = make(chan struct{})
		ic.holders[slot] = h
	}
	return h.finished
}

// RunSweeper deletes expired idempotency records every interval until ctx
// ends, so that the table does not grow without bound.
func (s *Server) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.SweepIdempotencyKeys(ctx)
			if err != nil && ctx.Err() == nil {
				s.logger.LogAttrs(ctx, slog.LevelWarn, "sweeping expired Idempotency-Keys failed", slog.Any("error", err))
			} else if n > 0 {
				s.logger.LogAttrs(ctx, slog.LevelDebug, "swept expired Idempotency-Keys", slog.Int("deleted", n))
			}
		}
	}
}

// SweepIdempotencyKeys deletes every expired idempotency record, in
// batches, and returns how many it deleted.
func (s *Server) SweepIdempotencyKeys(ctx context.Context) (int, error) {
	const batch = 1000
	total := 0
	for {
		n, err := s.store.SweepIdempotencyKeys(ctx, s.now(), batch)
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}
