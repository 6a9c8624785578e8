package httpx_test

import (
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
