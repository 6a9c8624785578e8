package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker/amqptest"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/discovery/consultest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// startCluster launches the distributed system — every service its own process of the real
// binary, against this machine's PostgreSQL, RabbitMQ and Consul agent — with databases,
// roles, queues and Consul names of its own that are removed when t ends, and mail going to
// smtp. The services register with Consul and find each other through it. They reach
// RabbitMQ through the returned proxy, which can cut their connections. It skips (or, with
// EVENTPOST_INTEGRATION=1, fails) when PostgreSQL, RabbitMQ or Consul does not answer.
// Every entry of env (NAME=value) is added to the processes' environment.
func startCluster(t testing.TB, smtp *smtptest.Server, replicas map[string]int, env ...string) (*app.Cluster, *client, *amqptest.Proxy) {
	t.Helper()
	cluster, c, proxy, _ := startClusterLogged(t, smtp, replicas, env...)
	return cluster, c, proxy
}

// startClusterLogged is startCluster that also returns the path of the file the processes
// write their log lines to.
func startClusterLogged(t testing.TB, smtp *smtptest.Server, replicas map[string]int, env ...string) (_ *app.Cluster, _ *client, _ *amqptest.Proxy, logPath string) {
	t.Helper()
	return startClusterOn(t, servers{}, smtp, replicas, env...)
}

// servers are the PostgreSQL and RabbitMQ servers a cluster uses: the URLs of a test's own
// (pgtest.StartServer, amqptest.StartServer), or empty for the shared test servers.
// keyDir, when set, is the launcher's KeyDir: the service keys are kept there.
type servers struct{ postgresURL, amqpURL, keyDir string }

// startClusterOn is startClusterLogged on the servers srv.
func startClusterOn(t testing.TB, srv servers, smtp *smtptest.Server, replicas map[string]int, env ...string) (_ *app.Cluster, _ *client, _ *amqptest.Proxy, logPath string) {
	t.Helper()
	if testing.Short() {
		t.Skip("distributed system: skipped with -short")
	}
	consultest.Client(t) // skips or fails when Consul does not answer
	dbPrefix := "ept_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	if srv.postgresURL == "" {
		pgtest.DB(t) // likewise for PostgreSQL
		srv.postgresURL = pgtest.ServerURL()
		t.Cleanup(func() { dropDatabases(t, dbPrefix) })
	}
	prefix := "eventpost-" + dbPrefix // a test's own server is removed with everything on it
	if srv.amqpURL == "" {
		srv.amqpURL, prefix = amqptest.URL(t, messages.Bindings...)
	}
	proxy := amqptest.NewProxy(t, srv.amqpURL)

	logPath = filepath.Join(t.TempDir(), "cluster.log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cfg := app.DefaultClusterConfig()
	cfg.Binary = buildBinary(t)
	cfg.PostgresURL = srv.postgresURL
	cfg.DatabasePrefix = dbPrefix
	cfg.AMQPURL = proxy.URL()
	cfg.ConsulAddr = consultest.Addr()
	cfg.GatewayAddr = freeAddr(t)
	cfg.Ports = nil // free ports
	cfg.KeyDir = srv.keyDir
	if replicas != nil {
		cfg.Replicas = replicas
	}
	cfg.Env = []string{
		"EVENTPOST_AMQP_PREFIX=" + prefix, "EVENTPOST_CONSUL_PREFIX=" + dbPrefix, "EVENTPOST_SMTP_URL=" + smtp.URL(), "EVENTPOST_DATA_DIR=" + t.TempDir(),
		"EVENTPOST_RATE_LIMIT=100000", "EVENTPOST_RATE_BURST=100000", "EVENTPOST_PUBLIC_URL=http://eventpost.test",
	}
	cfg.Env = append(cfg.Env, env...)
	cfg.Output = out
	cfg.Log = logging.New(out, nil).With("service", "launcher") // the status lines
	clusterLog := func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	}
	cluster, err := app.Launch(context.Background(), cfg)
	if err != nil {
		t.Fatalf("launch: %v\n%s", err, tail(clusterLog(), 40))
	}
	t.Cleanup(func() {
		cluster.Stop()
		if t.Failed() {
			t.Logf("cluster log (tail):\n%s", tail(clusterLog(), 60))
		}
	})
	c := newClient(t, cluster.URL)
	c.mail = smtp
	c.waitReady()
	return cluster, c, proxy, logPath
}

// dropDatabases removes the databases and roles the launcher made for prefix.
func dropDatabases(t testing.TB, prefix string) {
	db, err := sql.Open("pgx", pgtest.ServerURL())
	if err != nil {
		t.Error(err)
		return
	}
	defer db.Close()
	for _, name := range []string{discovery.Auth, discovery.Events, discovery.Notifications, discovery.Mailer} {
		ident := prefix + "_" + name
		for _, q := range []string{
			fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, ident),
			fmt.Sprintf(`DROP ROLE IF EXISTS %s`, ident),
		} {
			if _, err := db.Exec(q); err != nil {
				t.Errorf("cleanup: %s: %v", q, err)
			}
		}
	}
}

// TestDistributedUserStory walks the same user story as TestUserStory through the
// distributed system: every service a separate process, two replicas of notifications and
// of the email-sender, PostgreSQL per service, RabbitMQ between them; then the password
// reset story of TestPasswordResetStory and the mail-trust story of TestMailTrustStory.
func TestDistributedUserStory(t *testing.T) {
	smtp := smtptest.Start(t)
	key := newStoryDKIM(t)
	_, c, _ := startCluster(t, smtp, nil, key.env()...)
	userStory(t, c, smtp)
	passwordResetStory(t, c, smtp)
	mailTrustStory(t, c, smtp, key)
}
