package httpx_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/inputtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// serve sends r through Middleware to h and returns the response and what was logged.
func serve(t *testing.T, h http.HandlerFunc, r *http.Request) (*httptest.ResponseRecorder, string) {
	t.Helper()
	var logged bytes.Buffer
	w := httptest.NewRecorder()
	httpx.Middleware(h, logging.New(&logged, nil), metrics.NewHTTP(prometheus.NewRegistry())).ServeHTTP(w, r)
	return w, logged.String()
}

func TestWriteJSONAnswersA500WhenTheValueDoesNotEncode(t *testing.T) {
	for name, v := range map[string]any{
		"a time in the year 10000": map[string]time.Time{"send_at": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"NaN":                      []float64{math.NaN()},
		"a channel":                make(chan int),
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/notifications", nil)
			r.Header.Set(httpx.HeaderRequestID, "req-1")
			w, logged := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "/x")
				httpx.WriteJSON(w, http.StatusCreated, v)
			}, r)
			if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != problem.ContentType {
				t.Fatalf("answer %d %q %s, want a 500 problem", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			if loc := w.Header().Get("Location"); loc != "" {
				t.Errorf("the 500 carries Location %q", loc)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 500 || p.Detail == "" {
				t.Errorf("body %s (%v), want a problem", w.Body, err)
			}
			var line struct {
				Level     string `json:"level"`
				Msg       string `json:"msg"`
				Err       string `json:"err"`
				RequestID string `json:"request_id"`
				Path      string `json:"path"`
			}
			found := false
			for l := range strings.Lines(logged) {
				if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "internal error" {
					found = true
					break
				}
			}
			if !found || line.Level != "ERROR" || !strings.Contains(line.Err, "encode") || line.RequestID != "req-1" || line.Path != "/api/v1/notifications" {
				t.Errorf("logged %s; want an error line naming the encoding failure, the request ID and the path", logged)
			}
		})
	}
}

func TestWriteJSONWithoutMiddlewareStillAnswersA500(t *testing.T) {
	w := httptest.NewRecorder()
	httpx.WriteJSON(w, http.StatusOK, math.Inf(1))
	if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != problem.ContentType {
		t.Errorf("answer %d %q %s, want a 500 problem", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestWriteJSONFindsTheMiddlewareThroughAWrapper(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	w, logged := serve(t, func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(wrapper{w}, http.StatusOK, math.NaN())
	}, r)
	if w.Code != http.StatusInternalServerError || !strings.Contains(logged, `"msg":"internal error"`) {
		t.Errorf("answer %d, logged %s; want a logged 500", w.Code, logged)
	}
}

// wrapper is a ResponseWriter that a handler might wrap another in.
type wrapper struct{ http.ResponseWriter }

func (w wrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestWriteJSON(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	w, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusCreated, map[string]any{"a": "<b>", "t": time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)})
	}, r)
	if w.Code != http.StatusCreated || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if got, want := w.Body.String(), `{"a":"\u003cb\u003e","t":"2030-01-02T03:04:05Z"}`+"\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}

func TestMiddlewareRefusesMalformedQueries(t *testing.T) {
	tests := []struct {
		query string
		want  int
	}{
		{"q=%zz", 400},
		{"q=jazz%", 400},
		{"q=%4", 400},
		{"q=%4g", 400},
		{"q=jazz&tag=%zz", 400},
		{"%zz=1", 400},
		{"q=rock;roll", 400},
		{"q=%25zz", 200},
		{"q=%C3%A9t%C3%A9&tag=a+b&from=2030-01-01T00:00:00%2B01:00", 200},
		{"q=", 200},
		{"", 200},
		{"q=%e9", 200}, // well-formed; what it means is for the handler to judge
		{strings.Repeat("tag=a&", httpx.MaxQueryParams-1) + "tag=a", 200},
		{strings.Repeat("tag=a&", httpx.MaxQueryParams), 400},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 40)], func(t *testing.T) {
			called := false
			r := httptest.NewRequest(http.MethodGet, "/api/v1/events?"+tt.query, nil)
			w, logged := serve(t, func(w http.ResponseWriter, r *http.Request) {
				called = true
				w.WriteHeader(http.StatusOK)
			}, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 400 {
				if called {
					t.Error("the handler was called")
				}
				inputtest.CheckResponse(t, w)
				if w.Header().Get(httpx.HeaderRequestID) == "" || !strings.Contains(logged, `"status":400`) {
					t.Errorf("request ID %q, log %s; want the refusal answered and logged like any request", w.Header().Get(httpx.HeaderRequestID), logged)
				}
			}
			if wellFormed(tt.query) != (tt.want == 200) {
				t.Errorf("url.ParseQuery disagrees about %q", tt.query)
			}
		})
	}
}

// FuzzMiddlewareQuery checks the query check against url.ParseQuery: a query string reaches
// the handler exactly when url.ParseQuery reads it whole.
func FuzzMiddlewareQuery(f *testing.F) {
	for _, q := range append([]string{"q=jazz", "q=%25", "a=1&b=%C3%A9", ""}, inputtest.BadQueries...) {
		f.Add(q)
	}
	h := httpx.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}), logging.Discard(), metrics.NewHTTP(prometheus.NewRegistry()))
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		reached := w.Code == http.StatusNoContent
		if reached != wellFormed(query) {
			t.Fatalf("query %q: status %d, but url.ParseQuery reads it whole: %v", query, w.Code, wellFormed(query))
		}
		if !reached {
			inputtest.CheckResponse(t, w)
		}
	})
}

// wellFormed reports whether url.ParseQuery reads query whole and it holds at most
// MaxQueryParams parameters.
func wellFormed(query string) bool {
	return inputtest.WellFormedQuery(query) && strings.Count(query, "&")+1 <= httpx.MaxQueryParams
}
