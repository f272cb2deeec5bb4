package sentstub

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ValidationFailed is the message of every EINVALID answer that lists its
// problems in Details.
const ValidationFailed = "Request validation failed"

// Limits of the settings a create or update carries.
const (
	MaxDisplayNameLength = 255
	MaxEndpointURLLength = 2048
)

// WebhookSettings are the settings a create or an update carries. A nil
// field is one the request did not carry: create takes its default, update
// leaves it as it is. EventFilters is tri-state, as on the wire: not carried
// (SetEventFilters false), null (SetEventFilters true, EventFilters nil), or
// an object.
type WebhookSettings struct {
	DisplayName     *string
	EndpointURL     *string
	EventTypes      *[]string
	EventFilters    map[string][]string
	SetEventFilters bool
	RetryCount      *int
	TimeoutSeconds  *int
}

// NewWebhook returns a new active webhook of owner with the settings s,
// defaults filled in, created at now, with a fresh id and signing secret.
// It returns EINVALID, with every problem keyed by field, when a setting is
// invalid or display_name or endpoint_url is missing.
func NewWebhook(owner uuid.UUID, s WebhookSettings, now time.Time) (*Webhook, error) {
	created := Timestamp(now)
	w := &Webhook{
		ID:             uuid.New(),
		OwnerID:        owner,
		IsActive:       true,
		EventTypes:     []string{"message"},
		RetryCount:     DefaultRetryCount,
		TimeoutSeconds: DefaultTimeoutSeconds,
		CreatedAt:      created,
		UpdatedAt:      &created,
		SigningSecret:  NewSigningSecret(),
	}
	problems := map[string][]string{}
	if s.DisplayName == nil {
		problems["display_name"] = []string{"is required"}
	}
	if s.EndpointURL == nil {
		problems["endpoint_url"] = []string{"is required"}
	}
	s.check(w, problems)
	if len(problems) > 0 {
		return nil, &Error{Code: EINVALID, Message: ValidationFailed, Details: problems}
	}
	s.apply(w)
	return w, nil
}

// Apply applies an update's settings to w at time now and reports whether
// anything changed; updated_at moves (by Touch) only on a change. It returns EINVALID,
// changing nothing, when a carried setting is invalid. When the event types
// change and the update carries no filters, the filters of families no
// longer subscribed are dropped (and no filters at all is null).
func (w *Webhook) Apply(s WebhookSettings, now time.Time) (changed bool, err error) {
	problems := map[string][]string{}
	s.check(w, problems)
	if len(problems) > 0 {
		return false, &Error{Code: EINVALID, Message: ValidationFailed, Details: problems}
	}
	before := w.Clone()
	s.apply(w)
	if !s.SetEventFilters && w.EventFilters != nil {
		for family := range w.EventFilters {
			if !subscribes(w.EventTypes, family) {
				delete(w.EventFilters, family)
			}
		}
		if len(w.EventFilters) == 0 {
			w.EventFilters = nil
		}
	}
	if sameSettings(before, w) {
		*w = *before
		return false, nil
	}
	w.Touch(now)
	return true, nil
}

// RotateSecret gives w a fresh signing secret at time now and returns it;
// the old one signs nothing more.
func (w *Webhook) RotateSecret(now time.Time) string {
	w.SigningSecret = NewSigningSecret()
	w.Touch(now)
	return w.SigningSecret
}

// Validate returns EINVALID, with every problem keyed by field, when a
// carried setting is invalid whatever webhook it applies to; Apply checks
// the rest (filters of families the webhook subscribes to).
func (s WebhookSettings) Validate() error {
	problems := map[string][]string{}
	s.check(nil, problems)
	if len(problems) > 0 {
		return &Error{Code: EINVALID, Message: ValidationFailed, Details: problems}
	}
	return nil
}

func (s WebhookSettings) apply(w *Webhook) {
	if s.DisplayName != nil {
		w.DisplayName = *s.DisplayName
	}
	if s.EndpointURL != nil {
		w.EndpointURL = *s.EndpointURL
	}
	if s.EventTypes != nil {
		w.EventTypes = slices.Clone(*s.EventTypes)
	}
	if s.SetEventFilters {
		w.EventFilters = nil
		if s.EventFilters != nil {
			w.EventFilters = make(map[string][]string, len(s.EventFilters))
			for k, v := range s.EventFilters {
				w.EventFilters[k] = slices.Clone(v)
			}
		}
	}
	if s.RetryCount != nil {
		w.RetryCount = *s.RetryCount
	}
	if s.TimeoutSeconds != nil {
		w.TimeoutSeconds = *s.TimeoutSeconds
	}
}

