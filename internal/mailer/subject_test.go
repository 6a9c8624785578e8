package mailer_test

import (
	"bytes"
	"mime"
	"net/mail"
	"os/exec"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/integration"
)

// TestSubjectsDecodeExactly renders subjects short and long, ASCII and not, and reads each
// back the way mail clients do: net/mail with mime.WordDecoder, and Python's email package
// under its strict policy. Each must read exactly the subject, with no leading space (a fold
// right after "Subject:" gave one to Python), and no header line may pass its length limit.
func TestSubjectsDecodeExactly(t *testing.T) {
	tests := []struct {
		name  string
		kind  messages.EmailKind
		title string
		want  string
	}{
		{name: "short ASCII", kind: messages.EmailWelcome, want: "Welcome to EventPost"},
		{name: "short non-ASCII", kind: messages.EmailReminder, title: "Käse", want: "Reminder: Käse"},
		{
			name: "long ASCII", kind: messages.EmailReminder, title: strings.TrimSpace(strings.Repeat("Long title word ", 11)),
			want: "Reminder: " + strings.TrimSpace(strings.Repeat("Long title word ", 11)),
		},
		{
			name: "long non-ASCII", kind: messages.EmailEventChanged, title: strings.TrimSpace(strings.Repeat("Fête à l'opéra ", 12)),
			want: "Changed: " + strings.TrimSpace(strings.Repeat("Fête à l'opéra ", 12)),
		},
		{
			name: "ASCII word too long to fold", kind: messages.EmailReminder, title: strings.Repeat("x", 150),
			want: "Reminder: " + strings.Repeat("x", 150),
		},
		{
			name: "four-byte characters across encoded words", kind: messages.EmailEventCancelled, title: strings.Repeat("🎷", 60),
			want: "Cancelled: " + strings.Repeat("🎷", 60),
		},
		{
			name: "long text that looks like encoded words", kind: messages.EmailReminder,
			title: strings.Repeat("=?utf-8?q?=0D=0ABcc:_evil@x?= ", 4), want: "Reminder: " + strings.TrimSpace(strings.Repeat("=?utf-8?q?=0D=0ABcc:_evil@x?= ", 4)),
		},
		{
			name: "capped title", kind: messages.EmailReminder, title: strings.Repeat("é", 500),
			want: headerCap("Reminder: " + strings.Repeat("é", 500)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := messages.EmailSend{IdempotencyKey: "k", Kind: tt.kind, To: "ann@example.com", Name: "Ann"}
			if tt.kind != messages.EmailWelcome {
				req.Event = testEvent()
				req.Event.Title = tt.title
			}
			_, raw, _ := render(t, req)
			checkSubjectLines(t, subjectLines(t, raw))

			m, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil || got != tt.want {
				t.Errorf("net/mail and mime.WordDecoder read %q (%v), want %q", got, err, tt.want)
			}
			if got := pythonStrictSubject(t, raw); got != tt.want {
				t.Errorf("Python's strict policy reads %q, want %q", got, tt.want)
			}
		})
	}
}

// subjectLines returns the lines of the Subject field of the message raw, as sent.
func subjectLines(t *testing.T, raw []byte) []string {
	t.Helper()
	var lines []string
	for _, line := range strings.Split(headerBlock(raw), "\r\n") {
		switch {
		case strings.HasPrefix(line, "Subject:"):
			lines = append(lines, line)
		case len(lines) > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
			lines = append(lines, line)
		case len(lines) > 0:
			return lines
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no Subject field in\n%s", raw)
	}
	return lines
}

// checkSubjectLines checks the folding of a Subject field: text on its first line, every
// line within RFC 5322's 78 characters, and within RFC 2047's 76 when it holds an encoded
// word.
func checkSubjectLines(t *testing.T, lines []string) {
	t.Helper()
	if strings.TrimSpace(strings.TrimPrefix(lines[0], "Subject:")) == "" {
		t.Errorf("the Subject field folds right after its name: %q", lines)
	}
	for _, line := range lines {
		limit := 78
		if strings.Contains(line, "=?UTF-8?") {
			limit = 76
		}
		if len(line) > limit {
			t.Errorf("Subject line of %d characters, over %d: %q", len(line), limit, line)
		}
		if strings.TrimSpace(line) == "" {
			t.Errorf("Subject line of white space only: %q", lines)
		}
	}
}

// pythonStrictSubject returns the Subject of the message raw as Python's email package reads
// it under email.policy.strict, which raises on any defect. Without python3 the test skips,
// unless EVENTPOST_INTEGRATION=1: then it fails.
func pythonStrictSubject(t *testing.T, raw []byte) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		if integration.Required() {
			t.Fatalf("python3 is not on PATH (%v); EVENTPOST_INTEGRATION=1 requires it", err)
		}
		t.Skipf("python3 is not on PATH (%v): install Python 3 to check subjects with its strict email policy", err)
	}
	const script = `import sys, email, email.policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.strict)
sys.stdout.buffer.write(str(m["Subject"]).encode("utf-8"))`
	cmd := exec.CommandContext(t.Context(), python, "-c", script)
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 strict parse: %v\n%s", err, stderr.String())
	}
	return string(out)
}
