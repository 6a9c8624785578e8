package amqptest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/integration"
)

// rabbitBin is where Debian's package keeps RabbitMQ's own scripts, which unlike the
// wrappers in /usr/sbin take their settings from the environment.
const rabbitBin = "/usr/lib/rabbitmq/bin"

// Server is a RabbitMQ node of one test's own, for fault tests that stop and restart the
// broker — which the shared server cannot be, as other tests use it at the same time. It runs
// the installed RabbitMQ on free ports of 127.0.0.1 with its own node name, no plugins, and
// its database and logs in a temporary directory; it is stopped and its files removed when
// the test ends. Its queues and persistent messages outlive a restart, as a real broker's do.
type Server struct {
	t       testing.TB
	dir     string
	node    string
	port    int
	env     []string
	running *exec.Cmd
	exited  chan error
}

// StartServer starts a private RabbitMQ node. Without RabbitMQ installed it skips t, or
// fails it when integration tests are required.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(filepath.Join(rabbitBin, "rabbitmq-server")); err != nil {
		server.Unavailable(t, "a private node", errors.New("RabbitMQ is not installed in "+rabbitBin))
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	dir := integration.PrivateDir(t, "rabbitmq", "")
	s := &Server{t: t, dir: dir, node: "eventpost-test-" + hex.EncodeToString(b[:]) + "@localhost", port: integration.FreePort(t)}
	conf := filepath.Join(dir, "rabbitmq.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\n", s.port)), 0o600); err != nil {
		t.Fatal(err)
	}
	plugins := filepath.Join(dir, "enabled_plugins")
	if err := os.WriteFile(plugins, []byte("[].\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = append(os.Environ(),
		"HOME="+dir, // the Erlang cookie the node and rabbitmqctl share
		"RABBITMQ_NODENAME="+s.node,
		"RABBITMQ_NODE_PORT="+strconv.Itoa(s.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(integration.FreePort(t)),
		"RABBITMQ_CONFIG_FILE="+conf,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"), // absent: not /etc's
		"RABBITMQ_ENABLED_PLUGINS_FILE="+plugins,
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_FLAGS=-kernel inet_dist_use_interface {127,0,0,1}",
	)
	t.Cleanup(func() { _ = s.Kill() })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// URL returns the node's URL, as guest (which RabbitMQ admits from the loopback address).
func (s *Server) URL() string {
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", s.port)
}

// Start starts the node (again, after Kill) and waits until it accepts connections.
func (s *Server) Start() error {
	if s.running != nil {
		return errors.New("amqptest: the node is running")
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(rabbitBin, "rabbitmq-server"))
	cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Dir = s.env, log, log, s.dir
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("amqptest: start RabbitMQ: %w", err)
	}
	s.running, s.exited = cmd, make(chan error, 1)
	go func() { s.exited <- cmd.Wait(); log.Close() }()
	// The node opens its AMQP listener once it has booted.
	for deadline := time.Now().Add(2 * time.Minute); integration.WaitPort(s.port, true, time.Second) != nil; {
		select {
		case err := <-s.exited:
			s.running = nil
			out, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("amqptest: RabbitMQ exited while starting (%v):\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("amqptest: RabbitMQ did not start within 2 minutes")
		}
	}
	return nil
}

// Kill stops the node — its connections are closed, as when a broker is restarted — and
// waits until it has exited.
func (s *Server) Kill() error {
	if s.running == nil {
		return nil
	}
	if out, err := s.ctl("stop"); err != nil {
		_ = s.running.Process.Kill()
		s.t.Logf("amqptest: rabbitmqctl stop: %v\n%s", err, out)
	}
	var exit error
	select {
	case exit = <-s.exited:
	case <-time.After(60 * time.Second):
		_ = s.running.Process.Kill()
		exit = <-s.exited
	}
	if exit != nil {
		s.t.Logf("amqptest: RabbitMQ exited: %v", exit)
	}
	s.running = nil
	return integration.WaitPort(s.port, false, 30*time.Second)
}

// ctl runs rabbitmqctl against the node.
func (s *Server) ctl(args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(rabbitBin, "rabbitmqctl"), append([]string{"-n", s.node}, args...)...)
	cmd.Env, cmd.Dir = s.env, s.dir
	return cmd.CombinedOutput()
}
