package sentstub

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Webhook is a customer's webhook endpoint.
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

	// SigningSecret signs every delivery: "whsec_" and the standard base64
	// of the key. Stores keep it so that deliveries can be signed; the API
	// shows it only in the answers of create and rotate-secret, and nothing
	// logs it.
	SigningSecret string
}

// signingSecretPrefix starts every signing secret (the Standard Webhooks
// format, which their libraries accept).
const signingSecretPrefix = "whsec_"

// ValidSigningSecret reports whether s is a signing secret deliveries can be
// signed with: "whsec_" and the standard base64 of 24 to 64 bytes.
func ValidSigningSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, signingSecretPrefix)
	if !ok {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	return err == nil && len(key) >= 24 && len(key) <= 64
}

// NewSigningSecret returns a fresh secret: "whsec_" and the standard base64
// of 32 random bytes.
func NewSigningSecret() string {
	var key [32]byte
	rand.Read(key[:]) // never fails (crypto/rand)
	return signingSecretPrefix + base64.StdEncoding.EncodeToString(key[:])
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

// Clone returns a copy of w whose slices and maps are its own. The
// timestamps' pointers are shared: nothing writes through them, a change
// of time sets a new pointer.
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
