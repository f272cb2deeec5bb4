package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// discardWriter is the cheapest http.ResponseWriter: the benchmark measures
// the server, not a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

func newBenchServer(b *testing.B, db string) http.Handler {
	b.Helper()
	var st sentstub.Store
	if db == "memory" {
		st = storetest.MustOpenSQLitePath(b, ":memory:") // as the throughput figures run it
	} else {
		st = storetest.MustOpenSQLite(b) // a WAL file, as the binary uses by default
	}
	storetest.MustProvisionDemo(b, st, time.Now())
	return newServerOver(b, st)
}

func newServerOver(b *testing.B, st sentstub.Store) http.Handler {
	b.Helper()
	srv, err := server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// benchDatabases are the databases the toggle benchmarks run on: a SQLite
// file, the binary's default, and a database in memory, which the
// throughput figures under wrk use.
var benchDatabases = []string{"file", "memory"}

// BenchmarkToggle is one toggle that writes, through the whole in-process
// pipeline: routing, request id, authentication, validation against the
// spec, profile scoping, the handler, and the SQLite write.
func BenchmarkToggle(b *testing.B) {
	for _, db := range benchDatabases {
		b.Run(db, func(b *testing.B) { benchToggle(b, db, false) })
	}
}

// BenchmarkToggleWithKey is BenchmarkToggle with a fresh Idempotency-Key on
// every request: the key is claimed, the toggle runs, and its answer is
// stored. Compare with BenchmarkToggle for the cost of idempotency.
func BenchmarkToggleWithKey(b *testing.B) {
	for _, db := range benchDatabases {
		b.Run(db, func(b *testing.B) { benchToggle(b, db, true) })
	}
}

func benchToggle(b *testing.B, db string, keyed bool) {
	srv := newBenchServer(b, db)
	body := `{}` // flips, so every toggle writes
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req, _ := http.NewRequest(http.MethodPatch, "http://stub/v3/webhooks/"+orderID+"/toggle-status", strings.NewReader(body))
		req.Header.Set("x-api-key", storetest.AcmeOrgKey)
		req.Header.Set("Content-Type", "application/json")
		if keyed {
			req.Header.Set("Idempotency-Key", "bench-"+strconv.Itoa(i))
		}
		clear(w.h)
		srv.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// bareEcho is the baseline of BenchmarkLoopback: an Echo handler that only
// parses the same body and writes a fixed envelope.
func bareEcho() http.Handler {
	e := echo.New()
	fixed := []byte(`{"success":true,"data":{"id":"d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8","display_name":"Order Notifications","endpoint_url":"https://example.com/webhooks/orders","signing_secret":null,"is_active":false,"event_types":["messages","templates"],"event_filters":null,"retry_count":3,"timeout_seconds":30,"last_delivery_attempt_at":null,"last_successful_delivery_at":null,"consecutive_failures":0,"created_at":"2026-01-15T10:30:00+00:00","updated_at":"2026-02-01T09:00:00+00:00"},"error":null,"meta":{"request_id":"req_7X9zKp2jDw","timestamp":"2026-03-11T21:50:49.6870902+00:00","version":"v3"}}`)
	e.PATCH("/v3/webhooks/:id/toggle-status", func(c echo.Context) error {
		var body struct {
			IsActive *bool `json:"is_active"`
			Sandbox  *bool `json:"sandbox"`
		}
		if err := json.NewDecoder(c.Request().Body).Decode(&body); err != nil {
			return err
		}
		return c.JSONBlob(http.StatusOK, fixed)
	})
	return e
}

// loopbackTarget is a server on a loopback port and a client for it.
type loopbackTarget struct {
	name   string
	url    string
	client *http.Client
	keyed  bool // every request carries a fresh Idempotency-Key
	keys   atomic.Int64
}

func startLoopback(b *testing.B, name string, h http.Handler) *loopbackTarget {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	b.Cleanup(func() { hs.Shutdown(context.Background()) })
	return &loopbackTarget{
		name:   name,
		url:    "http://" + ln.Addr().String() + "/v3/webhooks/" + orderID + "/toggle-status",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}},
	}
}

// toggle sends one toggle and reads its answer, which must be a 200.
func (lt *loopbackTarget) toggle() error {
	req, _ := http.NewRequest(http.MethodPatch, lt.url, strings.NewReader(`{}`))
	req.Header.Set("x-api-key", storetest.AcmeOrgKey)
	req.Header.Set("Content-Type", "application/json")
	if lt.keyed {
		req.Header.Set("Idempotency-Key", "loopback-"+strconv.FormatInt(lt.keys.Add(1), 10))
	}
	res, err := lt.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", lt.name, res.StatusCode)
	}
	return nil
}

// BenchmarkRoundTrip is one toggle at a time over loopback HTTP, as a
// client waiting for each answer sees it, without and with a fresh
// Idempotency-Key.
func BenchmarkRoundTrip(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "keyless"
		if keyed {
			name = "keyed"
		}
		b.Run(name, func(b *testing.B) {
			lt := startLoopback(b, name, newBenchServer(b, "file"))
			lt.keyed = keyed
			for b.Loop() {
				if err := lt.toggle(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopbackConcurrency is how many requests are in flight at once.
const loopbackConcurrency = 16

// load sends toggles from loopbackConcurrency goroutines for d and returns
// the requests per second answered 200.
func (lt *loopbackTarget) load(b *testing.B, d time.Duration) float64 {
	var (
		wg   sync.WaitGroup
		done atomic.Int64
	)
	stop := time.Now().Add(d)
	start := time.Now()
	for range loopbackConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := lt.toggle(); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// BenchmarkLoopback compares throughput over loopback HTTP/1.1 with
// keep-alive: the same client, the same 16 concurrent requests, the same
// body, against a bare Echo handler (parses the body, writes a fixed
// envelope), against sentstub (a real toggle, written to SQLite), and
// against sentstub with a fresh Idempotency-Key on every request. They take
// turns in rounds of one second, so that all see the same machine, and the
// benchmark reports each one's median req/s and the medians of the
// per-round ratios: sentstub to bare, and keyed to unkeyed sentstub. Run it
// with -benchtime 1x: one iteration is all rounds.
func BenchmarkLoopback(b *testing.B) {
	const rounds, round = 7, time.Second
	bare := startLoopback(b, "bare-echo", bareEcho())
	stub := startLoopback(b, "sentstub", newBenchServer(b, "file"))
	keyed := startLoopback(b, "sentstub-keyed", newBenchServer(b, "file"))
	keyed.keyed = true
	for _, t := range []*loopbackTarget{bare, stub, keyed} {
		t.load(b, 200*time.Millisecond) // warm up: connections, caches
	}
	var bareRates, stubRates, keyedRates, ratios, keyedRatios []float64
	for b.Loop() {
		for range rounds {
			br, sr, kr := bare.load(b, round), stub.load(b, round), keyed.load(b, round)
			bareRates, stubRates, keyedRates = append(bareRates, br), append(stubRates, sr), append(keyedRates, kr)
			ratios, keyedRatios = append(ratios, sr/br), append(keyedRatios, kr/sr)
		}
	}
	b.ReportMetric(median(bareRates), "bare-req/s")
	b.ReportMetric(median(stubRates), "sentstub-req/s")
	b.ReportMetric(median(keyedRates), "keyed-req/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(keyedRatios), "keyed-ratio")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
