// Package store implements sentstub.Store on SQLite (embedded, the default)
// and PostgreSQL (shared by several replicas). Both keep the same data with
// the same semantics; one conformance suite runs against each.
package store

import (
	"encoding/json"
	"fmt"
	"time"

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
