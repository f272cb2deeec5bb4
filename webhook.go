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
// consecutive_failures, the documented way back from auto-disable. A change
// is stamped with Touch.
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
	w.Touch(now)
	return true
}

// Touch sets updated_at to now, at the precision stores keep, or to a
// microsecond after its current value if now is not later: updated_at
// only grows, whatever the clock does (steps back, is coarser than a
// microsecond, or is another replica's, a little behind), so that changes
// read in updated_at order are read in the order they were made.
func (w *Webhook) Touch(now time.Time) {
	updated := Timestamp(now)
	if w.UpdatedAt != nil && !updated.After(*w.UpdatedAt) {
		updated = w.UpdatedAt.Add(time.Microsecond)
	}
	w.UpdatedAt = &updated
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
