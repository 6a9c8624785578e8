// Package apitime parses the times that clients send to the API, in request bodies and query
// parameters alike: RFC 3339 with an offset, within the years 1 to 9999 once in UTC, which
// is what every store keeps and what an RFC 3339 answer can show.
package apitime

import (
	"errors"
	"strings"
	"time"
)

// The errors Parse returns. Their text is written for the client, after the field's name.
var (
	ErrSyntax = errors.New("must be an RFC 3339 time with an offset, such as 2027-03-01T18:30:00Z")
	ErrRange  = errors.New("must fall within the years 1 to 9999 in UTC")
)

// maxLength bounds the text Parse reads: RFC 3339 with nanoseconds and an offset is 35
// characters, and time.Parse accepts any number of fractional digits.
const maxLength = 64

// Parse parses s, an RFC 3339 time with an offset (Z or ±hh:mm), and returns it in UTC,
// truncated to the microsecond that the stores keep. It returns ErrSyntax when s is not
// such a time and ErrRange when its year in UTC is outside 1 to 9999:
// 9999-12-31T23:59:59-14:00 is in the year 10000.
func Parse(s string) (time.Time, error) {
	if len(s) > maxLength {
		return time.Time{}, ErrSyntax
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, ErrSyntax
	}
	t = t.UTC().Truncate(time.Microsecond)
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, ErrRange
	}
	return t, nil
}

// ParseQuery is Parse for a query parameter, where a space stands for the plus sign of an
// offset that the client did not escape (a query string turns + into a space).
func ParseQuery(s string) (time.Time, error) {
	return Parse(strings.ReplaceAll(s, " ", "+"))
}
