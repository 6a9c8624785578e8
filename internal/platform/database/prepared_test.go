package database_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// TestPreparedSQLite: Prepared answers as the database does — rows, a missing row, an
// error for bad SQL — also past its bound of kept statements, and a kept statement sees the
// rows written after it was prepared.
func TestPreparedSQLite(t *testing.T) {
	ctx := context.Background()
	st, err := database.Open(ctx, database.SQLite, filepath.Join(t.TempDir(), "p.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB().ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	p := st.Prepared()
	get := func(id int) (string, error) {
		var v string
		err := p.QueryRowContext(ctx, `SELECT v FROM t WHERE id = ?`, id).Scan(&v)
		return v, err
	}
	if _, err := get(1); err == nil {
		t.Fatal("row 1 found in an empty table")
	}
	for i := range 3 {
		if _, err := p.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (?, ?)`, i+1, fmt.Sprint("v", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := get(2); err != nil || v != "v2" {
		t.Errorf("row 2: %q, %v; want v2", v, err)
	}
	// More texts than are kept: each still answers.
	for i := range 100 {
		var n int
		q := fmt.Sprintf(`SELECT COUNT(*) + %d FROM t`, i)
		if err := p.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 3+i {
			t.Fatalf("%s: %d, %v; want %d", q, n, err, 3+i)
		}
	}
	rows, err := p.QueryContext(ctx, `SELECT v FROM t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[v1 v2 v3]" {
		t.Errorf("rows %v, want [v1 v2 v3]", got)
	}
	if err := p.QueryRowContext(ctx, `SELEC v FROM t`).Scan(new(string)); err == nil {
		t.Error("bad SQL answered without an error")
	}
}

// BenchmarkPreparedSQLite reads one row by primary key from a SQLite table of 22 columns (the
// shape of an event read), through the *sql.DB, which prepares the statement on every call,
// and through Prepared, which keeps it:
//
//	go test -run '^$' -bench BenchmarkPreparedSQLite -benchtime 2s -count 3 ./internal/platform/database/
func BenchmarkPreparedSQLite(b *testing.B) {
	ctx := context.Background()
	st, err := database.Open(ctx, database.SQLite, filepath.Join(b.TempDir(), "p.db"), logging.Discard())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var cols, names []string
	for i := range 22 {
		cols = append(cols, fmt.Sprintf("c%d TEXT NOT NULL DEFAULT 'value %d'", i, i))
		names = append(names, fmt.Sprintf("c%d", i))
	}
	if _, err := st.DB().ExecContext(ctx, `CREATE TABLE t (id TEXT PRIMARY KEY, `+strings.Join(cols, ", ")+`)`); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := st.DB().ExecContext(ctx, `INSERT INTO t (id) VALUES (?)`, fmt.Sprint("id-", i)); err != nil {
			b.Fatal(err)
		}
	}
	query := `SELECT ` + strings.Join(names, ", ") + ` FROM t WHERE id = ?`
	dest := make([]any, 22)
	for i := range dest {
		dest[i] = new(string)
	}
	for _, bc := range []struct {
		name string
		db   interface {
			QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		}
	}{{"every-call", st.DB()}, {"prepared", st.Prepared()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := bc.db.QueryRowContext(ctx, query, fmt.Sprint("id-", i%1000)).Scan(dest...); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
