package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is a real HTTP receiver of deliveries: it records every request
// and answers as told.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []delivered
	status   int
	delay    time.Duration
	location string // answered with status when set (a redirect)
	arrived  chan struct{}
}

// delivered is one request a receiver got.
type delivered struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{status: http.StatusOK, arrived: make(chan struct{}, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivered{Header: r.Header.Clone(), Body: body, At: time.Now()})
		status, delay, location := rc.status, rc.delay, rc.location
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if location != "" {
			w.Header().Set("Location", location)
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"received":true}`)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// answer sets what the receiver answers from now on.
func (rc *receiver) answer(status int, delay time.Duration) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status, rc.delay = status, delay
}

func (rc *receiver) requests() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivered(nil), rc.got...)
}

// verify checks d's signature with the Standard Webhooks library, as a
// receiver would: sent.dm's x-webhook-* headers are the library's webhook-*
// ones under other names.
func verify(d delivered, secret string) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, d.Header.Get("x-webhook-id"))
	h.Set(standardwebhooks.HeaderWebhookTimestamp, d.Header.Get("x-webhook-timestamp"))
	h.Set(standardwebhooks.HeaderWebhookSignature, d.Header.Get("x-webhook-signature"))
	return wh.Verify(d.Body, h)
}
