package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/integration"
)

// Server is a PostgreSQL server of one test's own, for fault tests that stop and restart it
// — which the shared server cannot be, as other tests use it at the same time. It runs the
// installed PostgreSQL's programs on a free port of 127.0.0.1, with its data in a temporary
// directory, as the postgres account when the tests run as root; it is stopped and its files
// removed when the test ends.
type Server struct {
	t    testing.TB
	bin  string // the directory holding initdb, pg_ctl and postgres
	dir  string // the data directory
	port int
	run  func(name string, args ...string) *exec.Cmd
}

// StartServer initializes and starts a private server. Without PostgreSQL's programs it
// skips t, or fails it when integration tests are required.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := serverBinaries()
	if err != nil {
		postgres.Unavailable(t, "a private server", err)
	}
	home := integration.PrivateDir(t, "postgres", "postgres")
	s := &Server{
		t: t, bin: bin, dir: filepath.Join(home, "data"), port: integration.FreePort(t),
		run: func(name string, args ...string) *exec.Cmd { return integration.Command("postgres", name, args...) },
	}
	if out, err := s.run(filepath.Join(bin, "initdb"), "-D", s.dir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = s.pgCtl("stop", "-m", "immediate") })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL returns the URL of the server's maintenance database, as the superuser postgres.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server (again, after Kill) and waits until it accepts connections.
func (s *Server) Start() error {
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=300", s.port, filepath.Dir(s.dir))
	if err := s.pgCtl("start", "-w", "-t", "60", "-l", filepath.Join(filepath.Dir(s.dir), "server.log"), "-o", opts); err != nil {
		return err
	}
	return integration.WaitPort(s.port, true, 30*time.Second)
}

// Kill stops the server as a crash would (pg_ctl's immediate mode: no checkpoint, every
// connection cut; the next start recovers from the write-ahead log) and waits until its port
// refuses connections.
func (s *Server) Kill() error {
	if err := s.pgCtl("stop", "-m", "immediate", "-w"); err != nil {
		return err
	}
	return integration.WaitPort(s.port, false, 30*time.Second)
}

// pgCtl runs pg_ctl on the server's data directory.
func (s *Server) pgCtl(args ...string) error {
	out, err := s.run(filepath.Join(s.bin, "pg_ctl"), append([]string{"-D", s.dir}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl %s: %w\n%s", args[0], err, out)
	}
	return nil
}

// serverBinaries finds the directory of the installed server's programs: pg_config's
// --bindir when it holds initdb, else Debian's /usr/lib/postgresql/<newest>/bin.
func serverBinaries() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := string(out[:len(out)-1])
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	if len(dirs) == 0 {
		return "", errors.New("no PostgreSQL server programs (initdb) installed")
	}
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

// version reads the major version from a path /usr/lib/postgresql/<version>/bin/initdb.
func version(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}
