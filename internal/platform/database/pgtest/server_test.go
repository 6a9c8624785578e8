package pgtest_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
)

// TestPrivateServerKeepsCommittedRowsOverACrash: what was committed before Kill is there
// after Start, and connections made before Kill fail after it.
func TestPrivateServerKeepsCommittedRowsOverACrash(t *testing.T) {
	srv := pgtest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2)`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := conn.PingContext(ctx); err == nil {
		t.Fatal("a connection made before the crash still answers")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT sum(n) FROM kept`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after the restart: sum = %d, %v; want 3", n, err)
	}
}
