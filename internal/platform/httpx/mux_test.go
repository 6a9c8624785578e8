package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/httpx"
)

func TestMuxAnswers405WithAllow(t *testing.T) {
	mux := httpx.NewMux()
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
	mux.HandleFunc("GET /things", ok)
	mux.HandleFunc("POST /things", ok)
	mux.HandleFunc("DELETE /things/{id}", ok)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	tests := []struct {
		method, path string
		want         int
		allow        string
	}{
		{"GET", "/things", http.StatusNoContent, ""},
		{"HEAD", "/things", http.StatusNoContent, ""},
		{"POST", "/things", http.StatusNoContent, ""},
		{"PUT", "/things", http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{"GET", "/things/7", http.StatusMethodNotAllowed, "DELETE"},
		{"DELETE", "/things/7", http.StatusNoContent, ""},
		{"PUT", "/other", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.want || rec.Header().Get("Allow") != tt.allow {
				t.Errorf("%d Allow %q, want %d Allow %q", rec.Code, rec.Header().Get("Allow"), tt.want, tt.allow)
			}
			if tt.want == http.StatusMethodNotAllowed && rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("Content-Type %q, want problem+json", rec.Header().Get("Content-Type"))
			}
		})
	}
}

func TestAllowHeader(t *testing.T) {
	for methods, want := range map[string]string{"POST GET": "GET, HEAD, POST", "DELETE": "DELETE", "GET HEAD": "GET, HEAD"} {
		if got := httpx.AllowHeader(strings.Fields(methods)); got != want {
			t.Errorf("AllowHeader(%s) = %q, want %q", methods, got, want)
		}
	}
}
