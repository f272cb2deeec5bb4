package sentstub

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"   // not attempted yet, or failed with a retry to come
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // no attempt succeeded, and none is to come
)

// Delivery is one event delivered to one webhook: a row of the webhook's
// delivery log. Its attempts share the event id; the fields about the
// answer are those of the latest attempt.
type Delivery struct {
	ID        uuid.UUID
	WebhookID uuid.UUID
	EventID   uuid.UUID // the body's id and x-webhook-event-id
	EventType string    // the full type, "message.delivered"; "<family>.test" for a test
	EventData []byte    // the JSON body delivered
	Status    DeliveryStatus
	Attempts  int

	HTTPStatusCode        *int    // the receiver's status, if it answered
	ResponseBody          *string // the receiver's answer, truncated
	ErrorMessage          *string // what went wrong, in plain words
	ProcessingStartedAt   *time.Time
	ProcessingCompletedAt *time.Time
	CreatedAt             time.Time

	// NextAttemptAt is when the next attempt is due while Status is
	// pending; nil once the delivery is over.
	NextAttemptAt *time.Time
}

// AutoDisableAfter is how many consecutive failed deliveries turn a webhook
// inactive (sent.dm's operations reference).
const AutoDisableAfter = 10

// RetryPolicy is the schedule of a failed delivery's retries: the nth retry
// waits Base * 2^(n-1), at most 60 * Base (sent.dm: from a minute, doubling,
// capped at an hour).
type RetryPolicy struct {
	Base time.Duration
}

// DefaultRetryBase is sent.dm's first wait.
const DefaultRetryBase = time.Minute

// Delay is the wait before retry n (from 1).
func (p RetryPolicy) Delay(n int) time.Duration {
	limit := 60 * p.Base
	d := p.Base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Outcome is what one delivery attempt found.
type Outcome struct {
	Delivered    bool
	StatusCode   *int
	ResponseBody *string
	Message      string // what went wrong, when not delivered
	Started      time.Time
	Completed    time.Time
}

// RecordAttempt applies the outcome o of an attempt of d, a delivery to w,
// to both, by sent.dm's rules: a success resets w's consecutive failures and
// sets its last successful delivery; a failure counts one more and is
// retried after p's delay while retries remain (w.RetryCount of them, after
// the first attempt), else d has failed; every attempt sets w's last
// delivery attempt. At AutoDisableAfter consecutive failures w turns
// inactive; disabled reports that, and the caller drops w's other pending
// deliveries.
func RecordAttempt(d *Delivery, w *Webhook, o Outcome, p RetryPolicy) (disabled bool) {
	d.Record(o)
	started, completed := Timestamp(o.Started), Timestamp(o.Completed)
	w.LastDeliveryAttemptAt = &started
	if o.Delivered {
		w.ConsecutiveFailures = 0
		w.LastSuccessfulDeliveryAt = &completed
		return false
	}
	w.ConsecutiveFailures++
	if d.Attempts <= w.RetryCount {
		next := Timestamp(o.Completed.Add(p.Delay(d.Attempts)))
		d.Status, d.NextAttemptAt = DeliveryPending, &next
	}
	if w.IsActive && w.ConsecutiveFailures >= AutoDisableAfter {
		w.IsActive = false
		w.Touch(o.Completed)
		d.Drop(fmt.Sprintf("%s; the webhook was disabled after %d consecutive failures", o.Message, AutoDisableAfter))
		return true
	}
	return false
}

// Record applies the outcome o of one more attempt to d alone: its count,
// the answer, the error and the processing times, and its status as if no
// retry were to come (delivered or failed). A test delivery is recorded so;
// RecordAttempt also schedules retries and keeps the webhook's counters.
func (d *Delivery) Record(o Outcome) {
	started, completed := Timestamp(o.Started), Timestamp(o.Completed)
	d.Attempts++
	d.HTTPStatusCode, d.ResponseBody, d.ErrorMessage = o.StatusCode, o.ResponseBody, nil
	if d.ProcessingStartedAt == nil {
		d.ProcessingStartedAt = &started
	}
	d.ProcessingCompletedAt = &completed
	d.NextAttemptAt = nil
	if o.Delivered {
		d.Status = DeliveryDelivered
		return
	}
	msg := o.Message
	d.Status, d.ErrorMessage = DeliveryFailed, &msg
}

// Drop ends a delivery that is still pending without another attempt, for
// reason (its webhook was disabled or deleted).
func (d *Delivery) Drop(reason string) {
	if d.Status != DeliveryPending {
		return
	}
	d.Status, d.NextAttemptAt = DeliveryFailed, nil
	d.ErrorMessage = &reason
}
