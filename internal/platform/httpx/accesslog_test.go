package httpx_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/platform/httpx"
)

// logLines decodes the JSON lines of buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestSampleAccessLogThroughWrap: the access-log lines of a wrapped mux are thinned to one in
// n for answers below 400, and kept whole for the others; other lines pass.
func TestSampleAccessLogThroughWrap(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(httpx.SampleAccessLog(slog.NewJSONHandler(&buf, nil), 4)).With("service", "test")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /gone", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
	h := httpx.Wrap(mux, httpx.Options{Log: log, Registry: prometheus.NewRegistry()})
	for range 12 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/ok", nil))
	}
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/gone", nil))
	}
	log.Info("something else")

	var ok, gone, other int
	for _, l := range logLines(t, &buf) {
		switch {
		case l["msg"] == "request" && l["path"] == "/ok":
			ok++
			if l["sample_rate"] != 4.0 || l["service"] != "test" {
				t.Errorf("sampled line %v: want sample_rate 4 and the logger's attributes", l)
			}
		case l["msg"] == "request" && l["path"] == "/gone":
			gone++
			if _, has := l["sample_rate"]; has {
				t.Errorf("line of a 410 %v carries a sample rate", l)
			}
		default:
			other++
		}
	}
	if ok != 3 || gone != 3 || other != 1 {
		t.Errorf("lines: %d of 12 answers 200, %d of 3 answers 410, %d others; want 3, 3, 1", ok, gone, other)
	}
}

// TestSampleAccessLogOff: a rate below 2 keeps the handler as it is.
func TestSampleAccessLogOff(t *testing.T) {
	h := slog.NewJSONHandler(&bytes.Buffer{}, nil)
	for _, n := range []int{0, 1} {
		if got := httpx.SampleAccessLog(h, n); got != slog.Handler(h) {
			t.Errorf("SampleAccessLog(h, %d) = %T, want h itself", n, got)
		}
	}
}
