// Package apitime is the timestamp type of the generated models.
//
// sent.dm writes every timestamp in RFC 3339, in UTC, with an explicit
// "+00:00" offset rather than "Z" (the seed's examples). encoding/json would
// write "Z" for a time.Time, so the OpenAPI document maps its Timestamp schema
// to this type through x-go-type.
package apitime

import (
	"fmt"
	"time"
)

// Time is a time.Time that marshals as RFC 3339 in UTC with a "+00:00"
// offset, keeping the fractional seconds it carries (trailing zeros dropped),
// and unmarshals any RFC 3339 timestamp.
type Time struct {
	time.Time
}

// Layout formats resource timestamps: RFC 3339 with as many fractional digits
// as the value carries and the offset written as "+00:00".
const Layout = "2006-01-02T15:04:05.999999999+00:00"

// New returns t as a Time.
func New(t time.Time) Time { return Time{Time: t} }

// AppendFormat appends t in the API's layout, converted to UTC.
func AppendFormat(b []byte, t time.Time) []byte {
	return appendUTC(b, t, Layout, 9, true)
}

// AppendRequestFormat appends t in RequestLayout, converted to UTC.
func AppendRequestFormat(b []byte, t time.Time) []byte {
	return appendUTC(b, t, RequestLayout, 7, false)
}

// appendUTC appends t, in UTC, as layout says, written by hand: every
// answer carries two or three timestamps, and time.Time.AppendFormat reads
// its layout anew each time. The fraction has digits digits, trailing
// zeros dropped (and the point with them, when nothing is left) if trim. A
// year of other than four digits is left to AppendFormat.
// TestAppendMatchesLayouts holds it to AppendFormat.
func appendUTC(b []byte, t time.Time, layout string, digits int, trim bool) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, layout)
	}
	hour, minute, second := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	frac := t.Nanosecond()
	for range 9 - digits {
		frac /= 10
	}
	n := digits
	if trim {
		for n > 0 && frac%10 == 0 {
			frac /= 10
			n--
		}
	}
	if n > 0 {
		b = append(b, '.')
		b = appendDigits(b, frac, n)
	}
	return append(b, "+00:00"...)
}

// appendDigits appends v, 0 <= v < 10^width, in exactly width digits.
func appendDigits(b []byte, v, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:width]...)
}

// MarshalJSON writes the quoted timestamp.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(Layout)+2)
	b = append(b, '"')
	b = AppendFormat(b, t.Time)
	return append(b, '"'), nil
}

// MarshalText writes the timestamp without quotes.
func (t Time) MarshalText() ([]byte, error) {
	return AppendFormat(nil, t.Time), nil
}

// UnmarshalJSON reads a quoted RFC 3339 timestamp; null leaves t unchanged.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("apitime: timestamp must be a JSON string, got %s", b)
	}
	return t.UnmarshalText(b[1 : len(b)-1])
}

// UnmarshalText reads an RFC 3339 timestamp.
func (t *Time) UnmarshalText(b []byte) error {
	parsed, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return fmt.Errorf("apitime: %w", err)
	}
	t.Time = parsed
	return nil
}

// RequestTime is the timestamp of a response's meta: RFC 3339 in UTC with
// exactly seven fractional digits and a "+00:00" offset, as the seed shows
// ("2026-03-11T21:50:49.6870902+00:00").
type RequestTime struct {
	time.Time
}

// RequestLayout formats meta timestamps.
const RequestLayout = "2006-01-02T15:04:05.0000000+00:00"

// MarshalJSON writes the quoted timestamp with seven fractional digits.
func (t RequestTime) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(RequestLayout)+2)
	b = append(b, '"')
	b = AppendRequestFormat(b, t.Time)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a quoted RFC 3339 timestamp.
func (t *RequestTime) UnmarshalJSON(b []byte) error {
	var v Time
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	t.Time = v.Time
	return nil
}
