package apitime_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sentstub/sentstub/api/apitime"
)

func TestTimeJSON(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tt := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC), `"2026-01-15T10:30:00+00:00"`},
		{time.Date(2026, 1, 15, 11, 30, 0, 120000000, cet), `"2026-01-15T10:30:00.12+00:00"`},
		{time.Date(2026, 3, 11, 21, 50, 49, 687090000, time.UTC), `"2026-03-11T21:50:49.68709+00:00"`},
	} {
		b, err := json.Marshal(apitime.New(tt.in))
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.in, b, err, tt.want)
		}
		var back apitime.Time
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(tt.in) {
			t.Errorf("Unmarshal(%s) = %v, %v", b, back, err)
		}
	}
	var z apitime.Time
	if err := json.Unmarshal([]byte(`"2026-01-15T10:30:00Z"`), &z); err != nil || z.Hour() != 10 {
		t.Errorf("a Z timestamp does not parse: %v", err)
	}
	if err := json.Unmarshal([]byte(`"yesterday"`), &z); err == nil {
		t.Errorf("a bad timestamp parsed")
	}
}

func TestRequestTimeHasSevenDigits(t *testing.T) {
	for in, want := range map[time.Time]string{
		time.Date(2026, 3, 11, 21, 50, 49, 687090200, time.UTC): `"2026-03-11T21:50:49.6870902+00:00"`,
		time.Date(2026, 3, 11, 21, 50, 49, 0, time.UTC):         `"2026-03-11T21:50:49.0000000+00:00"`,
	} {
		b, _ := json.Marshal(apitime.RequestTime{Time: in})
		if string(b) != want {
			t.Errorf("Marshal(%v) = %s, want %s", in, b, want)
		}
	}
}

// The hand-written formatters write exactly what time.Time.AppendFormat
// writes with the API's layouts, for any instant and zone.
func TestAppendMatchesLayouts(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("odd", -(9*3600 + 30*60 + 17))}
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(2026, 3, 11, 21, 50, 49, 687090200, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 100, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(999, 5, 6, 7, 8, 9, 10, time.UTC),
	}
	for i := int64(0); i < 2000; i++ {
		times = append(times, time.Unix(i*987654321-900_000_000_000, (i*7919*104729)%1_000_000_000))
	}
	for _, base := range times {
		for _, zone := range zones {
			tm := base.In(zone)
			if got, want := string(apitime.AppendFormat(nil, tm)), tm.UTC().Format(apitime.Layout); got != want {
				t.Errorf("AppendFormat(%v) = %s, want %s", tm, got, want)
			}
			if got, want := string(apitime.AppendRequestFormat([]byte("x"), tm)), "x"+tm.UTC().Format(apitime.RequestLayout); got != want {
				t.Errorf("AppendRequestFormat(%v) = %s, want %s", tm, got, want)
			}
		}
	}
}
