package httpx_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

type input struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Tags  []string
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int // 0: success
		wantField   string
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
		})
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

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","count":1,"Tags":["x"]}`, `{`, `[]`, `{"count":1e400}`, `null`, `{"name":"\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v input
		err := httpx.Decode(httptest.NewRecorder(), r, &v)
		if err == nil {
			return
		}
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Status < 400 || pe.Status > 499 {
			t.Fatalf("Decode(%q) = %v; want a 4xx problem", body, err)
		}
	})
}
