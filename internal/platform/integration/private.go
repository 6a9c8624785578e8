package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitPort waits up to timeout until 127.0.0.1:port accepts connections (up is true) or
// refuses them (up is false).
func WaitPort(port int, up bool, timeout time.Duration) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(timeout); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		if (err == nil) == up {
			return nil
		}
		if time.Now().After(deadline) {
			state := map[bool]string{true: "accept", false: "refuse"}[up]
			return fmt.Errorf("%s does not %s connections after %s", addr, state, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PrivateDir makes a new directory, named after name, for a private server's files, removed
// when t ends. When this process runs as root and owner is not empty, the directory is given
// to owner, the system account the server's own package runs it as (servers such as
// PostgreSQL refuse to run as root), and Command runs the server's programs as that account.
func PrivateDir(t testing.TB, name, owner string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eventpost-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() != 0 || owner == "" {
		return dir
	}
	u, err := user.Lookup(owner)
	if err != nil {
		t.Fatalf("private %s server: %v", owner, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Command returns the command running name with args as owner when this process runs as
// root and owner is not empty (see PrivateDir), and as this process's user otherwise.
func Command(owner, name string, args ...string) *exec.Cmd {
	if os.Geteuid() != 0 || owner == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", owner, "--", name}, args...)...)
}
