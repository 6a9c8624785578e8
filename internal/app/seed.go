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
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/private"
)

// Seed's bounds: the events a first look wants, and the most one run loads.
const (
	defaultSeedEvents = 200
	maxSeedEvents     = 10_000_000
)

// runSeed loads sample events into the events store that the configuration from getenv names
// (`eventpost seed [--events N]`): the events service's PostgreSQL database when
// EVENTPOST_DATABASE_URL is set, as `serve events` reads it, else the all-in-one mode's SQLite
// file under EVENTPOST_DATA_DIR. It writes through the store, not the API, and may run while
// EventPost does.
func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	n, err := seedFlags(args)
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
	d, dsn, where := database.SQLite, sqlitePath(cfg.DataDir, discovery.Events), ""
	if cfg.DatabaseURL != "" {
		d, dsn = database.Postgres, cfg.DatabaseURL
		where = "PostgreSQL " + redactedURL(dsn)
	} else {
		if err := private.MkdirAll(cfg.DataDir, log); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		where = dsn
	}
	st, err := events.Open(ctx, d, dsn, log)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	err = st.Seed(ctx, events.NewSample(uint64(start.UnixNano()), start), n, func(stored int) {
		if n >= 100_000 && stored%100_000 == 0 && stored < n {
			fmt.Fprintf(stdout, "%d of %d events stored\n", stored, n)
		}
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "loaded %d sample events into %s in %v (%.0f events/s)\n",
		n, where, took.Round(time.Millisecond), float64(n)/cmp.Or(took.Seconds(), 1e-9))
	return nil
}

// seedFlags reads seed's arguments and returns the number of events to load.
func seedFlags(args []string) (int, error) {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("events", defaultSeedEvents, "how many events to load")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, err
		}
		return 0, fmt.Errorf("seed: %w (see eventpost help)", err)
	}
	if fs.NArg() > 0 {
		return 0, fmt.Errorf("seed: unexpected argument %q (see eventpost help)", fs.Arg(0))
	}
	if *n < 0 || *n > maxSeedEvents {
		return 0, fmt.Errorf("seed: --events must be from 0 to %d, got %d", maxSeedEvents, *n)
	}
	return *n, nil
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
