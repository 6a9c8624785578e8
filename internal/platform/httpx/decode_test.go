package httpx_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

type input struct {
	Name     string `json:"name"`
	Count    int    `json:"count"`
	Tags     []string
	Location *location `json:"location"`
}

type location struct {
	Lat   *float64 `json:"lat"`
	Spots []spot   `json:"spots"`
}

type spot struct {
	Size int `json:"size"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int // 0: success
		wantField   string
		wantDetail  string
		want        input
	}{
		{name: "valid", contentType: "application/json", body: `{"name":"a","count":2}`, want: input{Name: "a", Count: 2}},
		{name: "charset parameter", contentType: "application/json; charset=utf-8", body: `{"name":"a"}`, want: input{Name: "a"}},
		{name: "merge patch media type", contentType: "application/merge-patch+json", body: `{"name":"a"}`, want: input{Name: "a"}},
		{name: "no content type", contentType: "", body: `{}`, wantStatus: 415},
		{name: "form content type", contentType: "application/x-www-form-urlencoded", body: `name=a`, wantStatus: 415},
		{name: "malformed", contentType: "application/json", body: `{"name":`, wantStatus: 400},
		{name: "syntax error", contentType: "application/json", body: `{"name" "a"}`, wantStatus: 400},
		{name: "empty body", contentType: "application/json", body: ``, wantStatus: 400},
		{name: "unknown field", contentType: "application/json", body: `{"nmae":"a"}`, wantStatus: 400},
		{name: "two values", contentType: "application/json", body: `{} {}`, wantStatus: 400},
		{name: "trailing garbage", contentType: "application/json", body: `{}x`, wantStatus: 400},
		{name: "wrong type", contentType: "application/json", body: `{"count":"two"}`, wantStatus: 422, wantField: "count"},
		{name: "not an object", contentType: "application/json", body: `[1]`, wantStatus: 400},
		{name: "too large", contentType: "application/json", body: `{"name":"` + strings.Repeat("x", httpx.MaxBodyBytes) + `"}`, wantStatus: 413},
		{name: "nested", contentType: "application/json", body: `{"location":{"lat":1.5,"spots":[{"size":2}]},"Tags":["a"]}`,
			want: input{Location: &location{Lat: ptr(1.5), Spots: []spot{{Size: 2}}}, Tags: []string{"a"}}},
		{name: "whitespace only", contentType: "application/json", body: " \n\t", wantStatus: 400, wantDetail: "the body is empty"},
		{name: "name in another case", contentType: "application/json", body: `{"NAME":"a"}`, wantStatus: 400, wantDetail: `unknown field "NAME"`},
		{name: "name in mixed case", contentType: "application/json", body: `{"Name":"a"}`, wantStatus: 400, wantDetail: `unknown field "Name"`},
		{name: "go field name in another case", contentType: "application/json", body: `{"tags":["a"]}`, wantStatus: 400, wantDetail: `unknown field "tags"`},
		{name: "same name in two cases", contentType: "application/json", body: `{"name":"a","NAME":"b"}`, wantStatus: 400, wantDetail: `unknown field "NAME"`},
		{name: "nested name in another case", contentType: "application/json", body: `{"location":{"LAT":1}}`, wantStatus: 400, wantDetail: `unknown field "location.LAT"`},
		{name: "duplicate name", contentType: "application/json", body: `{"name":"a","name":"b"}`, wantStatus: 400, wantDetail: `field "name" appears more than once`},
		{name: "duplicate nested name", contentType: "application/json", body: `{"location":{"lat":1,"lat":2}}`, wantStatus: 400, wantDetail: `field "location.lat" appears more than once`},
		{name: "duplicate name of an unknown field", contentType: "application/json", body: `{"x":1,"x":2}`, wantStatus: 400, wantDetail: `field "x" appears more than once`},
		{name: "duplicate name after a wrong type", contentType: "application/json", body: `{"count":"x","name":"a","name":"b"}`, wantStatus: 400},
		{name: "invalid UTF-8 in a value", contentType: "application/json", body: "{\"name\":\"a\xffb\"}", wantStatus: 400, wantDetail: "the body is not valid UTF-8"},
		{name: "invalid UTF-8 in a name", contentType: "application/json", body: "{\"\xc3\":1}", wantStatus: 400, wantDetail: "the body is not valid UTF-8"},
		{name: "lone surrogate escape", contentType: "application/json", body: `{"name":"\ud800"}`, wantStatus: 400},
		{name: "escaped surrogate pair", contentType: "application/json", body: `{"name":"\ud83d\ude00"}`, want: input{Name: "\U0001F600"}},
		{name: "longest list", contentType: "application/json", body: `{"Tags":` + list(httpx.MaxListLength, `"a"`) + `}`, want: input{Tags: slices.Repeat([]string{"a"}, httpx.MaxListLength)}},
		{name: "list too long", contentType: "application/json", body: `{"Tags":` + list(httpx.MaxListLength+1, `"a"`) + `}`, wantStatus: 422, wantField: "Tags"},
		{name: "list of 100000", contentType: "application/json", body: `{"Tags":` + list(100000, `"a"`) + `}`, wantStatus: 422, wantField: "Tags"},
		{name: "nested list too long", contentType: "application/json", body: `{"location":{"spots":` + list(httpx.MaxListLength+1, `{}`) + `}}`, wantStatus: 422, wantField: "location.spots"},
		{name: "list too long in an unknown field", contentType: "application/json", body: `{"x":` + list(httpx.MaxListLength+1, `1`) + `}`, wantStatus: 422, wantField: "x"},
		{name: "top-level list too long", contentType: "application/json", body: list(httpx.MaxListLength+1, `1`), wantStatus: 422},
		{name: "too many members", contentType: "application/json", body: members(httpx.MaxObjectMembers + 1), wantStatus: 400, wantDetail: "the body has more than 100 members"},
		{name: "wrong type in a list", contentType: "application/json", body: `{"Tags":["a",1]}`, wantStatus: 422, wantField: "Tags"},
		{name: "wrong type in a nested list", contentType: "application/json", body: `{"location":{"spots":[{"size":"L"}]}}`, wantStatus: 422, wantField: "location.spots.size"},
		{name: "number out of range", contentType: "application/json", body: `{"count":1e400}`, wantStatus: 422, wantField: "count"},
		{name: "integer out of range", contentType: "application/json", body: `{"count":99999999999999999999}`, wantStatus: 422, wantField: "count"},
		{name: "fraction for an integer", contentType: "application/json", body: `{"count":1.5}`, wantStatus: 422, wantField: "count"},
		{name: "object for a string", contentType: "application/json", body: `{"name":{}}`, wantStatus: 422, wantField: "name"},
		{name: "null members", contentType: "application/json", body: `{"name":null,"location":null,"Tags":null}`, want: input{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			var got input
			err := httpx.Decode(httptest.NewRecorder(), r, &got)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("decoded value (-want +got):\n%s", diff)
				}
				return
			}
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Decode error = %v, want a *problem.Error", err)
			}
			if pe.Status != tt.wantStatus {
				t.Errorf("status = %d (%s), want %d", pe.Status, pe.Detail, tt.wantStatus)
			}
			if tt.wantField != "" && (len(pe.Fields) != 1 || pe.Fields[0].Field != tt.wantField) {
				t.Errorf("fields = %+v, want one for %q", pe.Fields, tt.wantField)
			}
			if tt.wantDetail != "" && pe.Detail != tt.wantDetail {
				t.Errorf("detail = %q, want %q", pe.Detail, tt.wantDetail)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// list returns a JSON array of n copies of item.
func list(n int, item string) string {
	return "[" + strings.Repeat(item+",", n-1) + item + "]"
}

// members returns a JSON object of n members.
func members(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"m%d":%d`, i, i)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestUnmarshalReportsAProgrammingErrorAsInternal(t *testing.T) {
	var v input
	for _, target := range []any{v, nil, (*input)(nil)} {
		err := httpx.Unmarshal([]byte(`{}`), target)
		var pe *problem.Error
		if err == nil || errors.As(err, &pe) {
			t.Errorf("Unmarshal into %T = %v, want an error that is not a problem", target, err)
		}
	}
}

func TestUnmarshalDecodesIntoAMapOfRawMessages(t *testing.T) {
	var patch map[string]json.RawMessage
	if err := httpx.Unmarshal([]byte(`{"title": {"a": [1, "x"]}, "Title": null}`), &patch); err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{"title": json.RawMessage(`{"a": [1, "x"]}`), "Title": json.RawMessage(`null`)}
	if diff := cmp.Diff(want, patch); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	for _, body := range []string{`{"title": {"a": 1, "a": 2}}`, `{"title": 1, "title": 2}`, "{\"title\": \"\xff\"}"} {
		if err := httpx.Unmarshal([]byte(body), &patch); err == nil {
			t.Errorf("Unmarshal(%q) accepted it", body)
		}
	}
}

// BenchmarkDecodeTags100000 decodes a body whose list holds 100,000 items: it is refused
// once the list passes MaxListLength, before any item is decoded.
func BenchmarkDecodeTags100000(b *testing.B) {
	body := `{"name":"x","Tags":` + list(100000, `"abcdef"`) + `}`
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v input
		if err := httpx.Decode(httptest.NewRecorder(), r, &v); err == nil {
			b.Fatal("accepted")
		}
	}
}