// check adds to problems what is wrong with the carried settings, as they
// would apply to w; with a nil w, only what is wrong whatever the webhook.
func (s WebhookSettings) check(w *Webhook, problems map[string][]string) {
	add := func(field, problem string) { problems[field] = append(problems[field], problem) }
	if s.DisplayName != nil {
		if n := utf8.RuneCountInString(strings.TrimSpace(*s.DisplayName)); n == 0 || n > MaxDisplayNameLength {
			add("display_name", fmt.Sprintf("must be 1 to %d characters, not counting leading and trailing spaces", MaxDisplayNameLength))
		}
		if strings.ContainsRune(*s.DisplayName, 0) {
			add("display_name", "must not contain a NUL character")
		}
	}
	if s.EndpointURL != nil {
		if problem := checkEndpointURL(*s.EndpointURL); problem != "" {
			add("endpoint_url", problem)
		}
	}
	var types []string // nil: unknown
	if w != nil {
		types = w.EventTypes
	}
	if s.EventTypes != nil {
		types = *s.EventTypes
		for _, problem := range checkEventTypes(types) {
			add("event_types", problem)
		}
	}
	if s.SetEventFilters && s.EventFilters != nil {
		for _, problem := range checkEventFilters(s.EventFilters, types) {
			add("event_filters", problem)
		}
	}
	if s.RetryCount != nil && (*s.RetryCount < MinRetryCount || *s.RetryCount > MaxRetryCount) {
		add("retry_count", fmt.Sprintf("must be between %d and %d", MinRetryCount, MaxRetryCount))
	}
	if s.TimeoutSeconds != nil && (*s.TimeoutSeconds < MinTimeoutSeconds || *s.TimeoutSeconds > MaxTimeoutSeconds) {
		add("timeout_seconds", fmt.Sprintf("must be between %d and %d", MinTimeoutSeconds, MaxTimeoutSeconds))
	}
}

func checkEndpointURL(raw string) string {
	if len(raw) > MaxEndpointURLLength {
		return fmt.Sprintf("must be at most %d characters", MaxEndpointURLLength)
	}
	if strings.ContainsRune(raw, 0) {
		return "must not contain a NUL character"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "must be an absolute http or https URL with a host"
	}
	return ""
}

func checkEventTypes(types []string) []string {
	if len(types) == 0 {
		return []string{"must name at least one event type"}
	}
	var problems []string
	seen := map[string]bool{}
	for _, t := range types {
		family, ok := CanonicalFamily(t)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%q is not an event type (see GET /v3/webhooks/event-types)", t))
		case seen[family]:
			problems = append(problems, fmt.Sprintf("%q is listed more than once", t))
		}
		seen[family] = true
	}
	return problems
}

func checkEventFilters(filters map[string][]string, types []string) []string {
	var problems []string
	for _, family := range slices.Sorted(maps.Keys(filters)) {
		subs := filters[family]
		if _, known := CanonicalFamily(family); !known {
			problems = append(problems, fmt.Sprintf("%q is not an event type", family))
			continue
		}
		if types != nil && !subscribes(types, family) {
			problems = append(problems, fmt.Sprintf("%q is not one of the subscribed event types", family))
			continue
		}
		if len(subs) == 0 {
			problems = append(problems, fmt.Sprintf("%q must list at least one sub-type", family))
		}
		for _, sub := range subs {
			if !HasSubType(family, sub) {
				problems = append(problems, fmt.Sprintf("%q is not a sub-type of %q", sub, family))
			}
		}
	}
	return problems
}

// subscribes reports whether the event types name family (by any of its
// names).
func subscribes(types []string, family string) bool {
	want, ok := CanonicalFamily(family)
	if !ok {
		return false
	}
	for _, t := range types {
		if got, _ := CanonicalFamily(t); got == want {
			return true
		}
	}
	return false
}

// Subscribes reports whether w receives events of the full type t (such as
// "message.delivered"): its event types include t's family and its filters,
// when it has any for that family, list t's sub-type.
func (w *Webhook) Subscribes(t string) bool {
	family, sub, ok := ParseEventType(t)
	if !ok || !subscribes(w.EventTypes, family) {
		return false
	}
	if w.EventFilters == nil {
		return true
	}
	for key, subs := range w.EventFilters {
		if canonical, _ := CanonicalFamily(key); canonical == family {
			return slices.Contains(subs, sub)
		}
	}
	return true
}

// sameSettings reports whether a and b have the same settings (what an
// update can change).
func sameSettings(a, b *Webhook) bool {
	return a.DisplayName == b.DisplayName && a.EndpointURL == b.EndpointURL &&
		a.RetryCount == b.RetryCount && a.TimeoutSeconds == b.TimeoutSeconds &&
		slices.Equal(a.EventTypes, b.EventTypes) &&
		(a.EventFilters == nil) == (b.EventFilters == nil) &&
		maps.EqualFunc(a.EventFilters, b.EventFilters, slices.Equal[[]string])
}
