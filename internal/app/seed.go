package app

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/private"
)

// Seed's bounds: the events a first look wants, and the most one run loads of each.
const (
	defaultSeedEvents = 200
	maxSeedEvents     = 10_000_000
	maxSeedReminders  = 10_000_000
)

// remindersPerSampleEvent is how many reminders the events that seed's reminders are for get
// on average: --reminders R reminds of the first ceil(R/remindersPerSampleEvent) events the
// run loads (all of them when it loads fewer).
const remindersPerSampleEvent = 10

// notificationsDatabaseEnv names the notifications service's PostgreSQL database, where
// `seed --reminders` writes when EVENTPOST_DATABASE_URL (then the events service's) is set.
// Only seed reads it.
const notificationsDatabaseEnv = "EVENTPOST_NOTIFICATIONS_DATABASE_URL"

// seedArgs are seed's arguments.
type seedArgs struct{ events, reminders int }

// runSeed loads sample events, and sample reminders for some of them, into the stores that
// the configuration from getenv names (`eventpost seed [--events N] [--reminders N]`): the
// PostgreSQL databases of the events service (EVENTPOST_DATABASE_URL, as `serve events` reads
// it) and of the notifications service (EVENTPOST_NOTIFICATIONS_DATABASE_URL) when
// EVENTPOST_DATABASE_URL is set, else the all-in-one mode's SQLite files under
// EVENTPOST_DATA_DIR. It writes through the stores, not the API, and may run while EventPost
// does.
func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	a, err := seedFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		_, err = io.WriteString(stdout, usage)
		return err
	}
	if err != nil {
		return err
	}
	cfg, err := ReadConfig(getenv, discovery.Events)
	if err != nil {
		return err
	}
	log := logging.New(stdout, max(cfg.LogLevel, slog.LevelWarn)) // no "migration applied" lines
	evDB := seedTarget(cfg, discovery.Events, cfg.DatabaseURL)
	url := getenv(notificationsDatabaseEnv)
	if a.reminders > 0 && cfg.DatabaseURL != "" && url == "" {
		return fmt.Errorf("seed: --reminders with EVENTPOST_DATABASE_URL (the events service's database) needs %s, the notifications service's", notificationsDatabaseEnv)
	}
	if cfg.DatabaseURL == "" {
		if err := private.MkdirAll(cfg.DataDir, log); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	kept, err := seedEvents(ctx, evDB, a, log, stdout)
	if err != nil || a.reminders == 0 {
		return err
	}
	return seedReminders(ctx, seedTarget(cfg, discovery.Notifications, url), kept, a.reminders, log, stdout)
}

// seedEvents stores a.events sample events into the events store of db, says how many and how
// fast on stdout, and returns the first of them that a.reminders are for.
func seedEvents(ctx context.Context, db seedDB, a seedArgs, log *slog.Logger, stdout io.Writer) ([]events.Event, error) {
	st, err := events.Open(ctx, db.dialect, db.dsn, log)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	start := time.Now()
	g := events.NewSample(uint64(start.UnixNano()), start)
	g.KeepFirst(min(a.events, (a.reminders+remindersPerSampleEvent-1)/remindersPerSampleEvent))
	err = st.Seed(ctx, g, a.events, func(stored int) {
		if a.events >= 100_000 && stored%100_000 == 0 && stored < a.events {
			fmt.Fprintf(stdout, "%d of %d events stored\n", stored, a.events)
		}
	})
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "loaded %d sample events into %s in %v (%.0f events/s)\n",
		a.events, db.where, took.Round(time.Millisecond), float64(a.events)/cmp.Or(took.Seconds(), 1e-9))
	return g.Kept(), nil
}

// seedReminders stores n sample reminders for the events evs into the notifications store of
// db, and says how many and how fast on stdout.
func seedReminders(ctx context.Context, db seedDB, evs []events.Event, n int, log *slog.Logger, stdout io.Writer) error {
	st, err := notifications.Open(ctx, db.dialect, db.dsn, log)
	if err != nil {
		return err
	}
	defer st.Close()
	snapshots := make([]messages.Event, len(evs))
	for i, e := range evs {
		snapshots[i] = e.Snapshot()
	}
	start := time.Now()
	accounts, err := st.SeedReminders(ctx, snapshots, n, uint64(start.UnixNano()), start, func(stored int) {
		if n >= 100_000 && stored%100_000 == 0 && stored < n {
			fmt.Fprintf(stdout, "%d of %d reminders stored\n", stored, n)
		}
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "loaded %d sample reminders of %d accounts for %d events into %s in %v (%.0f reminders/s)\n",
		n, accounts, len(evs), db.where, took.Round(time.Millisecond), float64(n)/cmp.Or(took.Seconds(), 1e-9))
	return nil
}

// seedDB is a store seed writes to: its engine, its DSN and how to name it.
type seedDB struct {
	dialect    database.Dialect
	dsn, where string
}

// seedTarget returns the store of the service named service: the PostgreSQL database url when
// EVENTPOST_DATABASE_URL is set, else the service's SQLite file of the all-in-one mode.
func seedTarget(cfg Config, service, url string) seedDB {
	if cfg.DatabaseURL == "" {
		path := sqlitePath(cfg.DataDir, service)
		return seedDB{database.SQLite, path, path}
	}
	return seedDB{database.Postgres, url, "PostgreSQL " + redactedURL(url)}
}

// seedFlags reads seed's arguments: --reminders without --events leaves the default events
// to remind of.
func seedFlags(args []string) (seedArgs, error) {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var a seedArgs
	fs.IntVar(&a.events, "events", defaultSeedEvents, "how many events to load")
	fs.IntVar(&a.reminders, "reminders", 0, "how many reminders to load")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return a, err
		}
		return a, fmt.Errorf("seed: %w (see eventpost help)", err)
	}
	switch {
	case fs.NArg() > 0:
		return a, fmt.Errorf("seed: unexpected argument %q (see eventpost help)", fs.Arg(0))
	case a.events < 0 || a.events > maxSeedEvents:
		return a, fmt.Errorf("seed: --events must be from 0 to %d, got %d", maxSeedEvents, a.events)
	case a.reminders < 0 || a.reminders > maxSeedReminders:
		return a, fmt.Errorf("seed: --reminders must be from 0 to %d, got %d", maxSeedReminders, a.reminders)
	case a.reminders > 0 && a.events == 0:
		return a, errors.New("seed: --reminders needs events to remind of: --events must be at least 1")
	}
	return a, nil
}

// redactedURL returns the database URL u without its password, or a placeholder when u does
// not parse.
func redactedURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(the URL of EVENTPOST_DATABASE_URL)"
	}
	return p.Redacted()
}
