package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/notifications"
	"github.com/eventpost/eventpost/internal/platform/paging"
)

// listPage returns the page of f after the key after (nil: the first page), and the key of
// its last reminder (nil when it is empty).
func listPage(t *testing.T, s notifications.Store, f notifications.ListFilter, after *paging.Key) ([]notifications.Reminder, *paging.Key) {
	t.Helper()
	f.After = after
	rs, err := s.ListReminders(context.Background(), f)
	if err != nil {
		t.Fatalf("ListReminders(%+v): %v", f, err)
	}
	if len(rs) > f.Limit {
		t.Fatalf("ListReminders(%+v) returned %d reminders, more than the limit", f, len(rs))
	}
	if len(rs) == 0 {
		return rs, nil
	}
	last := rs[len(rs)-1]
	return rs, &paging.Key{Time: last.SendAt, ID: last.ID}
}

// listAll pages through f with pages of f.Limit, calling between (when not nil) after each
// page with its number (from 1) and the IDs listed so far, and returns the IDs listed in
// order.
func listAll(t *testing.T, s notifications.Store, f notifications.ListFilter, between func(page int, listed []string)) []string {
	t.Helper()
	var (
		all   []string
		after *paging.Key
	)
	for page := 1; ; page++ {
		rs, last := listPage(t, s, f, after)
		all = append(all, ids(rs)...)
		if len(rs) < f.Limit {
			return all
		}
		after = last
		if between != nil {
			between(page, all)
		}
		if page > 1000 {
			t.Fatal("paging does not end")
		}
	}
}

