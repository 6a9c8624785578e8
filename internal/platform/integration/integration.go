// Package integration holds the rule the test-support packages (pgtest, amqptest,
// consultest) share for the servers integration tests need: where a server is (an
// environment variable, or a default), and what a test does when it does not answer — it
// skips with a message saying how to run it, unless EVENTPOST_INTEGRATION=1, which CI sets:
// then it fails.
package integration

import (
	"fmt"
	"os"
	"testing"
)

// Required reports whether integration tests must run (EVENTPOST_INTEGRATION=1), so that a
// missing server fails them instead of skipping them.
func Required() bool { return os.Getenv("EVENTPOST_INTEGRATION") == "1" }

// Server is a server that integration tests need.
type Server struct {
	Name    string // as messages name it: "PostgreSQL"
	EnvVar  string // the environment variable giving its address: "EVENTPOST_TEST_POSTGRES_URL"
	Default string // its address when EnvVar is unset
	Start   string // how to start it, as the skip message says: "start PostgreSQL"
}

// Addr returns the server's address: EnvVar's value, or Default when it is unset.
func (s Server) Addr() string {
	if a := os.Getenv(s.EnvVar); a != "" {
		return a
	}
	return s.Default
}

// Unavailable ends t because the server at where did not answer (err): t fails when
// Required, and skips otherwise.
func (s Server) Unavailable(t testing.TB, where string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s at %s does not answer (%v)", s.Name, where, err)
	if Required() {
		t.Fatalf("%s; EVENTPOST_INTEGRATION=1 requires it", msg)
	}
	t.Skipf("%s: skipping; %s or set %s, and set EVENTPOST_INTEGRATION=1 to make this a failure", msg, s.Start, s.EnvVar)
}
