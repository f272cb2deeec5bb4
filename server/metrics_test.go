package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sentstub/sentstub/store/storetest"
)

// scrape fetches GET /metrics through the contract-checking client and
// parses it.
func (e *env) scrape(t *testing.T) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	res, err := e.Client.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d\n%s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("GET /metrics Content-Type = %q, want Prometheus's text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("GET /metrics is not Prometheus's text format: %v\n%s", err, body)
	}
	return families, string(body)
}

// series maps each series of a counter or histogram family to its count,
// keyed by its labels as "name=value,...".
func series(f *dto.MetricFamily) map[string]uint64 {
	got := map[string]uint64{}
	if f == nil {
		return got
	}
	for _, m := range f.Metric {
		var labels []string
		for _, l := range m.Label {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(labels)
		key := strings.Join(labels, ",")
		switch {
		case m.Counter != nil:
			got[key] = uint64(m.Counter.GetValue())
		case m.Histogram != nil:
			got[key] = m.Histogram.GetSampleCount()
		}
	}
	return got
}

func sameCounts(t *testing.T, name string, got, want map[string]uint64) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s{%s} = %d, want %d", name, k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s{%s} = %d, want no such series", name, k, g)
		}
	}
}

// GET /metrics counts exactly the requests sent, by route template, method
// and status, and times them; no label carries a key, an id or a path.
func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	const toggle = "/v3/webhooks/:id/toggle-status"
	const key = "metrics_key_1"
	e.toggle(t, storetest.OrderWebhookID, str(`{"is_active":false}`), "Idempotency-Key", key)
	if r := e.toggle(t, storetest.OrderWebhookID, str(`{"is_active":false}`), "Idempotency-Key", key); r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the second request with the key was not a replay")
	}
	e.toggle(t, storetest.OrderWebhookID, nil)
	e.toggle(t, storetest.GlobexWebhookID, nil)                               // 404: another organization's
	e.toggle(t, storetest.OrderWebhookID, nil, "x-api-key", "sk_test_nobody") // 401
	e.toggle(t, "not-a-uuid", nil)                                            // 400
	e.call(t, http.MethodGet, "/v3/templates/"+storetest.OrderWebhookID, nil, "x-api-key", storetest.AcmeOrgKey)
	e.call(t, http.MethodGet, "/v3/webhooks/"+storetest.OrderWebhookID+"/toggle-status", nil, "x-api-key", storetest.AcmeOrgKey) // 405
	e.call(t, http.MethodGet, "/healthz", nil)

	families, body := e.scrape(t)
	sameCounts(t, "sentstub_http_requests_total", series(families["sentstub_http_requests_total"]), map[string]uint64{
		"method=PATCH,route=" + toggle + ",status=200": 3,
		"method=PATCH,route=" + toggle + ",status=404": 1,
		"method=PATCH,route=" + toggle + ",status=401": 1,
		"method=PATCH,route=" + toggle + ",status=400": 1,
		"method=GET,route=unmatched,status=404":        1,
		"method=GET,route=" + toggle + ",status=405":   1,
		"method=GET,route=/healthz,status=200":         1,
	})
	sameCounts(t, "sentstub_http_request_duration_seconds", series(families["sentstub_http_request_duration_seconds"]), map[string]uint64{
		"method=PATCH,route=" + toggle: 6,
		"method=GET,route=unmatched":   1,
		"method=GET,route=" + toggle:   1,
		"method=GET,route=/healthz":    1,
	})
	sameCounts(t, "sentstub_idempotent_replays_total", series(families["sentstub_idempotent_replays_total"]), map[string]uint64{
		"route=" + toggle: 1,
	})
	calls := series(families["sentstub_store_call_duration_seconds"])
	for _, call := range []string{"FindAccountByKey", "UpdateWebhook", "ClaimIdempotencyKey", "IdempotentRequest.Complete"} {
		if calls["call="+call] == 0 {
			t.Errorf("sentstub_store_call_duration_seconds has no %s call: %v", call, calls)
		}
	}
	// It sets the request up; no store calls the database for it.
	if n := calls["call=BeginIdempotentRequest"]; n != 0 {
		t.Errorf("sentstub_store_call_duration_seconds times %d BeginIdempotentRequest calls, which call no database", n)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		if families[name] == nil {
			t.Errorf("GET /metrics has no %s", name)
		}
	}
	for _, secret := range []string{storetest.AcmeOrgKey, "sk_test_nobody", key, storetest.OrderWebhookID, "not-a-uuid", "/v3/templates", "req_"} {
		if strings.Contains(body, secret) {
			t.Errorf("GET /metrics shows %q", secret)
		}
	}

	// A scrape is counted once it has been answered.
	families, _ = e.scrape(t)
	if got := series(families["sentstub_http_requests_total"])["method=GET,route=/metrics,status=200"]; got != 1 {
		t.Errorf("after two scrapes, the count of GET /metrics = %d, want 1", got)
	}

	// Each server counts its own requests.
	other := newEnv(t, nil)
	families, _ = other.scrape(t)
	sameCounts(t, "another server's sentstub_http_requests_total", series(families["sentstub_http_requests_total"]), map[string]uint64{})
}

