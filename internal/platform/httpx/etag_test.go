package httpx_test

import (
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/httpx"
)

func TestNoneMatchFails(t *testing.T) {
	const etag = `W/"abc"`
	for _, tt := range []struct {
		header string
		want   bool
	}{
		{`W/"abc"`, true},
		{`"abc"`, true}, // weak comparison: a strong tag with the same opaque tag matches
		{`*`, true},
		{`"x", W/"abc"`, true},
		{`"x",W/"abc" , "y"`, true},
		{` , "x", "abc"`, true},
		{`"a,b", "abc"`, true}, // a comma inside a tag is part of it
		{`"x"`, false},
		{`W/"abcd"`, false},
		{`abc`, false},
		{`"abc`, false},
		{`W/`, false},
		{``, false},
		{`"x" junk "abc"`, false},
		{`W/"ABC"`, false},
	} {
		if got := httpx.NoneMatchFails(tt.header, etag); got != tt.want {
			t.Errorf("NoneMatchFails(%q, %q) = %v, want %v", tt.header, etag, got, tt.want)
		}
	}
	if httpx.NoneMatchFails(`*`, "not-a-tag") {
		t.Error("matched a malformed current ETag")
	}
	if !httpx.NoneMatchFails(`W/"abc"`, `"abc"`) {
		t.Error("a weak tag does not match the strong current ETag with the same opaque tag")
	}
}

// FuzzNoneMatchFails feeds arbitrary If-None-Match values: no panic, and a value that ends
// with the current tag after a comma always matches unless an open quote swallows it.
func FuzzNoneMatchFails(f *testing.F) {
	for _, s := range []string{`"a"`, `W/"a", "b"`, `*`, `"`, `W/`, `"a,b"`, ",,,", `W/"\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		const etag = `W/"cur"`
		httpx.NoneMatchFails(header, etag)
		if strings.Count(header, `"`)%2 == 0 && !strings.Contains(header, "W/\"") && validList(header) {
			if !httpx.NoneMatchFails(header+`, "cur"`, etag) {
				t.Errorf("%q followed by the current tag does not match", header)
			}
		}
	})
}

// validList reports whether s is a comma-separated list of quoted strong tags (possibly
// empty), which NoneMatchFails reads to its end.
func validList(s string) bool {
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return true
		}
		if s[0] != '"' {
			return false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return false
		}
		s = s[end+2:]
		if s != "" && s[0] != ',' && s[0] != ' ' && s[0] != '\t' {
			return false
		}
	}
}
