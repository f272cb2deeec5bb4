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
