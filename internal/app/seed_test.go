package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/app"
	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// seed runs `eventpost seed args…` with the environment env and returns what it printed.
func seed(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := app.Run(context.Background(), append([]string{"seed"}, args...), func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("eventpost seed %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	if want := fmt.Sprintf("loaded %s sample events into ", args[len(args)-1]); !strings.Contains(out.String(), want) {
		t.Errorf("eventpost seed printed %q, want %q…", out.String(), want)
	}
	return out.String()
}

// TestSeedWhileRunning loads sample events twice into the data directory of a running
// all-in-one system: the gateway then lists them all, each with its organizer's name, and a
// search by word finds them.
func TestSeedWhileRunning(t *testing.T) {
	var dir string
	c, _, _ := startSystemWith(t, func(cfg *app.Config) { dir = cfg.DataDir })
	env := map[string]string{"EVENTPOST_DATA_DIR": dir}
	seed(t, env, "--events", "120")
	seed(t, env, "--events", "120")

	var listed []map[string]any
	for path := "/api/v1/events?limit=100"; ; {
		page := c.must(200, "GET", path, "", nil)
		for _, it := range page["items"].([]any) {
			listed = append(listed, it.(map[string]any))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/api/v1/events?limit=100&cursor=" + url.QueryEscape(next)
	}
	if len(listed) != 240 {
		t.Fatalf("the gateway lists %d events after two seeds of 120, want 240", len(listed))
	}
	for _, e := range listed {
		if name := e["organizer"].(map[string]any)["display_name"]; name == "" {
			t.Errorf("event %v shows no organizer name", e["id"])
		}
	}
	word := strings.ToLower(strings.Fields(listed[0]["title"].(string))[0])
	found := c.must(200, "GET", "/api/v1/events?limit=100&q="+url.QueryEscape(word), "", nil)["items"].([]any)
	if len(found) == 0 {
		t.Fatalf("q=%s found nothing", word)
	}
	for _, it := range found {
		e := it.(map[string]any)
		if !strings.Contains(strings.ToLower(fmt.Sprint(e["title"], e["description"], e["tags"])), word) {
			t.Errorf("q=%s found %q, which lacks the word", word, e["title"])
		}
	}
}

// TestSeedPostgres loads sample events twice into the events database EVENTPOST_DATABASE_URL
// names, as `serve events` reads it: the store then finds them all, by word too, and knows
// their organizers' names.
func TestSeedPostgres(t *testing.T) {
	dbURL := pgtest.URL(t)
	env := map[string]string{"EVENTPOST_DATABASE_URL": dbURL, "EVENTPOST_DATA_DIR": t.TempDir()}
	if out := seed(t, env, "--events", "150"); strings.Contains(out, "events.db") {
		t.Errorf("with EVENTPOST_DATABASE_URL, seed wrote to SQLite: %s", out)
	}
	seed(t, env, "--events", "150")

	ctx := context.Background()
	s, err := events.Open(ctx, database.Postgres, dbURL, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	search := func(q events.SearchQuery) []events.Event {
		now := time.Now()
		q.From, q.Limit = &now, 100
		var out []events.Event
		for {
			page, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, page.Events...)
			if !page.More {
				return out
			}
			last := page.Events[len(page.Events)-1]
			q.After = &events.Cursor{Time: last.StartsAt, ID: last.ID}
		}
	}
	all := search(events.SearchQuery{})
	if len(all) != 300 {
		t.Fatalf("found %d events after two seeds of 150, want 300", len(all))
	}
	var organizers []string
	for _, e := range all {
		organizers = append(organizers, e.OrganizerID)
	}
	names, err := s.DisplayNames(ctx, organizers)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if names[e.OrganizerID] == "" {
			t.Errorf("event %s: no name for its organizer %s", e.ID, e.OrganizerID)
		}
	}
	if found := search(events.SearchQuery{Words: []string{"music"}}); len(found) == 0 {
		t.Error("q=music found nothing among 300 sample events")
	}
}

// TestSeedBadArguments checks that seed refuses what it cannot do, saying why, before it
// touches the data directory, and that the binary then exits with status 1.
func TestSeedBadArguments(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--events", "-1"}, "--events must be from 0 to 10000000, got -1"},
		{[]string{"--events", "10000001"}, "--events must be from 0 to 10000000, got 10000001"},
		{[]string{"--events", "many"}, `invalid value "many" for flag -events`},
		{[]string{"--reminders", "5"}, "flag provided but not defined: -reminders"},
		{[]string{"--events", "5", "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			var out bytes.Buffer
			err := app.Run(context.Background(), append([]string{"seed"}, tt.args...),
				func(k string) string { return map[string]string{"EVENTPOST_DATA_DIR": dir}[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the data directory was made (%v)", err)
			}
		})
	}
	t.Run("exit status", func(t *testing.T) {
		cmd := exec.Command(buildBinary(t), "seed", "--events", "-5")
		cmd.Env = append(os.Environ(), "EVENTPOST_DATA_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("eventpost seed --events -5: %v, want exit status 1", err)
		}
		if !strings.Contains(string(out), "eventpost: seed: --events must be from 0 to 10000000, got -5") {
			t.Errorf("eventpost seed --events -5 printed %q", out)
		}
	})
}
