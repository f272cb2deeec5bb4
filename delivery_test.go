package sentstub_test

import (
	"testing"
	"time"

	"github.com/sentstub/sentstub"
)

// The retry schedule: base * 2^(n-1), capped at 60 * base.
func TestRetryPolicyDelay(t *testing.T) {
	p := sentstub.RetryPolicy{Base: time.Minute}
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 6: 32 * time.Minute,
		7: time.Hour, 8: time.Hour, 40: time.Hour} {
		if got := p.Delay(n); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
	if got := (sentstub.RetryPolicy{Base: 50 * time.Millisecond}).Delay(10); got != 3*time.Second {
		t.Errorf("a 50ms base caps at %v, want 3s", got)
	}
}

func TestRecordAttempt(t *testing.T) {
	t0 := time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)
	p := sentstub.RetryPolicy{Base: time.Minute}
	w := &sentstub.Webhook{IsActive: true, RetryCount: 2, ConsecutiveFailures: 8}
	d := &sentstub.Delivery{Status: sentstub.DeliveryPending}
	status := 500
	fail := sentstub.Outcome{StatusCode: &status, Message: "The receiver answered 500", Started: t0, Completed: t0.Add(time.Second)}

	if sentstub.RecordAttempt(d, w, fail, p) {
		t.Fatal("disabled at 9 failures")
	}
	if d.Attempts != 1 || d.Status != sentstub.DeliveryPending || !d.NextAttemptAt.Equal(t0.Add(time.Minute+time.Second)) ||
		w.ConsecutiveFailures != 9 || !w.LastDeliveryAttemptAt.Equal(t0) || d.ErrorMessage == nil {
		t.Errorf("after a failure: %+v, webhook %+v", d, w)
	}
	// The tenth failure disables the webhook and ends the delivery, whose
	// retries remain.
	if !sentstub.RecordAttempt(d, w, fail, p) {
		t.Fatal("not disabled at 10 failures")
	}
	if w.IsActive || d.Status != sentstub.DeliveryFailed || d.NextAttemptAt != nil || w.UpdatedAt == nil {
		t.Errorf("after the tenth failure: %+v, webhook %+v", d, w)
	}

	// A success resets the count; the last retry's failure ends it.
	w = &sentstub.Webhook{IsActive: true, RetryCount: 1, ConsecutiveFailures: 3}
	d = &sentstub.Delivery{Status: sentstub.DeliveryPending}
	sentstub.RecordAttempt(d, w, fail, p)
	sentstub.RecordAttempt(d, w, fail, p)
	if d.Status != sentstub.DeliveryFailed || d.Attempts != 2 || w.ConsecutiveFailures != 5 {
		t.Errorf("after retry_count+1 failures: %+v, webhook %+v", d, w)
	}
	ok := 200
	d = &sentstub.Delivery{Status: sentstub.DeliveryPending}
	if sentstub.RecordAttempt(d, w, sentstub.Outcome{Delivered: true, StatusCode: &ok, Started: t0, Completed: t0}, p) ||
		d.Status != sentstub.DeliveryDelivered || w.ConsecutiveFailures != 0 || !w.LastSuccessfulDeliveryAt.Equal(t0) || d.ErrorMessage != nil {
		t.Errorf("after a success: %+v, webhook %+v", d, w)
	}
}
