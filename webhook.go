package sentstub

import (
	"time"

	"github.com/google/uuid"
)

// Webhook is a customer's webhook endpoint. Its signing secret is not part
// of it: no operation implemented so far reveals one.
type Webhook struct {
	ID      uuid.UUID
	OwnerID uuid.UUID // the organization or profile that owns it

	DisplayName    string
	EndpointURL    string
	IsActive       bool
	EventTypes     []string
	EventFilters   map[string][]string // nil: none (null on the wire)
	RetryCount     int                 // 1..5
	TimeoutSeconds int                 // 5..120

	ConsecutiveFailures      int
	LastDeliveryAttemptAt    *time.Time
	LastSuccessfulDeliveryAt *time.Time
	CreatedAt                time.Time
	UpdatedAt                *time.Time
}

// Limits of a webhook's settings, and their defaults (sent.dm's operations
// reference).
const (
	MinRetryCount         = 1
	MaxRetryCount         = 5
	DefaultRetryCount     = 3
	MinTimeoutSeconds     = 5
	MaxTimeoutSeconds     = 120
	DefaultTimeoutSeconds = 30
)

// Timestamp truncates t to the precision every store keeps (microseconds,
// PostgreSQL's) and converts it to UTC, so that a value reads back exactly as
// it was written whichever store holds it.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// SetActive applies a toggle-status request to w at time now and reports
// whether anything changed. A nil want flips the current state; otherwise
// want is the state to set. Setting the state w already has changes nothing,
// updated_at included. Activating (inactive to active) clears
// consecutive_failures, the documented way back from auto-disable.
func (w *Webhook) SetActive(want *bool, now time.Time) (changed bool) {
	target := !w.IsActive
	if want != nil {
		target = *want
	}
	if target == w.IsActive {
		return false
	}
	w.IsActive = target
	if target {
		w.ConsecutiveFailures = 0
	}
	updated := Timestamp(now)
	w.UpdatedAt = &updated
	return true
}

// Clone returns a deep copy of w.
func (w *Webhook) Clone() *Webhook {
	c := *w
	c.EventTypes = append([]string(nil), w.EventTypes...)
	if w.EventFilters != nil {
		c.EventFilters = make(map[string][]string, len(w.EventFilters))
		for k, v := range w.EventFilters {
			c.EventFilters[k] = append([]string(nil), v...)
		}
	}
	return &c
}
