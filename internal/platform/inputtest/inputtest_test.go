package inputtest_test

import (
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/inputtest"
)

var allowed = []string{"title", "starts_at", "tags", "location", "location.lat", "location.lon"}

func TestStrictObject(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"title": "T", "tags": ["a", "b"], "location": {"lat": 1, "lon": 2}}`, true},
		{`{}`, true},
		{`{"title": "\ufffd", "starts_at": "` + "\uFFFD" + `"}`, true},
		{`{"title": "\ud83d\ude00"}`, true},
		{`{"TITLE": "T"}`, false},
		{`{"title": "T", "title": "U"}`, false},
		{`{"location": {"lat": 1, "lat": 2}}`, false},
		{`{"location": {"LAT": 1}}`, false},
		{`{"lat": 1}`, false},
		{`{"tags": [{"lat": 1}]}`, false},
		{"{\"title\": \"\xff\"}", false},
		{`{"title": "\ud800"}`, false},
		{`{"title": "\udc00x"}`, false},
		{`{} {}`, false},
		{`{}x`, false},
		{`[]`, false},
		{`"x"`, false},
		{`null`, false},
		{``, false},
		{`{"title": `, false},
	}
	for _, tt := range tests {
		if _, got := inputtest.StrictObject([]byte(tt.body), allowed...); got != tt.want {
			t.Errorf("StrictObject(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestHostileBodiesAreNotStrict(t *testing.T) {
	valid := `{"title": "T", "starts_at": "2030-01-01T00:00:00Z", "location": {"lat": 1, "lon": 2}}`
	if _, ok := inputtest.StrictObject([]byte(valid), allowed...); !ok {
		t.Fatalf("the valid body is not strict")
	}
	bodies := inputtest.Hostile(valid)
	if len(bodies) < 7 {
		t.Fatalf("%d hostile bodies", len(bodies))
	}
	for _, b := range bodies {
		if _, ok := inputtest.StrictObject([]byte(b), allowed...); ok {
			t.Errorf("hostile body %q is strict", b)
		}
	}
}

func TestList(t *testing.T) {
	if got := inputtest.List(3, `"a"`); got != `["a","a","a"]` {
		t.Errorf("List = %s", got)
	}
	if got := inputtest.List(100000, `"a"`); strings.Count(got, `"a"`) != 100000 {
		t.Errorf("List(100000) holds %d items", strings.Count(got, `"a"`))
	}
}

func TestBadQueriesAreMalformed(t *testing.T) {
	for _, q := range inputtest.BadQueries {
		if inputtest.WellFormedQuery(q) {
			t.Errorf("%q reads whole", q)
		}
	}
	if !inputtest.WellFormedQuery("q=%25zz&tag=a+b") {
		t.Error("a well-formed query is refused")
	}
}