func TestProblemWrite(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/x", nil)
	w := httptest.NewRecorder()
	problem.Write(w, r, nil, problem.Validation(problem.FieldError{Field: "title", Message: "is required"}))
	if w.Code != 422 || w.Header().Get("Content-Type") != problem.ContentType {
		t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type": "about:blank", "title": "Unprocessable Entity", "status": float64(422),
		"detail": "the request did not validate", "instance": "/api/v1/x",
		"errors": []any{map[string]any{"field": "title", "message": "is required"}},
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

	w = httptest.NewRecorder()
	problem.Write(w, r, nil, errors.New("database exploded"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "exploded") {
		t.Errorf("internal error answered %d %s; want a 500 that hides the cause", w.Code, w.Body)
	}

	w = httptest.NewRecorder()
	problem.Write(w, r, nil, problem.TooManyRequests("slow down", 1500*1e6))
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Errorf("429: got %d Retry-After %q, want 429 and 2", w.Code, w.Header().Get("Retry-After"))
	}
}

// FuzzDecode checks Decode against an independent reading of the body (inputtest, over
// encoding/json's tokenizer): whatever it accepts is one JSON object in valid UTF-8 with no
// name twice and only the names of input's fields, exactly; what it decodes encodes and
// decodes again to the same value; and whatever it refuses, it refuses with a 4xx problem.
func FuzzDecode(f *testing.F) {
	valid := `{"name":"a","count":1,"Tags":["x"],"location":{"lat":1.5,"spots":[{"size":1}]}}`
	seeds := []string{valid, `{`, `[]`, `{"count":1e400}`, `null`, `{"name":"\u0000"}`, `{"name":"a","NAME":"b"}`,
		`{"Tags":` + inputtest.List(100000, `"t"`) + `}`, `{"location":{"spots":` + inputtest.List(101, `{}`) + `}}`}
	for _, s := range append(seeds, inputtest.Hostile(valid)...) {
		f.Add(s)
	}
	allowed := []string{"name", "count", "Tags", "location", "location.lat", "location.spots", "location.spots.size"}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v input
		err := httpx.Decode(httptest.NewRecorder(), r, &v)
		if err != nil {
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Status < 400 || pe.Status > 499 || pe.Detail == "" {
				t.Fatalf("Decode(%q) = %v; want a 4xx problem", body, err)
			}
			return
		}
		if _, ok := inputtest.StrictObject([]byte(body), allowed...); !ok && strings.TrimSpace(body) != "null" {
			t.Fatalf("Decode accepted %q", body)
		}
		if len(v.Tags) > httpx.MaxListLength {
			t.Fatalf("Decode accepted %d tags", len(v.Tags))
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back input
		if err := httpx.Unmarshal(again, &back); err != nil || !cmp.Equal(v, back) {
			t.Fatalf("%q decoded to %+v, which encodes to %s and decodes to %+v (%v)", body, v, again, back, err)
		}
	})
}