// pagingFixture creates, for account, n reminders spread over two events, several of them
// sharing a send_at (the ID orders those), and for bob reminders interleaved with hers; it
// returns alice's IDs in the list order.
func pagingFixture(t *testing.T, s notifications.Store, account string, n int) []string {
	t.Helper()
	e1 := event("e1", base.Add(time.Hour), base)
	e2 := event("e2", base.Add(2*time.Hour), base)
	var rs []notifications.Reminder
	for i := range n {
		ev := e1
		if i%2 == 1 {
			ev = e2
		}
		// Three reminders at each time: ties on send_at across page boundaries.
		rs = append(rs, reminder(t, account, ev, base.Add(-time.Duration(n-i/3)*time.Minute), nil))
		if i%4 == 0 {
			rs = append(rs, reminder(t, "bob", ev, base.Add(-time.Duration(n-i/3)*time.Minute), nil))
		}
	}
	// Created out of order, so that insertion order is not the list order.
	for i := len(rs) - 1; i >= 0; i -= 2 {
		create(t, s, rs[i])
	}
	for i := len(rs) - 2; i >= 0; i -= 2 {
		create(t, s, rs[i])
	}
	want, err := s.ListReminders(context.Background(), notifications.ListFilter{AccountID: account, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != n {
		t.Fatalf("%s has %d reminders, want %d", account, len(want), n)
	}
	for i := 1; i < len(want); i++ {
		a, b := want[i-1], want[i]
		if a.SendAt.After(b.SendAt) || (a.SendAt.Equal(b.SendAt) && a.ID >= b.ID) {
			t.Fatalf("list out of order at %d: %v %s before %v %s", i, a.SendAt, a.ID, b.SendAt, b.ID)
		}
	}
	return ids(want)
}

func testListPages(t *testing.T, s notifications.Store) {
	const n = 11
	want := pagingFixture(t, s, "alice", n)
	for _, limit := range []int{1, 2, 3, 5, 10, 11, 12, 100} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			got := listAll(t, s, notifications.ListFilter{AccountID: "alice", Limit: limit}, nil)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pages joined mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a full page ends where the limit says", func(t *testing.T) {
		rs, _ := listPage(t, s, notifications.ListFilter{AccountID: "alice", Limit: 4}, nil)
		if diff := cmp.Diff(want[:4], ids(rs)); diff != "" {
			t.Errorf("first page mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("after the last reminder, nothing", func(t *testing.T) {
		last := get(t, s, want[n-1])
		rs, _ := listPage(t, s, notifications.ListFilter{AccountID: "alice", Limit: 5}, &paging.Key{Time: last.SendAt, ID: last.ID})
		if len(rs) != 0 {
			t.Errorf("listed %v after the last reminder", ids(rs))
		}
	})
	t.Run("a key between reminders continues after it", func(t *testing.T) {
		// A key that is no reminder's (its reminder was deleted, say): the list continues
		// with the reminders after its position.
		r := get(t, s, want[4])
		rs, _ := listPage(t, s, notifications.ListFilter{AccountID: "alice", Limit: 3}, &paging.Key{Time: r.SendAt, ID: r.ID + "~"})
		if diff := cmp.Diff(want[5:8], ids(rs)); diff != "" {
			t.Errorf("page after a missing key mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("a limit below 1 is an error", func(t *testing.T) {
		if rs, err := s.ListReminders(context.Background(), notifications.ListFilter{AccountID: "alice"}); err == nil {
			t.Errorf("ListReminders without a limit = %d reminders, want an error", len(rs))
		}
	})
}

// testListPagesStableWhileChanging pages through a list while, between pages, reminders are
// added before and after the position reached, one not listed yet is cancelled and one
// listed already deleted: every reminder there from start to end that the filter keeps is
// listed exactly once, in order, the ones added after the position too, and none added
// before it.
func testListPagesStableWhileChanging(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	ev := event("e1", base.Add(time.Hour), base)
	for _, tc := range []struct {
		name   string
		status notifications.Status
	}{{"all", ""}, {"scheduled only", notifications.StatusScheduled}} {
		t.Run(tc.name, func(t *testing.T) {
			// An account per run: the first run leaves its changes.
			account := "alice-" + strings.ReplaceAll(tc.name, " ", "-")
			want := pagingFixture(t, s, account, 12)
			earliest := get(t, s, want[0]).SendAt
			var added, cancelled, early []string
			f := notifications.ListFilter{AccountID: account, Status: tc.status, Limit: 3}
			got := listAll(t, s, f, func(page int, listed []string) {
				if page > 2 {
					return
				}
				e := reminder(t, account, ev, earliest.Add(-time.Duration(page)*time.Minute), nil)
				l := reminder(t, account, ev, base.Add(time.Duration(page)*time.Minute), nil)
				create(t, s, e, l)
				early, added = append(early, e.ID), append(added, l.ID)
				next := want[len(listed)+1] // not listed yet, nor the first of the next page
				if ok, err := s.Transition(ctx, next, notifications.StatusScheduled, notifications.StatusCancelled, nil, ""); err != nil || !ok {
					t.Fatalf("cancel %s: %v, %v", next, ok, err)
				}
				cancelled = append(cancelled, next)
				update(t, s, func(ctx context.Context, tx notifications.Tx) error {
					return tx.DeleteReminder(ctx, listed[len(listed)-2])
				})
			})
			for _, id := range got {
				if contains(early, id) {
					t.Errorf("reminder %s, added before the position reached, was listed", id)
				}
			}
			var wantIDs []string
			for _, id := range want {
				if tc.status == "" || !contains(cancelled, id) {
					wantIDs = append(wantIDs, id)
				}
			}
			wantIDs = append(wantIDs, added...)
			if diff := cmp.Diff(wantIDs, got); diff != "" {
				t.Errorf("listed while changing mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func testListPagesWithFilters(t *testing.T, s notifications.Store) {
	ctx := context.Background()
	all := pagingFixture(t, s, "alice", 13)
	// Cancel every third reminder.
	for i := 0; i < len(all); i += 3 {
		if ok, err := s.Transition(ctx, all[i], notifications.StatusScheduled, notifications.StatusCancelled, nil, ""); err != nil || !ok {
			t.Fatalf("cancel: %v, %v", ok, err)
		}
	}
	filtered := func(keep func(r notifications.Reminder) bool) []string {
		var out []string
		for _, id := range all {
			if keep(get(t, s, id)) {
				out = append(out, id)
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    notifications.ListFilter
		keep func(r notifications.Reminder) bool
	}{
		{"status", notifications.ListFilter{Status: notifications.StatusScheduled},
			func(r notifications.Reminder) bool { return r.Status == notifications.StatusScheduled }},
		{"event", notifications.ListFilter{EventID: "e2"},
			func(r notifications.Reminder) bool { return r.EventID == "e2" }},
		{"status and event", notifications.ListFilter{Status: notifications.StatusCancelled, EventID: "e1"},
			func(r notifications.Reminder) bool {
				return r.EventID == "e1" && r.Status == notifications.StatusCancelled
			}},
	}
	for _, tt := range tests {
		want := filtered(tt.keep)
		if len(want) < 3 {
			t.Fatalf("%s: only %d reminders match; the fixture should give more", tt.name, len(want))
		}
		for _, limit := range []int{1, 2, len(want)} {
			t.Run(fmt.Sprintf("%s/limit=%d", tt.name, limit), func(t *testing.T) {
				f := tt.f
				f.AccountID, f.Limit = "alice", limit
				if diff := cmp.Diff(want, listAll(t, s, f, nil)); diff != "" {
					t.Errorf("pages joined mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}
