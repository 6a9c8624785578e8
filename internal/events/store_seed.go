package events

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/sync/errgroup"

	"github.com/eventpost/eventpost/internal/platform/database"
)

// Seed stores n events from g, and the store's copy of the accounts of their organizers
// (SampleOrganizers, so that the events show their organizers' names), in large
// transactions, then refreshes the planner's statistics. It writes no outbox message: sample
// events are not announced. It may run while the service uses the store, from another
// process too. progress, when not nil, is called with the number of events stored after each
// transaction.
func (s *SQLStore) Seed(ctx context.Context, g *Sample, n int, progress func(stored int)) error {
	if n < 0 {
		return fmt.Errorf("seed: %d events", n)
	}
	err := s.Bulk(ctx, func() error {
		return s.InTx(ctx, func(tx *sql.Tx) error {
			for _, a := range g.organizers {
				if err := s.putAccount(ctx, tx, a); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("seed organizers: %w", err)
	}
	if s.Dialect() == database.Postgres {
		err = s.seedPostgres(ctx, g, n, progress)
	} else {
		err = s.seedSQLite(ctx, g, n, progress)
	}
	if err != nil {
		return fmt.Errorf("seed events: %w", err)
	}
	return nil
}

// seedBatch is how many events a statement of Seed stores, in a transaction of its own. A
// SQLite transaction holds the database's write lock: at several thousand events a second,
// other writers wait up to a few seconds (they wait up to 10, see database.OpenSQLite).
// A variable, so that the tests store a few events in several batches.
var seedBatch = 10_000

// seedFTSHashSize is how much memory the full-text index may hold pending rows in (its
// 'hashsize', 1 MiB by default) while Seed stores events: enough for a batch, which then
// makes one segment of the index rather than dozens to merge.
const seedFTSHashSize = 128 << 20

// seedCacheMiB is the page cache of the connection Seed stores events with in SQLite.
const seedCacheMiB = 64

// seedMergePages is how many pages of the full-text index a transaction of Seed merges once
// the events are stored.
const seedMergePages = 2000

// seedSQLite stores n events from g in SQLite, seedBatch per statement. Each statement is a
// transaction of its own, and one: a statement that writes the full-text index (here through
// the triggers, which also keep the tag and place indexes) inside a longer transaction begins
// with a savepoint, where the index writes the rows it holds in memory out as a new segment
// and SQLite journals every page the statement changes. A statement per event made a segment
// per event, and merging them was most of the work. Then it merges the full-text index's
// segments, in transactions of seedMergePages pages, analyzes the database and empties the
// write-ahead log. Its connection keeps temporary data in memory, a larger page cache and the
// file mapped into memory (database.BulkLoadPragmas) until it is done.
func (s *SQLStore) seedSQLite(ctx context.Context, g *Sample, n int, progress func(int)) error {
	cols, err := s.writeColumns(Event{})
	if err != nil {
		return err
	}
	insert := seedInsert(cols)
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	restore, err := database.BulkLoadPragmas(ctx, conn, seedCacheMiB)
	if err != nil {
		return err
	}
	defer restore()
	restoreHash, err := s.ftsHashSize(ctx, conn, seedFTSHashSize)
	if err != nil {
		return err
	}
	defer restoreHash()
	// One goroutine generates the batches, the other stores them: SQLite has one writer, and
	// generating a batch takes about a tenth of the time storing it does.
	eg, egCtx := errgroup.WithContext(ctx)
	batches := make(chan seedJSON, 1)
	eg.Go(func() error {
		return produceSeed(egCtx, n, batches, func(size int) (seedJSON, error) {
			rows, err := s.seedRows(g, size)
			if err != nil {
				return seedJSON{}, err
			}
			b, err := json.Marshal(rows)
			return seedJSON{size: size, rows: string(b)}, err
		})
	})
	eg.Go(func() error {
		done := 0
		for b := range batches {
			if err := s.autocommit(egCtx, conn, insert, b.rows); err != nil {
				return err
			}
			done += b.size
			if progress != nil {
				progress(done)
			}
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return err
	}
	if err := s.mergeFTS(ctx, conn); err != nil {
		return err
	}
	return s.autocommit(ctx, conn, `ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)`)
}

// seedInsert returns the statement that stores a batch of events, its one argument a JSON
// array with an array per event: the start second shifted by seqShift, the ID, then the
// values of cols. The SELECT reads events, so SQLite computes every row before it inserts
// the first: each event's seq follows the last seq of its start second as the statement
// finds it (nextSeq), its rank among the batch's events of that second added. An event's
// second would need 2^24 events to overflow into the next one.
func seedInsert(cols []column) string {
	names, values := []string{"seq", "id"}, []string{
		`coalesce((SELECT max(seq) FROM events WHERE seq >= r.value ->> 0 AND seq < (r.value ->> 0) + ` +
			fmt.Sprint(1<<seqShift) + `), (r.value ->> 0) - 1) + row_number() OVER (PARTITION BY r.value ->> 0 ORDER BY r.key)`,
		`r.value ->> 1`,
	}
	for i, c := range cols {
		names = append(names, c.name)
		values = append(values, fmt.Sprintf(`r.value ->> %d`, i+2))
	}
	return `INSERT INTO events (` + strings.Join(names, ", ") + `) SELECT ` + strings.Join(values, ", ") + ` FROM json_each(?) r`
}

// autocommit runs query, a statement that is its own transaction, on conn, waiting for the
// store's other transactions in this process (see database.Store.InTx), and for those of
// other processes (database.Store.Bulk).
func (s *SQLStore) autocommit(ctx context.Context, conn *sql.Conn, query string, args ...any) error {
	return s.Bulk(ctx, func() error {
		return s.WithWriter(ctx, func() error {
			_, err := conn.ExecContext(ctx, query, args...)
			return err
		})
	})
}

// ftsHashSize sets the full-text index's hashsize to size and returns the function that sets it
// back. It changes nothing for the service, whose transactions write the index one statement
// of one event at a time: a statement begins with a savepoint, where the index writes out
// what it holds.
func (s *SQLStore) ftsHashSize(ctx context.Context, conn *sql.Conn, size int) (func(), error) {
	old := 1 << 20 // FTS5's default
	err := conn.QueryRowContext(ctx, `SELECT v FROM events_fts_config WHERE k = 'hashsize'`).Scan(&old)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	set := `INSERT INTO events_fts (events_fts, rank) VALUES ('hashsize', ?)`
	if err := s.autocommit(ctx, conn, set, size); err != nil {
		return nil, err
	}
	return func() { _ = s.autocommit(context.WithoutCancel(ctx), conn, set, old) }, nil
}

// mergeFTS merges the segments of the full-text index into one, as its 'optimize' command
// does, but in statements that write about seedMergePages pages each, so that no other writer
// waits long: the first 'merge' takes every segment, the next ones finish that merge even if
// others add segments meanwhile, and a 'merge' that changes fewer than two rows had nothing
// left to do.
func (s *SQLStore) mergeFTS(ctx context.Context, conn *sql.Conn) error {
	pages := -seedMergePages
	for {
		var before, after int64
		if err := conn.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
			return err
		}
		if err := s.autocommit(ctx, conn, `INSERT INTO events_fts (events_fts, rank) VALUES ('merge', ?)`, pages); err != nil {
			return fmt.Errorf("merge full-text index: %w", err)
		}
		if err := conn.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
			return err
		}
		if after-before < 2 {
			return nil
		}
		pages = seedMergePages
	}
}

// seedPostgresWorkers is how many connections seedPostgres loads batches over at once: the
// server's work on a batch (the words' vectors, the GIN and B-tree indexes) runs in the
// backend of its connection, one core each.
const seedPostgresWorkers = 2

// seedPostgres stores n events from g in PostgreSQL, seedBatch per transaction, over
// seedPostgresWorkers connections at once: the batches are generated here, in order, and each
// worker copies one (COPY) into a temporary table of its connection, moves it into events
// with one INSERT … SELECT that computes the columns the store computes in SQL, and takes the
// next. Then it vacuums and analyzes events.
func (s *SQLStore) seedPostgres(ctx context.Context, g *Sample, n int, progress func(int)) error {
	cols, err := s.writeColumns(Event{})
	if err != nil {
		return err
	}
	names, exprs := []string{"id"}, []string{"id"}
	for _, c := range cols {
		names = append(names, c.name)
		exprs = append(exprs, strings.Replace(c.expr, "?", c.name, 1))
	}
	insert := `INSERT INTO events (` + strings.Join(names, ", ") + `) SELECT ` + strings.Join(exprs, ", ") + ` FROM events_seed`
	eg, egCtx := errgroup.WithContext(ctx)
	batches := make(chan [][]any, seedPostgresWorkers)
	var (
		mu   sync.Mutex
		done int
	)
	for range seedPostgresWorkers {
		eg.Go(func() error {
			return s.seedPostgresWorker(egCtx, names, insert, batches, func(size int) {
				mu.Lock()
				defer mu.Unlock()
				done += size
				if progress != nil {
					progress(done)
				}
			})
		})
	}
	eg.Go(func() error {
		return produceSeed(egCtx, n, batches, func(size int) ([][]any, error) { return s.seedRows(g, size) })
	})
	if err := eg.Wait(); err != nil {
		return err
	}
	_, err = s.DB().ExecContext(ctx, `VACUUM ANALYZE events`)
	return err
}

// seedJSON is a batch of events for seedInsert: size events as a JSON array of their rows.
type seedJSON struct {
	size int
	rows string
}

// produceSeed sends n events on out, which it closes, in batches of seedBatch that batch
// generates.
func produceSeed[B any](ctx context.Context, n int, out chan<- B, batch func(size int) (B, error)) error {
	defer close(out)
	for made := 0; made < n; {
		size := min(seedBatch, n-made)
		b, err := batch(size)
		if err != nil {
			return err
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		made += size
	}
	return nil
}

// seedRows generates size events from g as the rows that Seed stores: in PostgreSQL the ID
// then the values of the write columns, the rows of the seed table; in SQLite the start second
// shifted by seqShift first, and the values as the driver would send them (seedInsert).
func (s *SQLStore) seedRows(g *Sample, size int) ([][]any, error) {
	sqlite := s.Dialect() == database.SQLite
	rows := make([][]any, 0, size)
	for range size {
		e := g.Event()
		cols, err := s.writeColumns(e)
		if err != nil {
			return nil, err
		}
		row := make([]any, 0, len(cols)+2)
		if sqlite {
			row = append(row, secFloor(database.Micros(e.StartsAt))<<seqShift)
		}
		row = append(row, e.ID)
		for _, c := range cols {
			v := c.arg
			if sqlite {
				if v, err = sqldriver.DefaultParameterConverter.ConvertValue(c.arg); err != nil {
					return nil, fmt.Errorf("%s: %w", c.name, err)
				}
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// seedPostgresWorker stores the batches it receives, over a connection of its own, until
// batches is closed; stored is called with the size of each stored batch.
func (s *SQLStore) seedPostgresWorker(ctx context.Context, names []string, insert string, batches <-chan [][]any, stored func(int)) error {
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, stmt := range []string{
		`DROP TABLE IF EXISTS events_seed`,
		`CREATE TEMP TABLE events_seed (LIKE events INCLUDING DEFAULTS)`,
		`ALTER TABLE events_seed DROP COLUMN search, ADD COLUMN search text`, // the text to_tsvector reads
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS events_seed`) //nolint:errcheck // the connection may be gone
	for batch := range batches {
		err := conn.Raw(func(driverConn any) error {
			_, err := driverConn.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"events_seed"}, names, pgx.CopyFromRows(batch))
			return err
		})
		if err != nil {
			return err
		}
		for _, stmt := range []string{insert, `TRUNCATE events_seed`} {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		stored(len(batch))
	}
	return nil
}
