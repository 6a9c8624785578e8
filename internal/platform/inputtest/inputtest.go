// Package inputtest holds what the tests and fuzz targets of every service share to check
// the strict input layer (httpx.Decode, httpx.Middleware, apitime): hostile seed inputs
// built from a valid body, and checks of requests and responses made independently of that
// layer, with encoding/json's tokenizer and net/url, so that a fuzz target compares two
// implementations instead of asking one whether it agrees with itself.
package inputtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// Year10000 is 9999-12-31T23:59:59 at the offset -14:00: in UTC, the first second of the
// year 10000, which no RFC 3339 answer can show.
const Year10000 = "9999-12-31T23:59:59-14:00"

// BadQueries are query strings that r.URL.Query() would not read whole: each holds a
// malformed escape or a semicolon.
var BadQueries = []string{"q=%zz", "q=jazz%", "q=%4", "q=%zz&tag=jazz", "%zz=1", "q=rock;roll", "tag=a;tag=b"}

// List returns a JSON array of n copies of item, a JSON value.
func List(n int, item string) string {
	var b strings.Builder
	b.Grow(n*(len(item)+1) + 2)
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteByte(']')
	return b.String()
}

// Hostile returns bodies made from valid, a JSON object, that the API must refuse whatever
// their values say: valid with its member names upper-cased; with its first member repeated,
// both exactly and in upper case; with a byte of invalid UTF-8 in a member name and in a
// string value; with a lone UTF-16 surrogate escape in a string value; and followed by a
// second value. It panics when valid is not a JSON object with at least one member.
func Hostile(valid string) []string {
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(valid), &members); err != nil || len(members) == 0 {
		panic("inputtest.Hostile: not a JSON object with members: " + valid)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range members {
			if !yield(k) {
				return
			}
		}
	})
	object := func(extra ...string) string {
		var parts []string
		for _, k := range names {
			parts = append(parts, strconv.Quote(k)+":"+string(members[k]))
		}
		return "{" + strings.Join(append(parts, extra...), ",") + "}"
	}
	first := names[0]
	firstString := first // the first member whose value is a string, else the first one
	for _, k := range names {
		if bytes.HasPrefix(members[k], []byte(`"`)) {
			firstString = k
			break
		}
	}
	var upper []string
	for _, k := range names {
		upper = append(upper, strconv.Quote(strings.ToUpper(k))+":"+string(members[k]))
	}
	return []string{
		"{" + strings.Join(upper, ",") + "}",
		object(strconv.Quote(first) + ":" + string(members[first])),
		object(strconv.Quote(strings.ToUpper(first)) + ":" + string(members[first])),
		object("\"\xff\":1"),
		object(strconv.Quote(firstString) + ":\"x\xffy\""),
		object(strconv.Quote(firstString) + `:"\ud800"`),
		valid + valid,
	}
}

// StrictObject reports whether body is a JSON object that the strict input layer may
// accept: valid UTF-8 without lone UTF-16 surrogate escapes, a single JSON value, an object,
// no object in it naming a member twice, and every member's dotted path (array indexes left
// out: "tags" for an item of tags, "location.lat") among allowed, matched exactly. It returns
// the object decoded, with numbers as json.Number.
func StrictObject(body []byte, allowed ...string) (map[string]any, bool) {
	if !utf8.Valid(body) {
		return nil, false
	}
	// encoding/json turns a lone surrogate escape into U+FFFD: one that the body does not
	// hold, literally or escaped, came from one.
	lower := bytes.ToLower(body)
	replacedOK := bytes.ContainsRune(body, utf8.RuneError) || bytes.Contains(lower, []byte(`\ufffd`))
	type level struct {
		object     bool
		path       string          // of this object or array
		names      map[string]bool // seen in this object
		member     string          // the path of the member whose value comes next
		expectName bool
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for done := false; !done; {
		tok, err := dec.Token()
		if err != nil {
			return nil, false // the body ended inside the value, or is malformed
		}
		if s, ok := tok.(string); ok && !replacedOK && strings.ContainsRune(s, utf8.RuneError) {
			return nil, false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectName {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				done = len(stack) == 0
				continue
			}
			name := tok.(string)
			path := name
			if top.path != "" {
				path = top.path + "." + name
			}
			if top.names[name] || !slices.Contains(allowed, path) {
				return nil, false
			}
			top.names[name] = true
			top.member, top.expectName = path, false
			continue
		}
		path := ""
		switch {
		case top == nil:
		case top.object:
			path, top.expectName = top.member, true
		default:
			path = top.path
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, path: path, names: map[string]bool{}, expectName: true})
		case json.Delim('['):
			stack = append(stack, &level{path: path})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if top == nil {
				return nil, false // not an object
			}
		}
		done = len(stack) == 0
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false // a second value, or garbage
	}
	var out map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		return nil, false
	}
	return out, true
}

// WellFormedQuery reports whether url.ParseQuery reads raw, a query string, whole.
func WellFormedQuery(raw string) bool {
	_, err := url.ParseQuery(raw)
	return err == nil
}

// CheckResponse fails t unless w is an answer the API may give to any input: not a 5xx; a
// 4xx as application/problem+json whose status is w's and whose detail says something; and
// a JSON body, when there is one, valid UTF-8 that decodes.
func CheckResponse(t testing.TB, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if w.Code >= 400 {
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
			t.Fatalf("status %d with Content-Type %q, want %q", w.Code, ct, problem.ContentType)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code || p.Detail == "" {
			t.Fatalf("status %d with problem %s (%v)", w.Code, w.Body, err)
		}
		return
	}
	if w.Body.Len() > 0 && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		if !utf8.Valid(w.Body.Bytes()) || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("status %d with a body that is not JSON: %q", w.Code, w.Body)
		}
	}
}
