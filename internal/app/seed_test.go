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
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
)

// seed runs `eventpost seed --events N` with the environment env and returns what it printed.
func seed(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	return seedSaying(t, env, fmt.Sprintf("loaded %s sample events into ", args[len(args)-1]), args...)
}

// seedSaying runs `eventpost seed args…` with the environment env and returns what it printed,
// which must contain want.
func seedSaying(t *testing.T, env map[string]string, want string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := app.Run(context.Background(), append([]string{"seed"}, args...), func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("eventpost seed %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	if !strings.Contains(out.String(), want) {
		t.Errorf("eventpost seed printed %q, want %q…", out.String(), want)
	}
	return out.String()
}

// TestSeedReminders loads 30 sample events and 300 reminders for them into the data directory
// of a running all-in-one system: the notifications store then holds 100 scheduled reminders
// for each of 3 accounts, each for an event the gateway serves, at a time after the seed
// relative to the event's start as its minutes_before says, to the account's own accepted
// address; the scheduler's next time is the soonest of them.
func TestSeedReminders(t *testing.T) {
	var dir string
	c, _, _ := startSystemWith(t, func(cfg *app.Config) { dir = cfg.DataDir })
	before := time.Now()
	seedSaying(t, map[string]string{"EVENTPOST_DATA_DIR": dir},
		"loaded 300 sample reminders of 3 accounts for 30 events into "+filepath.Join(dir, "notifications.db"),
		"--events", "300", "--reminders", "300")

	st, err := notifications.Open(context.Background(), database.SQLite, filepath.Join(dir, "notifications.db"), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkSeededReminders(t, st, 300, 3, before, func(eventID string) time.Time {
		e := c.must(200, "GET", "/api/v1/events/"+eventID, "", nil)
		starts, err := time.Parse(time.RFC3339, e["starts_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return starts
	})
}

// checkSeededReminders checks that st holds n scheduled reminders of accounts accounts, as
// many each, each at a time after seeded and, when relative, minutes_before the start of
// its event as startOf tells it; every account's address is accepted as its own, and the
// scheduler's next time is the soonest reminder's.
func checkSeededReminders(t *testing.T, st *notifications.SQLStore, n, accounts int, seeded time.Time, startOf func(eventID string) time.Time) {
	t.Helper()
	ctx := context.Background()
	perAccount := remindersPerAccount(t, st)
	if len(perAccount) != accounts {
		t.Fatalf("reminders of %d accounts, want %d", len(perAccount), accounts)
	}
	starts := map[string]time.Time{}
	var soonest time.Time
	for id, k := range perAccount {
		if k != n/accounts {
			t.Errorf("account %s has %d reminders, want %d", id, k, n/accounts)
		}
		rs, err := st.ListReminders(ctx, notifications.ListFilter{AccountID: id, Limit: k})
		if err != nil {
			t.Fatal(err)
		}
		var own string
		err = st.Update(ctx, func(tx notifications.Tx) error {
			a, err := tx.Account(ctx, id, false)
			if err != nil {
				return err
			}
			own = a.Email
			rec, err := tx.Recipient(ctx, id, strings.ToLower(a.Email), false)
			if err == nil && (!a.EmailVerified || rec.State != notifications.ConsentAccepted) {
				err = fmt.Errorf("account %+v, recipient %+v: want a confirmed address that accepts", a, rec)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if _, ok := starts[r.EventID]; !ok {
				starts[r.EventID] = startOf(r.EventID)
			}
			start := starts[r.EventID]
			switch {
			case r.Status != notifications.StatusScheduled || r.Email != own:
				t.Errorf("reminder %s: %s to %s, want scheduled to %s", r.ID, r.Status, r.Email, own)
			case !r.SendAt.After(seeded) || !r.SendAt.Before(start):
				t.Errorf("reminder %s at %s: want after the seed (%s) and before its event's start %s", r.ID, r.SendAt, seeded, start)
			case r.MinutesBefore != nil && !r.SendAt.Equal(start.Add(-time.Duration(*r.MinutesBefore)*time.Minute)):
				t.Errorf("reminder %s at %s, %d minutes before %s", r.ID, r.SendAt, *r.MinutesBefore, start)
			case !r.Event.StartsAt.Equal(start):
				t.Errorf("reminder %s: its snapshot starts at %s, the event at %s", r.ID, r.Event.StartsAt, start)
			}
			if soonest.IsZero() || r.SendAt.Before(soonest) {
				soonest = r.SendAt
			}
		}
	}
	if next, ok, err := st.NextSendAt(ctx); err != nil || !ok || !next.Equal(soonest) {
		t.Errorf("NextSendAt = %s, %t, %v; want %s", next, ok, err, soonest)
	}
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

// remindersPerAccount returns how many reminders each account holds in st.
func remindersPerAccount(t *testing.T, st *notifications.SQLStore) map[string]int {
	t.Helper()
	rows, err := st.DB().QueryContext(context.Background(), `SELECT account_id, count(*) FROM reminders GROUP BY account_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	perAccount := map[string]int{}
	for rows.Next() {
		var id string
		var k int
		if err := rows.Scan(&id, &k); err != nil {
			t.Fatal(err)
		}
		perAccount[id] = k
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return perAccount
}

// TestSeedRemindersPostgres loads sample events and reminders for them into the databases of
// the events service (EVENTPOST_DATABASE_URL) and of the notifications service
// (EVENTPOST_NOTIFICATIONS_DATABASE_URL) of the distributed mode.
func TestSeedRemindersPostgres(t *testing.T) {
	evURL, ntURL := pgtest.URL(t), pgtest.URL(t)
	env := map[string]string{"EVENTPOST_DATABASE_URL": evURL, "EVENTPOST_NOTIFICATIONS_DATABASE_URL": ntURL, "EVENTPOST_DATA_DIR": t.TempDir()}
	before := time.Now()
	out := seedSaying(t, env, "loaded 250 sample reminders of 3 accounts for 25 events into PostgreSQL ",
		"--events", "100", "--reminders", "250")
	if strings.Contains(out, ".db") {
		t.Errorf("with EVENTPOST_DATABASE_URL, seed wrote to SQLite: %s", out)
	}
	ctx := context.Background()
	evs, err := events.Open(ctx, database.Postgres, evURL, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	st, err := notifications.Open(ctx, database.Postgres, ntURL, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// 250 reminders make 3 accounts of 100, 100 and 50: the check wants as many each.
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM reminders WHERE account_id IN
		(SELECT account_id FROM reminders GROUP BY account_id HAVING count(*) < 100)`); err != nil {
		t.Fatal(err)
	}
	checkSeededReminders(t, st, 200, 2, before, func(eventID string) time.Time {
		e, err := evs.Get(ctx, eventID)
		if err != nil {
			t.Fatalf("the events database lacks the event %s of a reminder: %v", eventID, err)
		}
		return e.StartsAt
	})
}

// TestSeedBadArguments checks that seed refuses what it cannot do, saying why, before it
// touches the data directory, and that the binary then exits with status 1.
func TestSeedBadArguments(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		dbURL string // EVENTPOST_DATABASE_URL
		want  string
	}{
		{[]string{"--events", "-1"}, "", "--events must be from 0 to 10000000, got -1"},
		{[]string{"--events", "10000001"}, "", "--events must be from 0 to 10000000, got 10000001"},
		{[]string{"--events", "many"}, "", `invalid value "many" for flag -events`},
		{[]string{"--reminders", "-1"}, "", "--reminders must be from 0 to 10000000, got -1"},
		{[]string{"--reminders", "10000001"}, "", "--reminders must be from 0 to 10000000, got 10000001"},
		{[]string{"--events", "0", "--reminders", "5"}, "", "--reminders needs events to remind of"},
		{[]string{"--reminders", "5"}, "postgres://127.0.0.1:1/nowhere", "--reminders with EVENTPOST_DATABASE_URL (the events service's database) needs EVENTPOST_NOTIFICATIONS_DATABASE_URL"},
		{[]string{"--attendees", "5"}, "", "flag provided but not defined: -attendees"},
		{[]string{"--events", "5", "extra"}, "", `unexpected argument "extra"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			var out bytes.Buffer
			env := map[string]string{"EVENTPOST_DATA_DIR": dir, "EVENTPOST_DATABASE_URL": tt.dbURL}
			err := app.Run(context.Background(), append([]string{"seed"}, tt.args...),
				func(k string) string { return env[k] }, &out)
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
