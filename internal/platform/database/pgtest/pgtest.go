// Package pgtest gives each test a clean PostgreSQL database with a service's schema: the
// schema is migrated once into a template database, which is then copied per test (CREATE
// DATABASE … TEMPLATE) and dropped when the test ends.
//
// Tests reach the server at EVENTPOST_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). When it does not answer,
// the tests skip with a message — unless EVENTPOST_INTEGRATION=1, which CI sets: then they fail.
package pgtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/integration"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// DefaultURL is the server the tests use when EVENTPOST_TEST_POSTGRES_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// postgres says where the test server is and how to start it when it does not answer.
var postgres = integration.Server{Name: "PostgreSQL", EnvVar: "EVENTPOST_TEST_POSTGRES_URL", Default: DefaultURL, Start: "start PostgreSQL"}

// ServerURL returns the URL of the test server's maintenance database.
func ServerURL() string { return postgres.Addr() }

var templates sync.Map // template name → *sync.Once guarding its creation in this process

// server returns a connection to the maintenance database, closed when t ends, skipping or
// failing t when the server does not answer.
func server(t testing.TB) *sql.DB {
	t.Helper()
	admin, err := sql.Open("pgx", ServerURL())
	if err == nil {
		t.Cleanup(func() { admin.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = admin.PingContext(ctx)
	}
	if err != nil {
		postgres.Unavailable(t, ServerURL(), err)
	}
	return admin
}

// URL returns the URL of a new, empty database copied from a template migrated with schemas;
// the database is dropped when t ends.
func URL(t testing.TB, schemas ...database.Schema) string {
	t.Helper()
	adm := server(t)
	tmpl, err := template(adm, schemas)
	if err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}
	name := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	ctx := context.Background()
	// Copying a template fails while another session is connected to it; retry briefly.
	for attempt := 0; ; attempt++ {
		_, err = adm.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tmpl))
		if err == nil || attempt == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := adm.ExecContext(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(ServerURL(), name)
}

// DB opens a new database as URL does and closes it when t ends.
func DB(t testing.TB, schemas ...database.Schema) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", URL(t, schemas...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// template returns the name of a template database migrated with schemas, creating it once.
// Its name is a hash of the migrations, so a changed migration makes a new template, and
// test processes running at once agree on it (an advisory lock serializes its creation).
func template(adm *sql.DB, schemas []database.Schema) (string, error) {
	sum, err := digest(schemas)
	if err != nil {
		return "", err
	}
	name := "tmpl_" + sum
	once, _ := templates.LoadOrStore(name, new(sync.Once))
	var createErr error
	once.(*sync.Once).Do(func() { createErr = createTemplate(adm, name, schemas) })
	if createErr != nil {
		templates.Delete(name)
		return "", createErr
	}
	return name, nil
}

func createTemplate(adm *sql.DB, name string, schemas []database.Schema) error {
	ctx := context.Background()
	conn, err := adm.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7202611)`); err != nil {
		return err
	}
	defer conn.ExecContext(ctx, `SELECT pg_advisory_unlock(7202611)`) //nolint:errcheck
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	building := name + "_new"
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return err
	}
	db, err := database.OpenPostgres(ctx, withDatabase(ServerURL(), building), database.PostgresConfig{MaxConns: 2}, logging.Discard(), schemas...)
	if err != nil {
		return err
	}
	db.Close()
	// Renamed only once complete, so no test ever copies a half-migrated template.
	_, err = conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name))
	return err
}

// digest hashes every migration file of schemas with its version table.
func digest(schemas []database.Schema) (string, error) {
	h := sha256.New()
	for _, s := range schemas {
		fmt.Fprintf(h, "table=%s dir=%s\n", s.Table, s.Dir)
		var files []string
		err := fs.WalkDir(s.FS, s.Dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := fs.ReadFile(s.FS, f)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s %d\n", f, len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func withDatabase(server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		return server
	}
	u.Path = "/" + name
	return u.String()
}

// TableOptions returns the storage parameters set on table in db (pg_class.reloptions), such
// as "autovacuum_vacuum_scale_factor=0.01", joined by commas; "" when none are set.
func TableOptions(t testing.TB, db *sql.DB, table string) string {
	t.Helper()
	var opts string
	err := db.QueryRowContext(context.Background(),
		`SELECT COALESCE(array_to_string(reloptions, ','), '') FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&opts)
	if err != nil {
		t.Fatalf("storage parameters of %s: %v", table, err)
	}
	return opts
}
