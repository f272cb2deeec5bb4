package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/store/storetest"
)

// eventReceiver records the deliveries it gets by event id, and answers
// 500 to the first attempt of the events fail picks.
type eventReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	byID   map[string][]http.Header
	bodies map[string]string
	fail   func(n int) bool
}

func newEventReceiver(t *testing.T, fail func(n int) bool) *eventReceiver {
	rc := &eventReceiver{byID: map[string][]http.Header{}, bodies: map[string]string{}, fail: fail}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			ID   string `json:"id"`
			Data struct {
				N int `json:"n"`
			} `json:"data"`
		}
		json.Unmarshal(body, &ev)
		rc.mu.Lock()
		first := len(rc.byID[ev.ID]) == 0
		rc.byID[ev.ID] = append(rc.byID[ev.ID], r.Header.Clone())
		rc.bodies[ev.ID] = string(body)
		failing := rc.fail != nil && first && rc.fail(ev.Data.N)
		rc.mu.Unlock()
		if failing {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *eventReceiver) attempts() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for id, hs := range rc.byID {
		out[id] = len(hs)
	}
	return out
}

// waitTotal waits until the receiver got total requests in all.
func (rc *eventReceiver) waitTotal(t *testing.T, total int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := 0
		for _, c := range rc.attempts() {
			n += c
		}
		if n >= total {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver got %d requests within %v, want %d", n, within, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// acmePost sends a POST with the demo's Acme key and decodes data.
func acmePost(t *testing.T, c *http.Client, url, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("x-api-key", storetest.AcmeOrgKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	var env struct {
		Data map[string]any `json:"data"`
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 || json.Unmarshal(b, &env) != nil {
		t.Fatalf("POST %s: %d %s", url, res.StatusCode, b)
	}
	return env.Data
}

// A retry pending when the process is killed (kill -9) is made after a
// restart on the same database, with the same event id.
func TestPendingRetrySurvivesKill(t *testing.T) {
	bin := sharedSentstub(t)
	db := filepath.Join(t.TempDir(), "deliveries.db")
	rc := newEventReceiver(t, func(int) bool { return true }) // the first attempt fails
	a := startReady(t, bin, "A", db, "--delivery-retry-base", "1500ms")
	c := contract.Client(t)
	hook := acmePost(t, c, a.url+"/v3/webhooks", fmt.Sprintf(`{"display_name": "kill -9", "endpoint_url": %q}`, rc.URL))
	event := acmePost(t, c, a.url+"/_sentstub/v1/events", `{"type": "message.sent", "data": {"n": 1}}`)
	rc.waitTotal(t, 1, 5*time.Second)
	waitAttempts(t, c, a.url, hook["id"].(string), 1)
	a.cmd.Process.Kill() // before the retry, due 1.5 s after the first attempt
	<-a.exited

	startReady(t, bin, "B", db, "--delivery-retry-base", "1500ms")
	rc.waitTotal(t, 2, 10*time.Second)
	got := rc.attempts()
	if len(got) != 1 || got[event["id"].(string)] != 2 {
		t.Fatalf("attempts by event id: %v, want 2 of %s", got, event["id"])
	}
	hs := rc.byID[event["id"].(string)]
	if hs[1].Get("x-webhook-id") != hook["id"] || hs[1].Get("x-webhook-event-id") != event["id"] {
		t.Errorf("the retry's headers: %v", hs[1])
	}
}

// An attempt in flight when its process is killed is made again, by the
// next process, once its lease has run out.
func TestInFlightAttemptRetriedAfterLease(t *testing.T) {
	bin := sharedSentstub(t)
	db := filepath.Join(t.TempDir(), "lease.db")
	release := make(chan struct{})
	var mu sync.Mutex
	var arrivals []string
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, r.Header.Get("x-webhook-event-id"))
		first := len(arrivals) == 1
		mu.Unlock()
		if first {
			<-release // the first attempt hangs until its process is gone
		}
	}))
	defer rc.Close()
	defer close(release)
	flags := []string{"--delivery-lease", "2s"}
	a := startReady(t, bin, "A", db, flags...)
	c := contract.Client(t)
	hook := acmePost(t, c, a.url+"/v3/webhooks", fmt.Sprintf(`{"display_name": "lease", "endpoint_url": %q, "timeout_seconds": 60}`, rc.URL))
	acmePost(t, c, a.url+"/_sentstub/v1/events", `{"type": "message.sent"}`)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(arrivals)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first attempt never arrived")
		}
	}
	a.cmd.Process.Kill()
	<-a.exited
	b := startReady(t, bin, "B", db, flags...)
	waitAttempts(t, c, b.url, hook["id"].(string), 1)
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 2 || arrivals[0] != arrivals[1] {
		t.Errorf("arrivals %v, want the same event twice", arrivals)
	}
}

// waitAttempts waits until the webhook's newest log entry has n attempts
// recorded.
func waitAttempts(t *testing.T, c *http.Client, base, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v3/webhooks/"+id+"/events?page=1&page_size=1", nil)
		req.Header.Set("x-api-key", storetest.AcmeOrgKey)
		res, err := c.Do(req)
		if err == nil {
			var env struct {
				Data struct {
					Events []struct {
						DeliveryAttempts int `json:"delivery_attempts"`
					} `json:"events"`
				} `json:"data"`
			}
			json.NewDecoder(res.Body).Decode(&env)
			res.Body.Close()
			if len(env.Data.Events) == 1 && env.Data.Events[0].DeliveryAttempts == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log of %s never showed %d attempts", id, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two replicas on one PostgreSQL database make every attempt exactly once:
// each event is delivered once, or twice when its first attempt failed.
func TestDeliveriesOnTwoReplicas(t *testing.T) {
	dbURL := storetest.MustStartPostgres(t)
	bin := sharedSentstub(t)
	flags := []string{"--delivery-retry-base", "100ms", "--delivery-workers", "8"}
	a, b := startPair(t, bin, dbURL, flags...)
	failFirst := func(n int) bool { return n%3 == 0 }
	rc := newEventReceiver(t, failFirst)
	c := contract.Client(t)
	acmePost(t, c, a.url+"/v3/webhooks", fmt.Sprintf(`{"display_name": "replicas", "endpoint_url": %q, "retry_count": 2}`, rc.URL))
	const events = 120
	want := map[string]int{}
	total := 0
	for n := range events {
		r := a
		if n%2 == 1 {
			r = b
		}
		ev := acmePost(t, c, r.url+"/_sentstub/v1/events", fmt.Sprintf(`{"type": "message.delivered", "data": {"n": %d}}`, n))
		want[ev["id"].(string)] = 1
		if failFirst(n) {
			want[ev["id"].(string)] = 2
		}
		total += want[ev["id"].(string)]
	}
	rc.waitTotal(t, total, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // five retry bases: time for a duplicate to show
	got := rc.attempts()
	for id, n := range want {
		if got[id] != n {
			t.Errorf("event %s: %d attempts, want %d", id, got[id], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d events delivered, want %d", len(got), len(want))
	}
}
