package app_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// buildBinary builds cmd/eventpost into a temporary directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eventpost")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/eventpost/eventpost/cmd/eventpost").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address that nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is the all-in-one binary running as a child process.
type process struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startProcess(t *testing.T, bin string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, out: out}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

// TestReminderSurvivesACrash kills the all-in-one process with SIGKILL while a reminder is
// pending, starts it again on the same data directory after the reminder fell due, and
// checks that the reminder arrives, late, exactly once.
func TestReminderSurvivesACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary: skipped with -short")
	}
	bin := buildBinary(t)
	smtp := smtptest.Start(t)
	addr := freeAddr(t)
	env := []string{
		"EVENTPOST_HTTP_ADDR=" + addr, "EVENTPOST_DATA_DIR=" + t.TempDir(), "EVENTPOST_SMTP_URL=" + smtp.URL(),
		"EVENTPOST_RATE_LIMIT=1000", "EVENTPOST_RATE_BURST=1000",
	}
	first := startProcess(t, bin, env...)
	c := newClient(t, "http://"+addr)
	c.mail = smtp
	c.waitReady()

	alice, _ := c.signUpAndLogIn("alice@example.com", "Alice")
	mailTo(t, smtp, "alice@example.com", "Welcome")
	start := time.Now().Add(time.Minute + 4*time.Second).Truncate(time.Second)
	ev := c.must(201, "POST", "/api/v1/events", alice, map[string]any{"title": "Crash-proof concert", "starts_at": rfc3339(start)})
	rem := c.must(201, "POST", "/api/v1/notifications", alice, map[string]any{"event_id": ev["id"], "minutes_before": 1})
	due := start.Add(-time.Minute)

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	if n := countMail(t, smtp, "alice@example.com", "Reminder"); n != 0 {
		t.Fatalf("%d reminders went out before the crash; the test needs one still pending", n)
	}
	time.Sleep(time.Until(due) + time.Second) // the reminder falls due while nothing runs

	second := startProcess(t, bin, env...)
	c.waitReady()
	mailTo(t, smtp, "alice@example.com", "Reminder: Crash-proof concert")
	eventually(t, 30*time.Second, "the reminder's status to be sent", func() bool {
		return c.must(200, "GET", "/api/v1/notifications/"+rem["id"].(string), alice, nil)["status"] == "sent"
	})
	time.Sleep(2 * time.Second) // room for a duplicate to show up
	if n := countMail(t, smtp, "alice@example.com", "Reminder"); n != 1 {
		t.Errorf("%d reminder mails arrived, want exactly 1", n)
	}
	if n := countMail(t, smtp, "alice@example.com", "Welcome"); n != 1 {
		t.Errorf("%d welcome mails arrived, want exactly 1", n)
	}

	// A graceful stop (SIGTERM) ends the process cleanly.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, tail(second.out.String(), 20))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