// A request whose client hangs up before it is answered is recorded as
// 499 (nginx's "client closed request") in the metrics and the access log,
// never as a 500 that nobody received, and logged at info as a client that
// went away. A keyed toggle cut short so is rolled back and frees its key:
// the key's next request runs.
func TestClientThatHangsUpIsRecordedAs499(t *testing.T) {
	e := newEnv(t, nil)
	const toggle = "/v3/webhooks/:id/toggle-status"
	const key = "hung_up_1"
	hangUp := func(method, path, body string, headers ...string) {
		t.Helper()
		// Hangs up once the request is sent and the server has had time to
		// read it, well before the delay ends.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { time.AfterFunc(200*time.Millisecond, cancel) },
		})
		req, err := http.NewRequestWithContext(ctx, method, e.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-api-key", storetest.AcmeOrgKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Sentstub-Delay", "5s")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			t.Fatalf("%s %s was answered %d before the client hung up", method, path, res.StatusCode)
		}
	}
	hangUp(http.MethodGet, "/v3/webhooks/"+storetest.OrderWebhookID, "")
	hangUp(http.MethodPatch, "/v3/webhooks/"+storetest.OrderWebhookID+"/toggle-status", `{"is_active":false}`, "Idempotency-Key", key)

	// The server sees the hang-up when its read of the connection fails,
	// and writes the access-log line once the request has ended.
	closed := regexp.MustCompile(`"msg":"request","request_id":"(req_[A-Za-z0-9]+)","method":"[A-Z]+","path":"[^"]+","status":499`)
	deadline := time.Now().Add(5 * time.Second)
	for len(closed.FindAllString(e.Logs.String(), -1)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not two access-log lines with status 499:\n%s", e.Logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	logs := e.Logs.String()
	for _, m := range closed.FindAllStringSubmatch(logs, -1) {
		if !strings.Contains(logs, `"level":"INFO","msg":"client went away","request_id":"`+m[1]+`"`) {
			t.Errorf("no client-went-away line at info for %s:\n%s", m[1], logs)
		}
	}
	if strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, `"status":500`) {
		t.Errorf("a client that hung up is logged as an error or a 500:\n%s", logs)
	}
	// The metrics count a request just after its access-log line.
	want := map[string]uint64{
		"method=GET,route=/v3/webhooks/:id,status=499": 1,
		"method=PATCH,route=" + toggle + ",status=499": 1,
	}
	for {
		families, _ := e.scrape(t)
		got := series(families["sentstub_http_requests_total"])
		delete(got, "method=GET,route=/metrics,status=200") // the earlier scrapes
		if len(got) == len(want) || time.Now().After(deadline) {
			sameCounts(t, "sentstub_http_requests_total", got, want)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	r := e.toggle(t, storetest.OrderWebhookID, str(`{"is_active":false}`), "Idempotency-Key", key)
	if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the key's request after a hang-up = %d, replayed %q, want 200 run afresh: %s", r.Status, r.Header.Get("Idempotent-Replayed"), r.Body)
	}
}
