package notifications_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/notifications/storetest"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// BenchmarkFeed measures the calendar feed of an account going to 200 events with one
// reminder each, in SQLite: rendered in full, and answered 304 to its own ETag (what almost
// every poll of a calendar app is). "service" is CalendarFeed alone; "http" the handler,
// with the verification of the gateway's service token.
func BenchmarkFeed(b *testing.B) {
	ctx := context.Background()
	st, err := notifications.Open(ctx, database.SQLite, filepath.Join(b.TempDir(), "n.db"), logging.Discard())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg := notifications.DefaultConfig()
	cfg.PublicURL = "https://events.example.org"
	svc, err := notifications.New(cfg, notifications.Deps{
		Common: svcdeps.Common{Outbox: &countingNotifier{}, Log: logging.Discard(), Now: func() time.Time { return now }},
		Store:  st, Events: &fakeEvents{events: map[string]messages.Event{}},
		Verifier: keys.Verifier("notifications", "gateway"),
	})
	if err != nil {
		b.Fatal(err)
	}
	const n = 200
	for i := range n {
		ev := testEvent(fmt.Sprintf("ev-%03d", i), now.Add(time.Duration(i+1)*24*time.Hour))
		ev.Description = "An evening of jazz with friends, bring snacks and a good mood."
		err := st.CreateReminder(ctx, notifications.Reminder{
			ID: fmt.Sprintf("rem-%03d", i), AccountID: alice.id, EventID: ev.ID, Email: alice.email,
			SendAt: ev.StartsAt.Add(-time.Hour), MinutesBefore: ptr(60), Status: notifications.StatusScheduled,
			CreatedAt: now, Event: ev,
		})
		if err != nil {
			b.Fatal(err)
		}
		storetest.PutAttendance(b, st, alice.id, ev.ID, messages.AttendanceGoing, 1)
	}
	u, err := svc.CalendarURL(ctx, alice.id)
	if err != nil {
		b.Fatal(err)
	}
	path := u[len(cfg.PublicURL):]
	token := path[len("/api/v1/calendars/"):]
	full, err := svc.CalendarFeed(ctx, token, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("feed of %d events: %d bytes", n, len(full.Body))
	same := func(etag string) bool { return etag == full.ETag }

	b.Run("service/render-200", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if f, err := svc.CalendarFeed(ctx, token, nil); err != nil || len(f.Body) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("service/304-200", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if f, err := svc.CalendarFeed(ctx, token, same); err != nil || f.Body != nil {
				b.Fatalf("not unchanged: %v", err)
			}
		}
	})
	h := svc.Handler()
	serve := func(b *testing.B, ifNoneMatch string, want int) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if ifNoneMatch != "" {
				req.Header.Set("If-None-Match", ifNoneMatch)
			}
			signAsGateway(req, nobody)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != want {
				b.Fatalf("status %d, want %d", w.Code, want)
			}
		}
	}
	b.Run("http/render-200", func(b *testing.B) { serve(b, "", http.StatusOK) })
	b.Run("http/304-200", func(b *testing.B) { serve(b, full.ETag, http.StatusNotModified) })
}
