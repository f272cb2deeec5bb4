// Package store implements sentstub.Store on SQLite (embedded, the default)
// and PostgreSQL (shared by several replicas). Both keep the same data with
// the same semantics; one conformance suite runs against each.
package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
)

// The encodings below are shared by both stores: list-valued webhook fields
// are kept as JSON text, timestamps as microseconds since the Unix epoch in
// SQLite and as timestamptz in PostgreSQL (both microsecond precision, which
// sentstub.Timestamp truncates to before anything is stored).

func encodeEventTypes(types []string) (string, error) {
	if types == nil {
		types = []string{}
	}
	b, err := json.Marshal(types)
	if err != nil {
		return "", fmt.Errorf("encode event types: %w", err)
	}
	return string(b), nil
}

func decodeEventTypes(s string) ([]string, error) {
	types := []string{}
	if err := json.Unmarshal([]byte(s), &types); err != nil {
		return nil, fmt.Errorf("decode event types: %w", err)
	}
	return types, nil
}

// encodeEventFilters returns nil (SQL NULL) for a webhook without filters.
func encodeEventFilters(filters map[string][]string) (*string, error) {
	if filters == nil {
		return nil, nil
	}
	b, err := json.Marshal(filters)
	if err != nil {
		return nil, fmt.Errorf("encode event filters: %w", err)
	}
	s := string(b)
	return &s, nil
}

func decodeEventFilters(s *string) (map[string][]string, error) {
	if s == nil {
		return nil, nil
	}
	filters := map[string][]string{}
	if err := json.Unmarshal([]byte(*s), &filters); err != nil {
		return nil, fmt.Errorf("decode event filters: %w", err)
	}
	return filters, nil
}

func microsToTime(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullableMicros(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

func nullableTime(us *int64) *time.Time {
	if us == nil {
		return nil
	}
	t := microsToTime(*us)
	return &t
}

func notFoundWebhook() error {
	return &sentstub.Error{Code: sentstub.ENOTFOUND, Message: "Webhook not found"}
}

func notFoundAccount() error {
	return &sentstub.Error{Code: sentstub.ENOTFOUND, Message: "Account not found"}
}

func notFoundDelivery() error {
	return &sentstub.Error{Code: sentstub.ENOTFOUND, Message: "Delivery not found"}
}

// leaseLost is FinishDelivery's answer when the delivery's lease is not the
// caller's any more: it ended and another claim took the delivery, or the
// delivery was dropped or finished meanwhile.
func leaseLost() error {
	return &sentstub.Error{Code: sentstub.ECONFLICT, Message: "The delivery is no longer leased to this dispatcher"}
}

// droppedReason is the error_message of the pending deliveries that
// FinishDelivery drops (as sentstub.Delivery.Drop would) when the attempt
// it records disables their webhook.
var droppedReason = fmt.Sprintf("dropped: the webhook was disabled after %d consecutive failures", sentstub.AutoDisableAfter)

// checkPage rejects a page the filters' contract rules out, which the two
// stores would otherwise answer differently (SQLite reads a negative LIMIT
// as none, PostgreSQL fails).
func checkPage(offset, limit int) error {
	if offset < 0 || limit <= 0 {
		return fmt.Errorf("page (offset %d, limit %d): the offset must not be negative and the limit must be positive", offset, limit)
	}
	return nil
}

// A search is matched the same way in both stores, whatever the database's
// locale: the store lowers the ASCII letters of the search here, and of the
// column in SQL with a function that folds ASCII alone (SQLite's lower,
// PostgreSQL's lower in the "C" collation), then looks for it as a literal
// substring (instr, strpos), so "%" and "_" match themselves.

// searchText returns the search to look for in lowered text, and false
// when it is not valid UTF-8 or holds a NUL: PostgreSQL's text can hold no
// such value, so it matches nothing there (and fails as a parameter), and
// both stores answer that it matches nothing.
func searchText(search string) (string, bool) {
	if !utf8.ValidString(search) || strings.IndexByte(search, 0) >= 0 {
		return "", false
	}
	return asciiLower(search), true
}

// asciiLower returns s with its ASCII letters in lower case, and every
// other byte as it is.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// searchedEventID returns the event id a delivery search names, or nil: a
// search "is" an event id when it is one in the canonical form, in either
// case.
func searchedEventID(search string) *uuid.UUID {
	if len(search) != 36 { // uuid.Parse also takes other forms
		return nil
	}
	id, err := uuid.Parse(search)
	if err != nil {
		return nil
	}
	return &id
}

// nonNilBytes returns b, or an empty slice for nil: event_data is NOT NULL,
// and an empty body reads back as empty, not nil, from either store.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// resetArgs checks that every webhook a reset restores is account's, and
// returns the insert arguments argsOf makes of each.
func resetArgs(account uuid.UUID, webhooks []sentstub.Webhook, argsOf func(*sentstub.Webhook) ([]any, error)) ([][]any, error) {
	args := make([][]any, len(webhooks))
	for i := range webhooks {
		w := &webhooks[i]
		if w.OwnerID != account {
			return nil, sentstub.Errorf(sentstub.EINVALID, "webhook %s is not owned by account %s", w.ID, account)
		}
		var err error
		if args[i], err = argsOf(w); err != nil {
			return nil, err
		}
	}
	return args, nil
}
