// Package paging is how the API's lists page: forward only, with a limit (1 to MaxLimit) and
// an opaque cursor that names the last item of the previous page, so that the next page
// starts right after it (keyset paging). A page does not shift while items are added before
// it or removed, and costs what it returns however long the list is. It reads the limit and
// cursor of a request, encodes and decodes the cursors of lists ordered by a time then an ID,
// and cuts the one extra item a store fetches to tell whether another page follows.
package paging

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/validation"
)

// Page sizes. DefaultLimit is the API's for the lists it pages by a limit and cursor (version
// 1.1: notifications, attendance, attendees); the event search keeps its own (20).
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// BadCursor is what a request is told of a cursor the server did not give out.
const BadCursor = "is not a cursor this server gave out"

// Single returns the one non-empty value of the query parameter name of v, and whether there
// is one. A parameter given more than once is recorded in errs as invalid.
func Single(v url.Values, name string, errs *validation.List) (string, bool) {
	var (
		val string
		n   int
	)
	for _, s := range v[name] {
		if s != "" {
			val = s
			n++
		}
	}
	switch n {
	case 0:
		return "", false
	case 1:
		return val, true
	}
	errs.Add(name, "must be given at most once")
	return "", false
}

// Limit returns the page size that the query parameter limit of v asks for, def when it is
// absent. A value that is not an integer from 1 to MaxLimit is recorded in errs, and def
// returned.
func Limit(v url.Values, def int, errs *validation.List) int {
	s, ok := Single(v, "limit", errs)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		errs.Add("limit", fmt.Sprintf("must be an integer from 1 to %d", MaxLimit))
		return def
	}
	return n
}

// Cursor decodes the query parameter cursor of v with decode, and reports whether there is
// one that decodes. A cursor that decode refuses is recorded in errs as BadCursor.
func Cursor[C any](v url.Values, errs *validation.List, decode func(string) (C, error)) (C, bool) {
	var zero C
	s, ok := Single(v, "cursor", errs)
	if !ok {
		return zero, false
	}
	c, err := decode(s)
	if err != nil {
		errs.Add("cursor", BadCursor)
		return zero, false
	}
	return c, true
}

// Trim returns the page of items, which a store fetched with a limit of limit+1: its first
// limit items, and the cursor of the page after them (cursor of the last item kept), or nil
// when items holds no more than limit, the last page.
func Trim[T any](items []T, limit int, cursor func(last T) string) ([]T, *string) {
	if len(items) <= limit {
		return items, nil
	}
	items = items[:limit]
	c := cursor(items[limit-1])
	return items, &c
}

// Key is a position in a list ordered by a time, then by ID: the Time and ID of the last item
// of a page. A store continues after it with the row comparison (time, id) > (Time, ID).
type Key struct {
	Time time.Time
	ID   string
}

// maxKeyID bounds the ID of a cursor; the stores' IDs are far shorter.
const maxKeyID = 200

// maxKeyLen bounds the cursor DecodeKey reads: the base64 of the longest time, a comma and
// maxKeyID bytes, with room for padding.
const maxKeyLen = 300

// The range of times an RFC 3339 time can express (years 0000 to 9999), in unix microseconds.
const (
	minMicro = -62167219200 * 1_000_000
	maxMicro = 253402300799_999_999
)

// errMalformed is the error of a cursor DecodeKey cannot read.
var errMalformed = errors.New("decode cursor: malformed")

// EncodeKey returns the opaque form of k that clients send back as cursor: base64url (no
// padding) of the unix microseconds of k.Time, a comma and k.ID.
func EncodeKey(k Key) string {
	raw := strconv.FormatInt(k.Time.UnixMicro(), 10) + "," + k.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeKey parses a cursor made by EncodeKey; padding is tolerated. The time is in UTC.
func DecodeKey(s string) (Key, error) {
	if len(s) > maxKeyLen {
		return Key{}, errMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return Key{}, fmt.Errorf("decode cursor: %w", err)
	}
	microS, id, ok := strings.Cut(string(raw), ",")
	// No NUL: PostgreSQL refuses it in text, and no store gives it out.
	if !ok || id == "" || len(id) > maxKeyID || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return Key{}, errMalformed
	}
	micro, err := strconv.ParseInt(microS, 10, 64)
	if err != nil || micro < minMicro || micro > maxMicro {
		return Key{}, fmt.Errorf("decode cursor: bad time")
	}
	return Key{Time: time.UnixMicro(micro).UTC(), ID: id}, nil
}
