package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// BenchmarkDeliveries is signed deliveries per second end to end: events
// emitted over HTTP to the binary's server (Start), each fanned out to 10
// webhooks of one account, delivered by the dispatcher to one local
// receiver answering 200, timed until the receiver has them all.
func BenchmarkDeliveries(b *testing.B) {
	b.Run("SQLite", func(b *testing.B) { benchDeliveries(b, ":memory:") })
	b.Run("PostgreSQL", func(b *testing.B) { benchDeliveries(b, storetest.MustStartPostgres(b)) })
}

func benchDeliveries(b *testing.B, db string) {
	const fanOut = 10
	var got atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-webhook-signature") != "" {
			got.Add(1)
		}
	}))
	defer rc.Close()
	opts := server.DefaultOptions()
	opts.Addr, opts.DB = "127.0.0.1:0", db
	opts.DeliveryWorkers, opts.DeliveryPerEndpoint = 32, 32
	m, err := server.Start(context.Background(), opts, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func(path, body string) {
		req, _ := http.NewRequest(http.MethodPost, m.URL()+path, strings.NewReader(body))
		req.Header.Set("x-api-key", storetest.AcmeOrgKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			b.Fatalf("POST %s: %d", path, res.StatusCode)
		}
	}
	for i := range fanOut {
		post("/v3/webhooks", fmt.Sprintf(`{"display_name": "bench %d", "endpoint_url": %q}`, i, rc.URL))
	}
	// The fixture's Order Notifications webhook subscribes too, to an
	// endpoint that does not resolve here: deactivate it.
	req, _ := http.NewRequest(http.MethodPatch, m.URL()+"/v3/webhooks/"+orderID+"/toggle-status", strings.NewReader(`{"is_active": false}`))
	req.Header.Set("x-api-key", storetest.AcmeOrgKey)
	req.Header.Set("Content-Type", "application/json")
	if res, err := hc.Do(req); err != nil || res.StatusCode != 200 {
		b.Fatalf("deactivate the fixture's webhook: %v", err)
	} else {
		res.Body.Close()
	}

	b.ResetTimer()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				post("/_sentstub/v1/events", `{"type": "message.delivered", "data": {"message_id": "m"}}`)
			}
		})
	}
	wg.Wait()
	want := int64(fanOut * b.N)
	for deadline := time.Now().Add(5 * time.Minute); got.Load() < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d deliveries arrived", got.Load(), want)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
}
