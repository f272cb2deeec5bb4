package server_test

import (
	"encoding/json"
	"fmt"
	"testing"
)

// faultsReport is what testdata/sdk/faults.mjs prints.
type faultsReport struct {
	Steps map[string]struct {
		OK         bool   `json:"ok"`
		IsActive   *bool  `json:"is_active"`
		Class      string `json:"class"`
		IsInternal bool   `json:"is_internal"`
		Status     int    `json:"status"`
		Code       string `json:"code"`
		Attempts   []struct {
			At         int64   `json:"at"` // Unix milliseconds
			RetryCount string  `json:"retry_count"`
			Simulate   string  `json:"simulate"`
			Status     int     `json:"status"`
			RetryAfter *string `json:"retry_after"`
		} `json:"attempts"`
	} `json:"steps"`
}

// TestOfficialTypeScriptSDKFaults: the official SDK with its default two
// retries gets through a simulated 429 (waiting the Retry-After it asks
// for) and 500s once they stop, a call runs once however many attempts it
// took, and a call failed more often than it retries executes nothing.
func TestOfficialTypeScriptSDKFaults(t *testing.T) {
	stdout, _ := runSDKScript(t, "faults.mjs")
	var rep faultsReport
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("faults.mjs output: %v\n%s", err, stdout)
	}
	defer func() {
		if t.Failed() {
			t.Logf("faults.mjs output:\n%s", stdout)
		}
	}()
	for _, c := range []struct {
		name     string
		ok       bool
		active   bool
		statuses string
	}{
		{"rate_limited", true, false, "[429 200]"},
		{"internal_error", true, true, "[500 500 200]"},
		{"unavailable", true, true, "[503 200]"},
		{"gives_up", false, false, "[500 500 500]"},
		{"after", true, true, "[200]"},
	} {
		s, ok := rep.Steps[c.name]
		if !ok {
			t.Fatalf("faults.mjs reported no step %q", c.name)
		}
		var statuses []int
		for i, a := range s.Attempts {
			statuses = append(statuses, a.Status)
			if a.RetryCount != fmt.Sprint(i) {
				t.Errorf("%s: attempt %d sent x-stainless-retry-count %q", c.name, i+1, a.RetryCount)
			}
		}
		if got := fmt.Sprint(statuses); got != c.statuses {
			t.Errorf("%s: the SDK's attempts got %s, want %s", c.name, got, c.statuses)
		}
		switch {
		case c.ok && (!s.OK || s.IsActive == nil || *s.IsActive != c.active):
			t.Errorf("%s: ok %v, is_active %v; want it to resolve with is_active %v", c.name, s.OK, s.IsActive, c.active)
		case !c.ok && (s.OK || !s.IsInternal || s.Status != 500 || s.Code != "INTERNAL_001"):
			t.Errorf("%s: ok %v %s %d %s; want a thrown InternalServerError 500 INTERNAL_001", c.name, s.OK, s.Class, s.Status, s.Code)
		}
	}
	// The SDK honours Retry-After: 1 s, more than its own first backoff
	// (at most 0.5 s).
	rl := rep.Steps["rate_limited"].Attempts
	if len(rl) == 2 {
		if rl[0].RetryAfter == nil || *rl[0].RetryAfter != "1" {
			t.Errorf("rate_limited: Retry-After %v, want 1", rl[0].RetryAfter)
		}
		if wait := rl[1].At - rl[0].At; wait < 1000 {
			t.Errorf("rate_limited: the SDK retried after %d ms, before the Retry-After of 1 s", wait)
		}
	}
}
