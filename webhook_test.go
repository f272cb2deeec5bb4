package sentstub_test

import (
	"testing"
	"time"

	"github.com/sentstub/sentstub"
)

// Touch stamps a change with the clock, but never with a time that is not
// after the webhook's updated_at: a clock that steps back or repeats itself
// does not reorder changes.
func TestTouch(t *testing.T) {
	t0 := time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)
	w := &sentstub.Webhook{}
	for _, step := range []struct {
		clock, want time.Time
	}{
		{t0.Add(1500 * time.Nanosecond), t0.Add(time.Microsecond)}, // first stamp: the clock, to the microsecond
		{t0.Add(time.Second), t0.Add(time.Second)},                 // later: the clock
		{t0.Add(time.Second), t0.Add(time.Second + time.Microsecond)},
		{t0, t0.Add(time.Second + 2*time.Microsecond)}, // the clock stepped back
	} {
		w.Touch(step.clock)
		if !w.UpdatedAt.Equal(step.want) || w.UpdatedAt.Location() != time.UTC {
			t.Errorf("Touch(%v): updated_at = %v, want %v in UTC", step.clock, w.UpdatedAt, step.want)
		}
	}
}
