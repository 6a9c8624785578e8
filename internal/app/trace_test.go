package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/telemetry"
	"github.com/eventpost/eventpost/internal/platform/telemetry/otlptest"
)

// TestOneReminderIsOneTrace follows one reminder through the distributed system, every
// service exporting to an OTLP receiver in the test: the request that creates it, with the
// client's traceparent, and, seconds later, the scheduler's claim, the broker, the
// email-sender's SMTP send and its result back in notifications all belong to the client's
// trace, and the log lines of every service on that path — exported over OTLP and printed as
// JSON — name it.
func TestOneReminderIsOneTrace(t *testing.T) {
	rcv := otlptest.Start(t)
	smtp := smtptest.Start(t)
	_, c, _, logPath := startClusterLogged(t, smtp, nil,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL, "OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_BLRP_SCHEDULE_DELAY=100")

	token, _ := c.signUpAndLogIn("tracy@example.com", "Tracy")
	ev := c.must(201, "POST", "/api/v1/events", token, map[string]any{
		"title": "Traced concert", "starts_at": rfc3339(time.Now().Add(2 * time.Hour)),
	})
	traceID, clientSpan := randomHex(t, 16), randomHex(t, 8)
	resp := tracedRequest(t, c, "00-"+traceID+"-"+clientSpan+"-01", "POST", "/api/v1/notifications", token, map[string]any{
		"event_id": ev["id"], "send_at": rfc3339(time.Now().Add(4 * time.Second)),
	})
	if resp.Status != http.StatusCreated {
		t.Fatalf("create reminder: %d\n%s", resp.Status, resp.Body)
	}
	requestID := resp.Header.Get("X-Request-Id")
	mailTo(t, smtp, "tracy@example.com", "Reminder: Traced concert")

	// The spans of every hop, by service and name.
	type hop struct{ Service, Name string }
	want := []hop{
		{"eventpost-gateway", "POST /api/v1/notifications"},
		{"eventpost-notifications", "POST /api/v1/notifications"},
		{"eventpost-events", "GET /api/v1/events/{id}"},
		{"eventpost-notifications", "claim reminder"},
		{"eventpost-notifications", "send email.send"},
		{"eventpost-mailer", "process email.send"},
		{"eventpost-mailer", "send email"},
		{"eventpost-mailer", "send email.result"},
		{"eventpost-notifications", "process email.result"},
	}
	hasAll := func(spans []otlptest.Span) bool {
		for _, w := range want {
			if !slices.ContainsFunc(spans, func(s otlptest.Span) bool {
				return s.TraceID == traceID && s.Service == w.Service && s.Name == w.Name
			}) {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := rcv.WaitFor(ctx, func(spans []otlptest.Span, _ []otlptest.LogRecord) bool { return hasAll(spans) })
	spans := rcv.Trace(traceID)
	t.Logf("trace %s:\n%s", traceID, otlptest.FormatTrace(spans))
	if err != nil {
		t.Fatalf("not every hop of the reminder is in its trace: %v", err)
	}

	// One tree: the gateway's span is the client's span's child, and every other span's
	// parent is in the trace.
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	for _, s := range spans {
		switch {
		case s.Service == "eventpost-gateway" && s.ParentSpanID == clientSpan:
		case ids[s.ParentSpanID]:
		default:
			t.Errorf("span %s: %s has parent %q, which is not in the trace", s.Service, s.Name, s.ParentSpanID)
		}
		if s.Error {
			t.Errorf("span %s: %s failed", s.Service, s.Name)
		}
	}

	// The log records exported over OTLP: each service on the path logged in the trace.
	wantLogs := []hop{
		{"eventpost-gateway", "request"},
		{"eventpost-events", "request"},
		{"eventpost-notifications", "request"},
		{"eventpost-notifications", "reminder claimed"},
		{"eventpost-mailer", "email sent"},
		{"eventpost-notifications", "reminder sent"},
	}
	hasLogs := func(logs []otlptest.LogRecord) []hop {
		var missing []hop
		for _, w := range wantLogs {
			if !slices.ContainsFunc(logs, func(l otlptest.LogRecord) bool {
				return l.TraceID == traceID && l.Service == w.Service && l.Body == w.Name
			}) {
				missing = append(missing, w)
			}
		}
		return missing
	}
	if err := rcv.WaitFor(ctx, func(_ []otlptest.Span, logs []otlptest.LogRecord) bool { return len(hasLogs(logs)) == 0 }); err != nil {
		t.Errorf("log records missing from the trace: %v: %+v", err, hasLogs(rcv.Logs()))
	}
	for _, l := range rcv.TraceLogs(traceID) {
		if l.Attributes["service"] == "" || l.Attributes["instance"] == "" {
			t.Errorf("log record %q of %s lacks the service or instance attribute: %v", l.Body, l.Service, l.Attributes)
		}
	}

	// The JSON lines of the processes' output: the same, with the request's ID on the
	// request's lines.
	inTrace := map[string]bool{}
	for _, line := range jsonLines(t, logPath) {
		if line["trace_id"] != traceID {
			continue
		}
		for _, k := range []string{"time", "level", "msg", "service", "instance", "span_id"} {
			if _, ok := line[k]; !ok {
				t.Errorf("log line lacks %q: %v", k, line)
			}
		}
		if line["msg"] == "request" && line["request_id"] != requestID {
			t.Errorf("request log line has request_id %v, want the request's %s: %v", line["request_id"], requestID, line)
		}
		inTrace[line["service"].(string)+": "+line["msg"].(string)] = true
	}
	for _, w := range wantLogs {
		if k := strings.TrimPrefix(w.Service, "eventpost-") + ": " + w.Name; !inTrace[k] {
			t.Errorf("no log line %q in the trace; lines in it: %v", k, inTrace)
		}
	}
}

// tracedRequest is client.do with a traceparent header.
func tracedRequest(t *testing.T, c *client, traceparent, method, path, token string, body any) response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Traceparent", traceparent)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: out.Bytes()}
}

// jsonLines returns the JSON objects among the lines of the file at path.
func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// BenchmarkGetEventThroughGatewayTraced is BenchmarkGetEventThroughGateway with OpenTelemetry
// set up as the processes set it up: spans made but not exported, and exported over OTLP to a
// receiver in the test (batched, as in production).
func BenchmarkGetEventThroughGatewayTraced(b *testing.B) {
	for _, bc := range []struct {
		name   string
		export bool
	}{{"no-export", false}, {"otlp-export", true}} {
		b.Run(bc.name, func(b *testing.B) {
			vars := map[string]string{}
			if bc.export {
				vars["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlptest.Start(b).URL
			}
			shutdown, err := telemetry.Setup(context.Background(), "", "bench", func(k string) string { return vars[k] })
			if err != nil {
				b.Fatal(err)
			}
			defer shutdown(context.Background())
			getEventThroughGateway(b)
		})
	}
}
