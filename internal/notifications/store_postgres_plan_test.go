package notifications

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/database/pgtest"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/paging"
)

// planBase is the time the seeded reminders are laid out from.
var planBase = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// seedReminders fills the database of s with events snapshots and n reminders, one second
// apart from planBase, spread over accounts and events; every scheduledEvery-th one is
// scheduled and the others sent (1: all scheduled). Every account has a copy, a calendar
// feed (token "token-<n>") and, all told, n attendances (a third of them going). It returns after VACUUM ANALYZE.
func seedReminders(t testing.TB, db *sql.DB, events, accounts, n, scheduledEvery int) {
	t.Helper()
	ctx := context.Background()
	body, err := json.Marshal(messages.Event{
		ID: "ev-X", OrganizerID: "org", Title: "Concert", StartsAt: planBase.Add(24 * time.Hour), Timezone: "UTC",
		Tags: []string{"music"}, CreatedAt: planBase, UpdatedAt: planBase,
	})
	if err != nil {
		t.Fatal(err)
	}
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO event_snapshots (id, organizer_id, starts_at, updated_at, body)
			SELECT 'ev-' || g, 'org', $1, $2, replace($3, 'ev-X', 'ev-' || g)::jsonb FROM generate_series(1, $4) g`,
			[]any{database.Micros(planBase.Add(24 * time.Hour)), database.Micros(planBase), string(body), events}},
		{`INSERT INTO reminders (id, account_id, event_id, email, send_at, note, status, created_at)
			SELECT gen_random_uuid()::text, 'acct-' || (g % $1), 'ev-' || (g % $2 + 1), 'someone@example.com',
				$3 + g * 1000000::bigint, '', CASE WHEN g % $4 = 0 THEN 'scheduled' ELSE 'sent' END, $3
			FROM generate_series(1, $5) g`,
			[]any{accounts, events, database.Micros(planBase), scheduledEvery, n}},
		{`INSERT INTO attendances (account_id, event_id, status, version)
			SELECT 'acct-' || (g % $1), 'ev-' || (g % $2 + 1), CASE WHEN g % 3 = 0 THEN 'going' ELSE 'interested' END, 1
			FROM generate_series(1, $3) g ON CONFLICT DO NOTHING`, []any{accounts, events, n}},
		{`INSERT INTO calendar_feeds (account_id, token, created_at)
			SELECT 'acct-' || g, 'token-' || g, 0 FROM generate_series(0, $1 - 1) g`, []any{accounts}},
		{`INSERT INTO accounts (account_id, email, email_verified, display_name, version)
			SELECT 'acct-' || g, 'a' || g || '@example.com', true, 'Name ' || g, 1 FROM generate_series(0, $1 - 1) g`,
			[]any{accounts}},
		{`VACUUM ANALYZE`, nil},
	}
	for _, st := range stmts {
		if _, err := db.ExecContext(ctx, st.q, st.args...); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
}

func openPlanStore(t testing.TB) *SQLStore {
	t.Helper()
	s, err := Open(context.Background(), database.Postgres, pgtest.URL(t, postgresSchemas()...), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPostgresQueriesUseIndexes explains the store's frequent queries over 100,000
// reminders, a tenth of them scheduled, and fails on a sequential scan.
func TestPostgresQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds 100,000 reminders")
	}
	s := openPlanStore(t)
	seedReminders(t, s.DB(), 2000, 10000, 100000, 10)
	d := database.Postgres
	mid := database.Micros(planBase.Add(50000 * time.Second))
	list := func(f ListFilter) (string, []any) { return listQuery(f) }
	queries := []struct {
		name  string
		query string
		args  []any
	}{
		{"ClaimDue", dueQuery + skipLocked.clause(d, "r"), []any{mid, 100}},
		{"NextSendAt", nextSendAtQuery, nil},
		{"CountScheduled", countScheduledQuery, nil},
		{"Tx.EventReminders", eventRemindersQuery + forUpdate.clause(d, "r"), []any{"ev-7", string(StatusScheduled)}},
		{"Tx.Reminder", selectReminders + ` WHERE r.id = ?` + forUpdate.clause(d, "r"), []any{"0190a000-0000-7000-8000-000000000001"}},
		{"ListReminders", "", nil},
		{"ListReminders by status and event", "", nil},
		{"CalendarOwner", feedOwnerQuery, []any{"token-7"}},
		{"CalendarState", feedStateQuery, []any{"acct-7", "acct-7", database.Micros(planBase), "acct-7"}},
		{"CalendarEvents", feedEventsQuery, []any{"acct-7", "acct-7", database.Micros(planBase)}},
		{"CalendarEvents reminders", feedRemindersQuery, []any{"acct-7"}},
	}
	after := &paging.Key{Time: planBase.Add(20000 * time.Second), ID: "0190a000-0000-7000-8000-000000000001"}
	queries[5].query, queries[5].args = list(ListFilter{AccountID: "acct-7", After: after, Limit: DefaultListLimit + 1})
	queries[6].query, queries[6].args = list(ListFilter{AccountID: "acct-7", Status: StatusScheduled, EventID: "ev-8", After: after, Limit: 51})
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			var plan string
			if err := s.DB().QueryRowContext(context.Background(), "EXPLAIN (FORMAT JSON) "+d.Rebind(q.query), q.args...).Scan(&plan); err != nil {
				t.Fatalf("explain: %v", err)
			}
			var nodes []struct {
				Plan planNode `json:"Plan"`
			}
			if err := json.Unmarshal([]byte(plan), &nodes); err != nil || len(nodes) != 1 {
				t.Fatalf("explain output %q: %v", plan, err)
			}
			var scans []string
			nodes[0].Plan.walk(func(n planNode) {
				if n.Relation != "" {
					scans = append(scans, n.Type+" on "+n.Relation)
				}
				if n.Type == "Seq Scan" {
					t.Errorf("sequential scan on %s", n.Relation)
				}
			})
			t.Logf("%s: %s", q.name, strings.Join(scans, ", "))
		})
	}
}

// TestPostgresListPagesFromTheIndex explains pages of an account that holds 10,000
// reminders: each is read from an index of the account's reminders in the list's order
// (reminders_account, or reminders_account_status for a status) and stops at the page's end,
// with no sort of all the account's reminders, so that a page costs what it returns, not
// what the account holds.
func TestPostgresListPagesFromTheIndex(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seeds 100,000 reminders")
	}
	s := openPlanStore(t)
	seedReminders(t, s.DB(), 100, 10, 100000, 10)
	after := &paging.Key{Time: planBase.Add(50000 * time.Second), ID: "0190a000-0000-7000-8000-000000000001"}
	for _, tt := range []struct {
		name  string
		f     ListFilter
		index string
	}{
		{"first page", ListFilter{AccountID: "acct-7", Limit: DefaultListLimit + 1}, "reminders_account"},
		{"a page after a cursor", ListFilter{AccountID: "acct-7", After: after, Limit: DefaultListLimit + 1}, "reminders_account"},
		{"first page by status", ListFilter{AccountID: "acct-7", Status: StatusScheduled, Limit: MaxListLimit + 1}, "reminders_account_status"},
		{"a page by status after a cursor", ListFilter{AccountID: "acct-7", Status: StatusSent, After: after, Limit: 2}, "reminders_account_status"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			query, args := listQuery(tt.f)
			var plan string
			if err := s.DB().QueryRowContext(context.Background(), "EXPLAIN (FORMAT JSON) "+database.Postgres.Rebind(query), args...).Scan(&plan); err != nil {
				t.Fatalf("explain: %v", err)
			}
			var nodes []struct {
				Plan planNode `json:"Plan"`
			}
			if err := json.Unmarshal([]byte(plan), &nodes); err != nil || len(nodes) != 1 {
				t.Fatalf("explain output %q: %v", plan, err)
			}
			if nodes[0].Plan.Type != "Limit" {
				t.Errorf("plan starts with %s, want Limit", nodes[0].Plan.Type)
			}
			var scans []string
			usesIndex := false
			nodes[0].Plan.walk(func(n planNode) {
				if n.Relation != "" {
					scans = append(scans, n.Type+" on "+n.Relation+" using "+n.Index)
				}
				if n.Relation == "reminders" && n.Type == "Index Scan" && n.Index == tt.index {
					usesIndex = true
				}
				if n.Type == "Sort" || n.Type == "Incremental Sort" || n.Type == "Seq Scan" {
					t.Errorf("%s node in the plan", n.Type)
				}
			})
			if !usesIndex {
				t.Errorf("reminders are not read from %s in order: %s", tt.index, strings.Join(scans, ", "))
			}
			t.Logf("%s", strings.Join(scans, ", "))
		})
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// BenchmarkPostgresClaimDue measures how fast scheduler replicas (claimers) empty a queue of
// 10,000 due reminders in batches of 100: each claim selects its batch FOR UPDATE SKIP
// LOCKED, marks it sending and writes one email.send per reminder to the outbox.
//
//	go test -run '^$' -bench PostgresClaimDue ./internal/notifications/
func BenchmarkPostgresClaimDue(b *testing.B) {
	const n, batch = 10000, 100
	for _, claimers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("claimers=%d", claimers), func(b *testing.B) {
			s := openPlanStore(b)
			seedReminders(b, s.DB(), 100, 1000, n, 1)
			ctx := context.Background()
			now := planBase.Add(n * time.Second)
			claimed := 0
			for b.Loop() {
				b.StopTimer()
				for _, q := range []string{`UPDATE reminders SET status = 'scheduled'`, `DELETE FROM outbox`} {
					if _, err := s.DB().ExecContext(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				var wg sync.WaitGroup
				counts := make([]int, claimers)
				for c := range claimers {
					wg.Go(func() {
						for {
							rs, err := s.ClaimDue(ctx, now, batch, func(_ Tx, r Reminder) (Claim, error) {
								m, err := reminderEmail(ctx, r, delivery{})
								return Claim{Mail: &m}, err
							})
							if err != nil {
								b.Error(err)
								return
							}
							if len(rs) == 0 {
								return
							}
							counts[c] += len(rs)
						}
					})
				}
				wg.Wait()
				for _, k := range counts {
					claimed += k
				}
			}
			if claimed != n*b.N {
				b.Fatalf("claimed %d reminders in %d rounds, want %d", claimed, b.N, n*b.N)
			}
			b.ReportMetric(float64(claimed)/b.Elapsed().Seconds(), "reminders/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
