package notifications_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// BenchmarkListFirstPage measures the first page of GET /api/v1/notifications, 10 reminders
// (limit=10), at the service, for an account holding 10 reminders and one holding 10,000,
// side by side in one database, on both engines: unfiltered, and filtered by status (the
// account of 10 has all of them scheduled, the account of 10,000 one in ten, the rest sent),
// so that every page holds 10. Keyset paging over an index of the account's reminders in the
// list's order makes both cost what the page returns. unpaged-reference reads the account of
// 10,000 whole, as the list did before it paged. PostgreSQL needs the server of the
// integration tests.
//
//	go test -run '^$' -bench ListFirstPage -benchtime 2000x ./internal/notifications/
func BenchmarkListFirstPage(b *testing.B) {
	engines := []struct {
		name string
		open func(b *testing.B) *notifications.SQLStore
	}{
		{"sqlite", func(b *testing.B) *notifications.SQLStore {
			s, err := notifications.Open(context.Background(), database.SQLite, filepath.Join(b.TempDir(), "n.db"), logging.Discard())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"postgres", func(b *testing.B) *notifications.SQLStore { return openPostgres(b, newPostgresURL(b)) }},
	}
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			st := eng.open(b)
			seedList(b, st, "acc-small", 10, 1)
			seedList(b, st, "acc-large", 10000, 10)
			if st.Dialect() == database.Postgres {
				if _, err := st.DB().Exec(`VACUUM ANALYZE`); err != nil {
					b.Fatal(err)
				}
			}
			svc, err := notifications.New(notifications.DefaultConfig(), notifications.Deps{
				Common: svcdeps.Common{Outbox: &countingNotifier{}, Log: logging.Discard(), Now: func() time.Time { return now }},
				Store:  st, Events: &fakeEvents{events: map[string]messages.Event{}},
				Verifier: keys.Verifier("notifications", "gateway"),
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, filter := range []struct {
				name string
				f    notifications.ListFilter
			}{
				{"all", notifications.ListFilter{Limit: 10}},
				{"scheduled", notifications.ListFilter{Status: notifications.StatusScheduled, Limit: 10}},
			} {
				for _, acc := range []struct {
					id   string
					held int
				}{{"acc-small", 10}, {"acc-large", 10000}} {
					b.Run(fmt.Sprintf("%s/reminders=%d", filter.name, acc.held), func(b *testing.B) {
						for b.Loop() {
							page, err := svc.List(context.Background(), acc.id, filter.f)
							if err != nil {
								b.Fatal(err)
							}
							if len(page.Items) != 10 || page.NextCursor == nil && acc.held > 10 {
								b.Fatalf("first page of %d reminders, next %v; want 10 and more to come", len(page.Items), page.NextCursor)
							}
						}
					})
				}
			}
			// The reference: the list before it paged, every reminder of the account at once.
			b.Run("unpaged-reference/reminders=10000", func(b *testing.B) {
				for b.Loop() {
					rs, err := st.ListReminders(context.Background(), notifications.ListFilter{AccountID: "acc-large", Limit: 10001})
					if err != nil || len(rs) != 10000 {
						b.Fatalf("%d reminders, %v", len(rs), err)
					}
				}
			})
		})
	}
}

// seedList gives account n reminders of one event, a minute apart, one in scheduledEvery
// scheduled and the others sent, inserted in one transaction.
func seedList(b *testing.B, st *notifications.SQLStore, account string, n, scheduledEvery int) {
	b.Helper()
	ctx := context.Background()
	ev := testEvent("ev-"+account, now.Add(30*24*time.Hour))
	first := notifications.Reminder{
		ID: account + "-00000", AccountID: account, EventID: ev.ID, Email: account + "@example.com",
		SendAt: now.Add(time.Minute), Status: notifications.StatusScheduled, CreatedAt: now, Event: ev,
	}
	if err := st.CreateReminder(ctx, first); err != nil {
		b.Fatal(err)
	}
	err := st.InTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, st.Rebind(`INSERT INTO reminders
			(id, account_id, event_id, email, send_at, note, status, created_at) VALUES (?, ?, ?, ?, ?, '', ?, ?)`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := 1; i < n; i++ {
			status := notifications.StatusSent
			if i%scheduledEvery == 0 {
				status = notifications.StatusScheduled
			}
			_, err := stmt.ExecContext(ctx, fmt.Sprintf("%s-%05d", account, i), account, ev.ID, first.Email,
				database.Micros(now.Add(time.Duration(i+1)*time.Minute)), string(status), database.Micros(now))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
