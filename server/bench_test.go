package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

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

func newBenchServer(b *testing.B) http.Handler {
	b.Helper()
	st := storetest.MustOpenSQLite(b) // a WAL file, as the binary uses
	storetest.MustProvisionDemo(b, st, time.Now())
	srv, err := server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// BenchmarkToggle is one toggle that writes, through the whole in-process
// pipeline: routing, request id, authentication, validation against the
// spec, profile scoping, the handler, and the SQLite transaction.
func BenchmarkToggle(b *testing.B) {
	srv := newBenchServer(b)
	body := `{}` // flips, so every toggle writes
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPatch, "http://stub/v3/webhooks/"+orderID+"/toggle-status", strings.NewReader(body))
		req.Header.Set("x-api-key", storetest.AcmeOrgKey)
		req.Header.Set("Content-Type", "application/json")
		clear(w.h)
		srv.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkToggleWithKey is BenchmarkToggle with a fresh Idempotency-Key on
// every request: the key is claimed, the toggle runs, and its answer is
// stored. Compare with BenchmarkToggle for the cost of idempotency.
func BenchmarkToggleWithKey(b *testing.B) {
	srv := newBenchServer(b)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req, _ := http.NewRequest(http.MethodPatch, "http://stub/v3/webhooks/"+orderID+"/toggle-status", strings.NewReader(`{}`))
		req.Header.Set("x-api-key", storetest.AcmeOrgKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "bench-"+strconv.Itoa(i))
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

// BenchmarkLoopback measures throughput over loopback HTTP/1.1 with
// keep-alive: the same client, concurrency and request against a bare Echo
// handler and against sentstub, one after the other in one run. Compare
// their req/s.
func BenchmarkLoopback(b *testing.B) {
	for _, target := range []struct {
		name    string
		handler func(*testing.B) http.Handler
	}{
		{"bare-echo", func(*testing.B) http.Handler { return bareEcho() }},
		{"sentstub", newBenchServer},
	} {
		b.Run(target.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			hs := &http.Server{Handler: target.handler(b)}
			go hs.Serve(ln)
			defer hs.Shutdown(context.Background())
			defer b.StopTimer()
			url := "http://" + ln.Addr().String() + "/v3/webhooks/" + orderID + "/toggle-status"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
			b.SetParallelism(8) // 8 x GOMAXPROCS concurrent requests
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(`{}`))
					req.Header.Set("x-api-key", storetest.AcmeOrgKey)
					req.Header.Set("Content-Type", "application/json")
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
