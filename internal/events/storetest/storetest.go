// Package storetest is the contract suite of events.Store: every implementation of the
// interface (SQLite, PostgreSQL) must pass Run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/events"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/outbox/outboxtest"
)

// Run runs the contract suite. open must return a new, empty store for each call; the suite
// closes nothing, so open should register the cleanup with t. When the store has a
// DB() *sql.DB method, the suite also checks the rows it writes to the outbox table.
func Run(t *testing.T, open func(t *testing.T) events.Store) {
	t.Run("Create and Get", func(t *testing.T) { testCreateGet(t, open) })
	t.Run("Create conflict", func(t *testing.T) { testCreateConflict(t, open) })
	t.Run("Get unknown", func(t *testing.T) { testGetUnknown(t, open) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, open) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, open) })
	t.Run("DeleteByOrganizer", func(t *testing.T) { testDeleteByOrganizer(t, open) })
	t.Run("Tombstones", func(t *testing.T) { testTombstones(t, open) })
	t.Run("Search filters", func(t *testing.T) { testSearchFilters(t, open) })
	t.Run("Search order and paging", func(t *testing.T) { testSearchPaging(t, open) })
	t.Run("Search follows changes", func(t *testing.T) { testSearchFollowsChanges(t, open) })
	t.Run("Search distance", func(t *testing.T) { testSearchDistance(t, open) })
	t.Run("Search matches a reference", func(t *testing.T) { testSearchReference(t, open) })
	t.Run("concurrent writes", func(t *testing.T) { testConcurrentWrites(t, open) })
	t.Run("concurrent updates of one event", func(t *testing.T) { testConcurrentUpdates(t, open) })
	t.Run("attendance", func(t *testing.T) { testAttendance(t, open) })
	t.Run("concurrent attendance keeps the capacity", func(t *testing.T) { testConcurrentAttendance(t, open) })
	t.Run("accounts", func(t *testing.T) { testAccounts(t, open) })
	t.Run("attendance changes are announced", func(t *testing.T) { testAttendanceAnnounced(t, open) })
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// base is the time the suite's events start around.
var base = time.Date(2030, 6, 1, 18, 0, 0, 0, time.UTC)

// deletedAt is when the suite deletes events.
var deletedAt = time.Date(2030, 5, 20, 9, 30, 0, 123456000, time.UTC)

func ptr[T any](v T) *T { return &v }

// newEvent returns a valid event with a fresh ID, changed by opts.
func newEvent(opts ...func(*events.Event)) events.Event {
	e := events.Event{
		ID:               uuid.Must(uuid.NewV7()).String(),
		OrganizerID:      "organizer-1",
		Title:            "An event",
		Description:      "",
		StartsAt:         base,
		Timezone:         "UTC",
		Tags:             []string{},
		DefaultReminders: []int{},
		CreatedAt:        base.Add(-24 * time.Hour),
		UpdatedAt:        base.Add(-24 * time.Hour),
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func message(t *testing.T, typ, eventID string) broker.Message {
	t.Helper()
	return outboxtest.Message(t, typ, map[string]string{"event_id": eventID})
}

func mustCreate(t *testing.T, s events.Store, evs ...events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := s.Create(context.Background(), e); err != nil {
			t.Fatalf("create %s: %v", e.Title, err)
		}
	}
}

func testCreateGet(t *testing.T, open func(t *testing.T) events.Store) {
	tests := []struct {
		name string
		e    events.Event
	}{
		{"only required fields", newEvent()},
		{"every field", newEvent(func(e *events.Event) {
			e.Title = "Jazz in the park — ünïcödé"
			e.Description = "Bring a blanket.\nAnd friends."
			e.StartsAt = time.Date(2030, 7, 14, 19, 30, 15, 123456000, time.UTC)
			e.EndsAt = ptr(time.Date(2030, 7, 14, 22, 0, 0, 0, time.UTC))
			e.Timezone = "Europe/Paris"
			e.Location = &events.Location{Name: "Parc", Address: "1 rue X, Paris", Lat: ptr(48.8566), Lon: ptr(2.3522)}
			e.OnlineURL = ptr("https://example.com/live")
			e.Category = ptr("Music")
			e.Tags = []string{"jazz", "outdoors", "free"}
			e.Capacity = ptr(int64(250))
			e.Sequence = 3
		})},
		{"location without coordinates", newEvent(func(e *events.Event) {
			e.Location = &events.Location{Name: "Somewhere", Address: ""}
		})},
		{"times in another zone come back in UTC", newEvent(func(e *events.Event) {
			paris := time.FixedZone("CEST", 2*3600)
			e.StartsAt = time.Date(2030, 7, 14, 21, 30, 0, 0, paris)
			e.EndsAt = ptr(time.Date(2030, 7, 14, 23, 0, 0, 0, paris))
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			msg := message(t, messages.TypeEventChanged, tt.e.ID)
			if err := s.Create(ctx, tt.e, msg); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, tt.e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(normalize(tt.e), got); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
			for _, tm := range []time.Time{got.StartsAt, got.CreatedAt, got.UpdatedAt} {
				if tm.Location() != time.UTC {
					t.Errorf("time %v is not in UTC", tm)
				}
			}
			outboxtest.Check(t, s, msg.ID)
		})
	}
}

// normalize returns e as a store gives it back: UTC times to the microsecond.
func normalize(e events.Event) events.Event {
	utc := func(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
	e.StartsAt, e.CreatedAt, e.UpdatedAt = utc(e.StartsAt), utc(e.CreatedAt), utc(e.UpdatedAt)
	if e.EndsAt != nil {
		e.EndsAt = ptr(utc(*e.EndsAt))
	}
	if e.Tags == nil {
		e.Tags = []string{}
	}
	return e
}

func testCreateConflict(t *testing.T, open func(t *testing.T) events.Store) {
	s := open(t)
	ctx := context.Background()
	e := newEvent()
	first := message(t, messages.TypeEventChanged, e.ID)
	if err := s.Create(ctx, e, first); err != nil {
		t.Fatal(err)
	}
	again := newEvent(func(x *events.Event) { x.ID = e.ID; x.Title = "Other" })
	err := s.Create(ctx, again, message(t, messages.TypeEventChanged, e.ID))
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("Create with a taken ID = %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil || got.Title != e.Title {
		t.Errorf("after the conflict, Get = %q, %v; want the first event", got.Title, err)
	}
	outboxtest.Check(t, s, first.ID)
}

func testGetUnknown(t *testing.T, open func(t *testing.T) events.Store) {
	s := open(t)
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "", "not-a-uuid", "' OR 1=1 --"} {
		if _, err := s.Get(context.Background(), id); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func testUpdate(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	errRefused := errors.New("refused")
	tests := []struct {
		name    string
		change  func(e events.Event) events.Event
		refuse  bool
		wantErr error
	}{
		{name: "changes every field", change: func(e events.Event) events.Event {
			e.Title, e.Description = "New title", "New description"
			e.StartsAt = base.Add(48*time.Hour + 123*time.Microsecond)
			e.EndsAt = ptr(base.Add(50 * time.Hour))
			e.Timezone = "America/New_York"
			e.Location = &events.Location{Name: "Hall", Address: "Main St", Lat: ptr(40.7), Lon: ptr(-74.0)}
			e.OnlineURL, e.Category, e.Capacity = ptr("http://x.example"), ptr("Tech"), ptr(int64(3))
			e.Tags = []string{"go"}
			e.UpdatedAt = base
			e.Sequence++
			return e
		}},
		{name: "clears optional fields", change: func(e events.Event) events.Event {
			e.EndsAt, e.Location, e.OnlineURL, e.Category, e.Capacity = nil, nil, nil, nil, nil
			e.Tags = []string{}
			return e
		}},
		{name: "an error from change stores nothing", refuse: true, wantErr: errRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			orig := newEvent(func(e *events.Event) {
				e.EndsAt = ptr(base.Add(time.Hour))
				e.Location = &events.Location{Name: "A", Lat: ptr(1.0), Lon: ptr(2.0)}
				e.Category, e.Capacity, e.OnlineURL = ptr("Music"), ptr(int64(10)), ptr("https://a.example")
				e.Tags = []string{"a", "b"}
			})
			mustCreate(t, s, orig)
			msg := message(t, messages.TypeEventChanged, orig.ID)
			var want events.Event
			got, err := s.Update(ctx, orig.ID, func(old events.Event) (events.Event, []broker.Message, error) {
				if diff := cmp.Diff(normalize(orig), old); diff != "" {
					t.Errorf("change got (-want +got):\n%s", diff)
				}
				if tt.refuse {
					e := old
					e.Title = "must not be stored"
					return e, []broker.Message{msg}, errRefused
				}
				want = tt.change(old)
				return want, []broker.Message{msg}, nil
			}, nil)
			stored, gerr := s.Get(ctx, orig.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Update = %v, want %v", err, tt.wantErr)
				}
				if diff := cmp.Diff(normalize(orig), stored); diff != "" {
					t.Errorf("stored after a refused change (-want +got):\n%s", diff)
				}
				outboxtest.Check(t, s)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(normalize(want), got); diff != "" {
				t.Errorf("Update returned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(normalize(want), stored); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
			outboxtest.Check(t, s, msg.ID)
		})
	}
	t.Run("unknown event", func(t *testing.T) {
		s := open(t)
		_, err := s.Update(ctx, "unknown", func(e events.Event) (events.Event, []broker.Message, error) {
			t.Error("change called for an unknown event")
			return e, nil, nil
		}, nil)
		if !errors.Is(err, events.ErrNotFound) {
			t.Errorf("Update(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func testDelete(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	t.Run("deletes and stores the messages", func(t *testing.T) {
		s := open(t)
		e, other := newEvent(), newEvent()
		mustCreate(t, s, e, other)
		msg := message(t, messages.TypeEventDeleted, e.ID)
		got, err := s.Delete(ctx, e.ID, deletedAt, func(old events.Event) ([]broker.Message, error) {
			if old.ID != e.ID {
				t.Errorf("remove got %s, want %s", old.ID, e.ID)
			}
			return []broker.Message{msg}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(normalize(e), got); diff != "" {
			t.Errorf("Delete returned (-want +got):\n%s", diff)
		}
		if _, err := s.Get(ctx, e.ID); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, other.ID); err != nil {
			t.Errorf("the other event: %v", err)
		}
		outboxtest.Check(t, s, msg.ID)
		checkTombstone(t, s, normalize(e))
		if _, err := s.Tombstone(ctx, other.ID); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("Tombstone of an event not deleted = %v, want ErrNotFound", err)
		}
		if _, err := s.Delete(ctx, e.ID, deletedAt, func(events.Event) ([]broker.Message, error) { return nil, nil }); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("second Delete = %v, want ErrNotFound", err)
		}
	})
	t.Run("an error from remove keeps the event", func(t *testing.T) {
		s := open(t)
		e := newEvent()
		mustCreate(t, s, e)
		errNo := errors.New("no")
		_, err := s.Delete(ctx, e.ID, deletedAt, func(events.Event) ([]broker.Message, error) {
			return []broker.Message{message(t, messages.TypeEventDeleted, e.ID)}, errNo
		})
		if !errors.Is(err, errNo) {
			t.Fatalf("Delete = %v, want %v", err, errNo)
		}
		if _, err := s.Get(ctx, e.ID); err != nil {
			t.Errorf("Get after a refused Delete: %v", err)
		}
		if _, err := s.Tombstone(ctx, e.ID); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("Tombstone after a refused Delete = %v, want ErrNotFound", err)
		}
		outboxtest.Check(t, s)
	})
	t.Run("unknown event", func(t *testing.T) {
		s := open(t)
		_, err := s.Delete(ctx, "unknown", deletedAt, func(events.Event) ([]broker.Message, error) {
			t.Error("remove called for an unknown event")
			return nil, nil
		})
		if !errors.Is(err, events.ErrNotFound) {
			t.Errorf("Delete(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func testDeleteByOrganizer(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	mine := []events.Event{
		newEvent(func(e *events.Event) { e.OrganizerID = "gone"; e.StartsAt = base.Add(2 * time.Hour) }),
		newEvent(func(e *events.Event) {
			e.OrganizerID = "gone"
			e.StartsAt = base.Add(time.Hour)
			e.Tags = []string{"x"}
		}),
	}
	theirs := newEvent(func(e *events.Event) { e.OrganizerID = "stays" })
	mustCreate(t, s, append(mine, theirs)...)

	var announced []string
	announce := func(e events.Event) (broker.Message, error) {
		m := message(t, messages.TypeEventDeleted, e.ID)
		announced = append(announced, m.ID)
		return m, nil
	}
	msgID := uuid.Must(uuid.NewV7()).String()
	deleted, err := s.DeleteByOrganizer(ctx, "gone", msgID, deletedAt, announce, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(evs []events.Event) []string {
		out := make([]string, len(evs))
		for i, e := range evs {
			out[i] = e.ID
		}
		slices.Sort(out)
		return out
	}
	if diff := cmp.Diff(ids(mine), ids(deleted)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	for _, e := range mine {
		if _, err := s.Get(ctx, e.ID); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("Get(%s) after DeleteByOrganizer = %v, want ErrNotFound", e.ID, err)
		}
	}
	if _, err := s.Get(ctx, theirs.ID); err != nil {
		t.Errorf("another organizer's event: %v", err)
	}
	page, err := s.Search(ctx, events.SearchQuery{Tags: []string{"x"}, Limit: 10})
	if err != nil || len(page.Events) != 0 {
		t.Errorf("search finds deleted events: %v, %v", page.Events, err)
	}
	outboxtest.Check(t, s, announced...)
	for _, e := range mine {
		checkTombstone(t, s, normalize(e))
	}
	if _, err := s.Tombstone(ctx, theirs.ID); !errors.Is(err, events.ErrNotFound) {
		t.Errorf("Tombstone of another organizer's event = %v, want ErrNotFound", err)
	}

	// The same message again has no effect, not even on an event created since.
	later := newEvent(func(e *events.Event) { e.OrganizerID = "gone" })
	mustCreate(t, s, later)
	_, err = s.DeleteByOrganizer(ctx, "gone", msgID, deletedAt, announce, nil)
	if !errors.Is(err, events.ErrAlreadyHandled) {
		t.Errorf("second delivery = %v, want ErrAlreadyHandled", err)
	}
	if _, err := s.Get(ctx, later.ID); err != nil {
		t.Errorf("the second delivery deleted an event: %v", err)
	}
	outboxtest.Check(t, s, announced[:2]...)

	// An organizer without events: the message is recorded all the same.
	other := uuid.Must(uuid.NewV7()).String()
	if deleted, err := s.DeleteByOrganizer(ctx, "nobody", other, deletedAt, announce, nil); err != nil || len(deleted) != 0 {
		t.Errorf("DeleteByOrganizer(nobody) = %v, %v", deleted, err)
	}
	if _, err := s.DeleteByOrganizer(ctx, "nobody", other, deletedAt, announce, nil); !errors.Is(err, events.ErrAlreadyHandled) {
		t.Errorf("second delivery for nobody = %v, want ErrAlreadyHandled", err)
	}
}

// checkTombstone checks that s keeps the tombstone of e, deleted at deletedAt.
func checkTombstone(t *testing.T, s events.Store, e events.Event) {
	t.Helper()
	got, err := s.Tombstone(context.Background(), e.ID)
	if err != nil {
		t.Fatalf("Tombstone(%s): %v", e.ID, err)
	}
	want := events.Tombstone{Event: e.Snapshot(), DeletedAt: deletedAt}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tombstone(%s) (-want +got):\n%s", e.ID, diff)
	}
}

func testTombstones(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.Tombstone(ctx, "never-existed"); !errors.Is(err, events.ErrNotFound) {
		t.Errorf("Tombstone(never-existed) = %v, want ErrNotFound", err)
	}
	full := newEvent(func(e *events.Event) {
		e.Title = "Jazz, \"live\"; ünïcödé"
		e.EndsAt = ptr(base.Add(2 * time.Hour))
		e.Location = &events.Location{Name: "Parc", Address: "1 rue X", Lat: ptr(48.8566), Lon: ptr(2.3522)}
		e.OnlineURL = ptr("https://example.com/live")
		e.Category = ptr("Music")
		e.Tags = []string{"jazz"}
		e.Sequence = 7
	})
	older, newer := newEvent(), newEvent()
	mustCreate(t, s, full, older, newer)
	keep := func(events.Event) ([]broker.Message, error) { return nil, nil }
	for _, d := range []struct {
		e  events.Event
		at time.Time
	}{{full, deletedAt}, {older, deletedAt.Add(-time.Microsecond)}, {newer, deletedAt.Add(time.Hour)}} {
		if _, err := s.Delete(ctx, d.e.ID, d.at, keep); err != nil {
			t.Fatal(err)
		}
	}
	checkTombstone(t, s, normalize(full))
	page, err := s.Search(ctx, events.SearchQuery{Tags: []string{"jazz"}, Limit: 10})
	if err != nil || len(page.Events) != 0 {
		t.Errorf("search finds deleted events: %v, %v", page.Events, err)
	}

	// Pruning removes the tombstones of events deleted at or before the time given, only those.
	n, err := s.PruneTombstones(ctx, deletedAt.Add(-time.Microsecond))
	if err != nil || n != 1 {
		t.Errorf("PruneTombstones = %d, %v, want 1", n, err)
	}
	if _, err := s.Tombstone(ctx, older.ID); !errors.Is(err, events.ErrNotFound) {
		t.Errorf("Tombstone of a pruned event = %v, want ErrNotFound", err)
	}
	checkTombstone(t, s, normalize(full))
	if n, err := s.PruneTombstones(ctx, deletedAt.Add(time.Hour-time.Microsecond)); err != nil || n != 1 {
		t.Errorf("second PruneTombstones = %d, %v, want 1", n, err)
	}
	if _, err := s.Tombstone(ctx, newer.ID); err != nil {
		t.Errorf("Tombstone of an event deleted after the pruning bound: %v", err)
	}
}

// titles returns the titles of evs, in order.
func titles(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Title
	}
	return out
}

func testSearchFilters(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	at := func(h int) func(*events.Event) {
		return func(e *events.Event) { e.StartsAt = base.Add(time.Duration(h) * time.Hour) }
	}
	mustCreate(t, s,
		newEvent(at(1), func(e *events.Event) {
			e.Title = "Jazz Night"
			e.Description = "Live music by the river."
			e.Category = ptr("Music")
			e.Tags = []string{"jazz", "live-music"}
			e.Location = &events.Location{Name: "Paris", Lat: ptr(48.8566), Lon: ptr(2.3522)}
		}),
		newEvent(at(2), func(e *events.Event) {
			e.Title = "Go Workshop"
			e.Description = "Learn generics. Café afterwards."
			e.Category = ptr("tech")
			e.Tags = []string{"golang", "workshop"}
			e.OrganizerID = "organizer-2"
			e.Location = &events.Location{Name: "Versailles", Lat: ptr(48.8049), Lon: ptr(2.1204)}
		}),
		newEvent(at(3), func(e *events.Event) {
			e.Title = "Rooftop Jazz"
			e.Description = "Cocktails and a quartet."
			e.Category = ptr("music")
			e.Tags = []string{"jazz"}
			e.Location = &events.Location{Name: "London", Lat: ptr(51.5074), Lon: ptr(-0.1278)}
		}),
		newEvent(at(4), func(e *events.Event) {
			e.Title = "Online Talk"
			e.Description = "Stream about music theory."
			e.Tags = []string{"workshop", "live-music"}
			e.OnlineURL = ptr("https://meet.example.com/x")
		}),
		newEvent(at(-5), func(e *events.Event) {
			e.Title = "Past Jazz"
			e.Category = ptr("Music")
			e.Tags = []string{"jazz"}
		}),
		newEvent(at(5), func(e *events.Event) {
			e.Title = "Long names"
			e.Category = ptr(strings.Repeat("Ü", 40))
			e.OrganizerID = strings.Repeat("o", 200)
			e.Tags = []string{strings.Repeat("t", 32)}
		}),
	)
	from := base
	tests := []struct {
		name string
		q    events.SearchQuery
		want []string
	}{
		{"everything, in start order", events.SearchQuery{}, []string{"Past Jazz", "Jazz Night", "Go Workshop", "Rooftop Jazz", "Online Talk", "Long names"}},
		{"from", events.SearchQuery{From: &from}, []string{"Jazz Night", "Go Workshop", "Rooftop Jazz", "Online Talk", "Long names"}},
		{"long category, organizer and tag", events.SearchQuery{Category: strings.Repeat("ü", 40), OrganizerID: strings.Repeat("o", 200),
			Tags: []string{strings.Repeat("t", 32)}}, []string{"Long names"}},
		{"long category alone", events.SearchQuery{Category: strings.Repeat("ü", 40)}, []string{"Long names"}},
		{"from and to, both inclusive", events.SearchQuery{From: ptr(base.Add(2 * time.Hour)), To: ptr(base.Add(3 * time.Hour))}, []string{"Go Workshop", "Rooftop Jazz"}},
		{"to only", events.SearchQuery{To: ptr(base.Add(time.Hour))}, []string{"Past Jazz", "Jazz Night"}},
		{"a word of the title", events.SearchQuery{Words: []string{"jazz"}}, []string{"Past Jazz", "Jazz Night", "Rooftop Jazz"}},
		{"a word of the description", events.SearchQuery{Words: []string{"river"}}, []string{"Jazz Night"}},
		{"a word of a tag", events.SearchQuery{Words: []string{"golang"}}, []string{"Go Workshop"}},
		{"a part of a hyphenated tag", events.SearchQuery{Words: []string{"music"}}, []string{"Jazz Night", "Online Talk"}},
		{"a prefix", events.SearchQuery{Words: []string{"wor"}}, []string{"Go Workshop", "Online Talk"}},
		{"a one-letter prefix", events.SearchQuery{Words: []string{"q"}}, []string{"Rooftop Jazz"}},
		{"every word must match", events.SearchQuery{Words: []string{"jazz", "river"}}, []string{"Jazz Night"}},
		{"upper case and accents", events.SearchQuery{Words: []string{"CAFE"}}, []string{"Go Workshop"}},
		{"accented query", events.SearchQuery{Words: []string{"café"}}, []string{"Go Workshop"}},
		{"a word no event has", events.SearchQuery{Words: []string{"zebra"}}, nil},
		{"a word of the category does not match", events.SearchQuery{Words: []string{"tech"}}, nil},
		{"FTS syntax is taken literally", events.SearchQuery{Words: []string{`"`, "or", "*", "near", "and"}}, nil},
		{"category, case-insensitive", events.SearchQuery{Category: "MUSIC"}, []string{"Past Jazz", "Jazz Night", "Rooftop Jazz"}},
		{"category and from", events.SearchQuery{Category: "music", From: &from}, []string{"Jazz Night", "Rooftop Jazz"}},
		{"unknown category", events.SearchQuery{Category: "sports"}, nil},
		{"a tag", events.SearchQuery{Tags: []string{"workshop"}}, []string{"Go Workshop", "Online Talk"}},
		{"two tags, both must match", events.SearchQuery{Tags: []string{"jazz", "live-music"}}, []string{"Jazz Night"}},
		{"a tag is whole", events.SearchQuery{Tags: []string{"live"}}, nil},
		{"organizer", events.SearchQuery{OrganizerID: "organizer-2"}, []string{"Go Workshop"}},
		{"organizer and a word", events.SearchQuery{OrganizerID: "organizer-1", Words: []string{"jazz"}, From: &from}, []string{"Jazz Night", "Rooftop Jazz"}},
		{"near Paris", events.SearchQuery{Near: &events.Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 25}}, []string{"Jazz Night", "Go Workshop"}},
		{"near Paris, small radius", events.SearchQuery{Near: &events.Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 5}}, []string{"Jazz Night"}},
		{"near and a word", events.SearchQuery{Near: &events.Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 500}, Words: []string{"jazz"}}, []string{"Jazz Night", "Rooftop Jazz"}},
		{"near and a tag", events.SearchQuery{Near: &events.Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 25}, Tags: []string{"workshop"}}, []string{"Go Workshop"}},
		{"near and two tags", events.SearchQuery{Near: &events.Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 25}, Tags: []string{"jazz", "live-music"}}, []string{"Jazz Night"}},
		{"near and a tag held elsewhere", events.SearchQuery{Near: &events.Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 5}, Tags: []string{"workshop"}}, nil},
		{"near and a category", events.SearchQuery{Near: &events.Circle{Lat: 48.8566, Lon: 2.3522, RadiusKM: 25}, Category: "tech"}, []string{"Go Workshop"}},
		{"everything combined", events.SearchQuery{
			Words: []string{"jazz"}, From: &from, To: ptr(base.Add(10 * time.Hour)), Category: "Music",
			Tags: []string{"jazz"}, Near: &events.Circle{Lat: 51.5, Lon: -0.12, RadiusKM: 10}, OrganizerID: "organizer-1",
		}, []string{"Rooftop Jazz"}},
		{"tag and category", events.SearchQuery{Tags: []string{"jazz"}, Category: "music", From: &from}, []string{"Jazz Night", "Rooftop Jazz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Limit = 10
			page, err := s.Search(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, titles(page.Events), cmp.Transformer("nil", nilToEmpty)); diff != "" {
				t.Errorf("Search (-want +got):\n%s", diff)
			}
			if page.More {
				t.Error("More is set on the only page")
			}
		})
	}
}

func nilToEmpty(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// pageAll pages through q with the given page size and returns every event found.
func pageAll(t *testing.T, s events.Store, q events.SearchQuery, limit int, between func(page int)) []events.Event {
	t.Helper()
	q.Limit = limit
	var all []events.Event
	for page := 0; ; page++ {
		p, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) > limit {
			t.Fatalf("page %d has %d events, more than the limit %d", page, len(p.Events), limit)
		}
		all = append(all, p.Events...)
		if !p.More {
			return all
		}
		if len(p.Events) == 0 {
			t.Fatal("an empty page says more events follow")
		}
		last := p.Events[len(p.Events)-1]
		q.After = &events.Cursor{Time: last.StartsAt, ID: last.ID}
		if between != nil {
			between(page)
		}
		if page > 10000 {
			t.Fatal("paging does not end")
		}
	}
}

func ids(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func sortedIDs(evs []events.Event) []string {
	sorted := slices.Clone(evs)
	sortEvents(sorted)
	return ids(sorted)
}

func sortEvents(evs []events.Event) {
	slices.SortFunc(evs, func(a, b events.Event) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func testSearchPaging(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	var evs []events.Event
	// Many events share a start (to the microsecond, and to the second), and their IDs are
	// not created in their order.
	for i := range 60 {
		start := base.Add(time.Duration(i%7) * time.Hour)
		if i%5 == 0 {
			start = start.Add(time.Duration(i) * time.Microsecond)
		}
		e := newEvent(func(e *events.Event) {
			e.ID = fmt.Sprintf("%08x-0000-7000-8000-%012d", (i*7919)%1000, i)
			e.Title = fmt.Sprintf("Jazz %d", i)
			e.StartsAt = start
			e.Tags = []string{"jazz"}
			e.Category = ptr("music")
			e.Location = &events.Location{Lat: ptr(10.0), Lon: ptr(10.0)}
		})
		evs = append(evs, e)
	}
	mustCreate(t, s, evs...)
	queries := map[string]events.SearchQuery{
		"list":      {},
		"words":     {Words: []string{"jazz"}},
		"tag":       {Tags: []string{"jazz"}},
		"category":  {Category: "music"},
		"near":      {Near: &events.Circle{Lat: 10, Lon: 10, RadiusKM: 1}},
		"combined":  {Tags: []string{"jazz"}, Category: "music"},
		"organizer": {OrganizerID: "organizer-1"},
	}
	want := sortedIDs(evs)
	for name, q := range queries {
		for _, limit := range []int{1, 3, 7, 20, 100} {
			t.Run(fmt.Sprintf("%s by %d", name, limit), func(t *testing.T) {
				got := pageAll(t, s, q, limit, nil)
				if diff := cmp.Diff(want, ids(got)); diff != "" {
					t.Errorf("paged results (-want +got):\n%s", diff)
				}
			})
		}
	}
	t.Run("More is exact", func(t *testing.T) {
		p, err := s.Search(ctx, events.SearchQuery{Limit: 60})
		if err != nil || len(p.Events) != 60 || p.More {
			t.Errorf("a page holding every event: %d events, More %v, %v", len(p.Events), p.More, err)
		}
		p, err = s.Search(ctx, events.SearchQuery{Limit: 59})
		if err != nil || len(p.Events) != 59 || !p.More {
			t.Errorf("a page holding all but one event: %d events, More %v, %v", len(p.Events), p.More, err)
		}
	})
	for name, q := range queries {
		t.Run("stable while events come and go: "+name, func(t *testing.T) {
			s := open(t)
			mustCreate(t, s, evs...)
			deleted := map[string]bool{}
			var added []events.Event
			got := pageAll(t, s, q, 4, func(page int) {
				// Delete one event not yet seen and one already seen, add one before and one
				// after the position reached.
				for _, i := range []int{(page*13 + 5) % len(evs), (page * 7) % len(evs)} {
					if deleted[evs[i].ID] {
						continue
					}
					if _, err := s.Delete(ctx, evs[i].ID, deletedAt, func(events.Event) ([]broker.Message, error) { return nil, nil }); err == nil {
						deleted[evs[i].ID] = true
					}
				}
				for _, start := range []time.Time{base.Add(-time.Hour), base.Add(10 * time.Hour)} {
					e := newEvent(func(e *events.Event) {
						e.Title = "Jazz added"
						e.StartsAt = start.Add(time.Duration(page) * time.Second)
						e.Tags = []string{"jazz"}
						e.Category = ptr("music")
						e.Location = &events.Location{Lat: ptr(10.0), Lon: ptr(10.0)}
					})
					mustCreate(t, s, e)
					added = append(added, e)
				}
			})
			seen := map[string]bool{}
			for i, e := range got {
				if seen[e.ID] {
					t.Errorf("event %s returned twice", e.ID)
				}
				seen[e.ID] = true
				if i > 0 && sortedIDs(got[i-1 : i+1])[0] != got[i-1].ID {
					t.Errorf("results out of order at %d", i)
				}
			}
			// Every event that existed throughout was returned.
			for _, e := range evs {
				if !deleted[e.ID] && !seen[e.ID] {
					t.Errorf("event %s (%s) was skipped", e.ID, e.Title)
				}
			}
			// Events added after the position reached are found; those added before are not.
			for _, e := range added {
				if e.StartsAt.Before(base) && seen[e.ID] {
					t.Errorf("event %s, added before the position reached, was returned", e.ID)
				}
				if e.StartsAt.After(base.Add(9*time.Hour)) && !seen[e.ID] {
					t.Errorf("event %s, added after the position reached, was skipped", e.ID)
				}
			}
		})
	}
}

func testSearchFollowsChanges(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	e := newEvent(func(e *events.Event) {
		e.Title = "Salsa Evening"
		e.Category = ptr("Dance")
		e.Tags = []string{"salsa"}
		e.Location = &events.Location{Lat: ptr(40.0), Lon: ptr(-3.7)}
		e.StartsAt = base.Add(time.Hour)
	})
	early := newEvent(func(e *events.Event) { e.Title = "Early"; e.StartsAt = base })
	mustCreate(t, s, e, early)
	find := func(q events.SearchQuery) []string {
		t.Helper()
		q.Limit = 10
		p, err := s.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return titles(p.Events)
	}
	if _, err := s.Update(ctx, e.ID, func(old events.Event) (events.Event, []broker.Message, error) {
		old.Title = "Tango Evening"
		old.Category = ptr("Music")
		old.Tags = []string{"tango"}
		old.Location = &events.Location{Lat: ptr(-34.6), Lon: ptr(-58.4)}
		old.StartsAt = base.Add(-time.Hour)
		old.OrganizerID = "organizer-9"
		return old, nil, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    events.SearchQuery
		want []string
	}{
		{"old word", events.SearchQuery{Words: []string{"salsa"}}, nil},
		{"new word", events.SearchQuery{Words: []string{"tango"}}, []string{"Tango Evening"}},
		{"old tag", events.SearchQuery{Tags: []string{"salsa"}}, nil},
		{"new tag", events.SearchQuery{Tags: []string{"tango"}}, []string{"Tango Evening"}},
		{"old category", events.SearchQuery{Category: "dance"}, nil},
		{"new category", events.SearchQuery{Category: "music"}, []string{"Tango Evening"}},
		{"old place", events.SearchQuery{Near: &events.Circle{Lat: 40, Lon: -3.7, RadiusKM: 10}}, nil},
		{"new place", events.SearchQuery{Near: &events.Circle{Lat: -34.6, Lon: -58.4, RadiusKM: 10}}, []string{"Tango Evening"}},
		{"old tag at the old place", events.SearchQuery{Tags: []string{"salsa"}, Near: &events.Circle{Lat: 40, Lon: -3.7, RadiusKM: 10}}, nil},
		{"new tag at the old place", events.SearchQuery{Tags: []string{"tango"}, Near: &events.Circle{Lat: 40, Lon: -3.7, RadiusKM: 10}}, nil},
		{"old tag at the new place", events.SearchQuery{Tags: []string{"salsa"}, Near: &events.Circle{Lat: -34.6, Lon: -58.4, RadiusKM: 10}}, nil},
		{"new tag at the new place", events.SearchQuery{Tags: []string{"tango"}, Near: &events.Circle{Lat: -34.6, Lon: -58.4, RadiusKM: 10}}, []string{"Tango Evening"}},
		{"new organizer", events.SearchQuery{OrganizerID: "organizer-9"}, []string{"Tango Evening"}},
		{"new start orders it first", events.SearchQuery{}, []string{"Tango Evening", "Early"}},
		{"new start with a facet", events.SearchQuery{Words: []string{"evening", "tango"}, From: ptr(base.Add(-2 * time.Hour)), To: ptr(base)}, []string{"Tango Evening"}},
		{"old start is gone", events.SearchQuery{From: ptr(base.Add(30 * time.Minute))}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(nilToEmpty(tt.want), nilToEmpty(find(tt.q))); diff != "" {
				t.Errorf("Search (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("deleted events are not found", func(t *testing.T) {
		if _, err := s.Delete(ctx, e.ID, deletedAt, func(events.Event) ([]broker.Message, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
		for _, q := range []events.SearchQuery{
			{Words: []string{"tango"}}, {Tags: []string{"tango"}}, {Category: "music"}, {OrganizerID: "organizer-9"},
			{Near: &events.Circle{Lat: -34.6, Lon: -58.4, RadiusKM: 10}}, {Tags: []string{"tango"}, Category: "music"},
		} {
			if got := find(q); len(got) != 0 {
				t.Errorf("Search(%+v) = %v after the delete", q, got)
			}
		}
	})
}

func testSearchDistance(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	place := func(title string, lat, lon float64) events.Event {
		return newEvent(func(e *events.Event) {
			e.Title = title
			e.Location = &events.Location{Name: title, Lat: ptr(lat), Lon: ptr(lon)}
		})
	}
	mustCreate(t, s,
		place("Suva", -18.1248, 178.4501),
		place("Across the antimeridian", -18.1248, -179.9), // about 167 km east of Suva
		place("North Pole", 89.99, 45),
		place("Near the pole, other side", 89.9, -135), // about 12 km from the other
		place("Null Island", 0, 0),
		place("1 km east of Null Island", 0, 0.009),
		place("30 km north of Null Island", 0.27, 0),
		place("On the antimeridian", 10, 180),
		place("South Pole", -90, 0),
		newEvent(func(e *events.Event) { e.Title = "No coordinates"; e.Location = &events.Location{Name: "X"} }),
		newEvent(func(e *events.Event) { e.Title = "Online" }),
	)
	tests := []struct {
		name   string
		circle events.Circle
		want   []string
	}{
		{"exact point", events.Circle{Lat: 0, Lon: 0, RadiusKM: 0.5}, []string{"Null Island"}},
		{"1.5 km", events.Circle{Lat: 0, Lon: 0, RadiusKM: 1.5}, []string{"Null Island", "1 km east of Null Island"}},
		{"25 km default", events.Circle{Lat: 0, Lon: 0, RadiusKM: 25}, []string{"Null Island", "1 km east of Null Island"}},
		{"31 km", events.Circle{Lat: 0, Lon: 0, RadiusKM: 31}, []string{"Null Island", "1 km east of Null Island", "30 km north of Null Island"}},
		{"across the antimeridian from the west", events.Circle{Lat: -18.1248, Lon: 178.4501, RadiusKM: 200}, []string{"Suva", "Across the antimeridian"}},
		{"across the antimeridian from the east", events.Circle{Lat: -18.1248, Lon: -179.9, RadiusKM: 200}, []string{"Suva", "Across the antimeridian"}},
		{"not quite across", events.Circle{Lat: -18.1248, Lon: -179.9, RadiusKM: 100}, []string{"Across the antimeridian"}},
		{"over the pole", events.Circle{Lat: 89.95, Lon: 45, RadiusKM: 20}, []string{"North Pole", "Near the pole, other side"}},
		{"at the South Pole", events.Circle{Lat: -89.9, Lon: 100, RadiusKM: 20}, []string{"South Pole"}},
		{"on the antimeridian, from the west", events.Circle{Lat: 10, Lon: 179.9, RadiusKM: 50}, []string{"On the antimeridian"}},
		{"on the antimeridian, from the east", events.Circle{Lat: 10.1, Lon: -179.8, RadiusKM: 30}, []string{"On the antimeridian"}},
		{"on the antimeridian, small", events.Circle{Lat: 10, Lon: -180, RadiusKM: 1}, []string{"On the antimeridian"}},
		{"the whole Earth", events.Circle{Lat: 10, Lon: 10, RadiusKM: 20000}, []string{
			"Suva", "Across the antimeridian", "North Pole", "Near the pole, other side", "Null Island",
			"1 km east of Null Island", "30 km north of Null Island", "On the antimeridian", "South Pole"}},
		{"nobody there", events.Circle{Lat: -60, Lon: 100, RadiusKM: 500}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, q := range []events.SearchQuery{
				{Near: &tt.circle, Limit: 20},
				{Near: &tt.circle, OrganizerID: "organizer-1", Limit: 20}, // driven by another index
			} {
				p, err := s.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				got, want := titles(p.Events), slices.Clone(tt.want)
				slices.Sort(got)
				slices.Sort(want)
				if diff := cmp.Diff(nilToEmpty(want), nilToEmpty(got)); diff != "" {
					t.Errorf("Search(%+v) (-want +got):\n%s", q, diff)
				}
			}
		})
	}
}

// testSearchReference compares many random searches, paged, over random events with a
// straightforward implementation of the same rules.
func testSearchReference(t *testing.T, open func(t *testing.T) events.Store) {
	s := open(t)
	r := rand.New(rand.NewPCG(7, 11))
	vocabulary := []string{"jazz", "jam", "rust", "go", "gopher", "river", "park", "night", "morning", "quiz", "kayak", "yoga"}
	tagSet := []string{"free", "kids", "live-music", "outdoors", "beginners"}
	categories := []string{"Music", "tech", "Sports"}
	places := [][2]float64{{48.85, 2.35}, {48.9, 2.4}, {51.5, -0.12}, {-18.1, 179.9}, {-18.1, -179.95}, {0, 0}}
	words := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = vocabulary[r.IntN(len(vocabulary))]
		}
		return strings.Join(ws, " ")
	}
	var all []events.Event
	for range 400 {
		e := newEvent(func(e *events.Event) {
			title := words(2)
			e.Title = strings.ToUpper(title[:1]) + title[1:]
			e.Description = words(r.IntN(6))
			// Starts within 20 days, often at the same second or microsecond.
			e.StartsAt = base.Add(time.Duration(r.IntN(20*24)) * time.Hour)
			if r.IntN(3) == 0 {
				e.StartsAt = base.Add(time.Duration(r.IntN(3)) * time.Hour).Add(time.Duration(r.IntN(3)) * time.Millisecond)
			}
			e.OrganizerID = fmt.Sprintf("organizer-%d", r.IntN(4))
			for range r.IntN(3) {
				if t := tagSet[r.IntN(len(tagSet))]; !slices.Contains(e.Tags, t) {
					e.Tags = append(e.Tags, t)
				}
			}
			if r.IntN(4) > 0 {
				e.Category = ptr(categories[r.IntN(len(categories))])
			}
			if r.IntN(5) > 0 {
				p := places[r.IntN(len(places))]
				e.Location = &events.Location{Lat: ptr(p[0] + r.NormFloat64()*0.2), Lon: ptr(math.Mod(p[1]+r.NormFloat64()*0.2+540, 360) - 180)}
			}
		})
		all = append(all, e)
	}
	mustCreate(t, s, all...)
	for i := range 150 {
		var q events.SearchQuery
		if r.IntN(3) == 0 {
			q.Words = strings.Fields(words(1 + r.IntN(2)))
			if r.IntN(2) == 0 {
				q.Words[0] = q.Words[0][:1+r.IntN(len(q.Words[0]))] // a prefix
			}
		}
		if r.IntN(3) == 0 {
			q.From = ptr(base.Add(time.Duration(r.IntN(10*24)) * time.Hour))
		}
		if r.IntN(4) == 0 {
			q.To = ptr(base.Add(time.Duration(r.IntN(20*24)) * time.Hour))
		}
		if r.IntN(4) == 0 {
			q.Category = strings.ToUpper(categories[r.IntN(len(categories))])
		}
		if r.IntN(4) == 0 {
			q.Tags = []string{tagSet[r.IntN(len(tagSet))]}
			if r.IntN(3) == 0 {
				if t := tagSet[r.IntN(len(tagSet))]; t != q.Tags[0] {
					q.Tags = append(q.Tags, t)
				}
			}
		}
		if r.IntN(3) == 0 {
			p := places[r.IntN(len(places))]
			q.Near = &events.Circle{Lat: p[0], Lon: p[1], RadiusKM: []float64{5, 25, 100, 3000}[r.IntN(4)]}
		}
		if r.IntN(5) == 0 {
			q.OrganizerID = fmt.Sprintf("organizer-%d", r.IntN(4))
		}
		var want []events.Event
		for _, e := range all {
			if referenceMatch(q, e) {
				want = append(want, e)
			}
		}
		limit := 1 + r.IntN(15)
		got := pageAll(t, s, q, limit, nil)
		if diff := cmp.Diff(sortedIDs(want), ids(got), cmp.Transformer("nil", nilToEmpty)); diff != "" {
			t.Errorf("query %d %+v (by %d): (-want +got):\n%s", i, describe(q), limit, diff)
		}
	}
}

func describe(q events.SearchQuery) string {
	var b strings.Builder
	fmt.Fprintf(&b, "words=%q category=%q tags=%q organizer=%q", q.Words, q.Category, q.Tags, q.OrganizerID)
	if q.From != nil {
		fmt.Fprintf(&b, " from=%s", q.From.Format(time.RFC3339))
	}
	if q.To != nil {
		fmt.Fprintf(&b, " to=%s", q.To.Format(time.RFC3339))
	}
	if q.Near != nil {
		fmt.Fprintf(&b, " near=%+v", *q.Near)
	}
	return b.String()
}

// referenceMatch is the rule of search, written plainly.
func referenceMatch(q events.SearchQuery, e events.Event) bool {
	if q.From != nil && e.StartsAt.Before(*q.From) || q.To != nil && e.StartsAt.After(*q.To) {
		return false
	}
	if q.Category != "" && (e.Category == nil || !strings.EqualFold(*e.Category, q.Category)) {
		return false
	}
	for _, t := range q.Tags {
		if !slices.Contains(e.Tags, t) {
			return false
		}
	}
	if q.OrganizerID != "" && e.OrganizerID != q.OrganizerID {
		return false
	}
	if q.Near != nil {
		if e.Location == nil || e.Location.Lat == nil || distanceKM(q.Near.Lat, q.Near.Lon, *e.Location.Lat, *e.Location.Lon) > q.Near.RadiusKM {
			return false
		}
	}
	tokens := strings.FieldsFunc(strings.ToLower(e.Title+" "+e.Description+" "+strings.Join(e.Tags, " ")), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	for _, w := range q.Words {
		if !slices.ContainsFunc(tokens, func(tok string) bool { return strings.HasPrefix(tok, w) }) {
			return false
		}
	}
	return true
}

// distanceKM is the great-circle distance between two points, by the haversine formula.
func distanceKM(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0088
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Pow(math.Sin(dLat/2), 2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Pow(math.Sin(dLon/2), 2)
	return 2 * r * math.Asin(math.Sqrt(min(a, 1)))
}

func testConcurrentWrites(t *testing.T, open func(t *testing.T) events.Store) {
	s := open(t)
	ctx := context.Background()
	const writers, each = 6, 8
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every event starts in the same second.
				e := newEvent(func(e *events.Event) {
					e.Title = fmt.Sprintf("w%d-%d", w, i)
					e.StartsAt = base.Add(time.Duration(w*each+i) * time.Microsecond)
					e.Tags = []string{"same"}
				})
				errs <- s.Create(ctx, e)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []events.SearchQuery{{}, {Tags: []string{"same"}}, {Words: []string{"w1"}}} {
		got := pageAll(t, s, q, 5, nil)
		want := writers * each
		if len(q.Words) > 0 {
			want = each
		}
		if len(got) != want {
			t.Errorf("Search(%+v) found %d events, want %d", q, len(got), want)
		}
	}
}

// testConcurrentUpdates changes one event from several goroutines at once, each change
// depending on the state it reads: none may be lost.
func testConcurrentUpdates(t *testing.T, open func(t *testing.T) events.Store) {
	s := open(t)
	ctx := context.Background()
	e := newEvent(func(e *events.Event) { e.Capacity = ptr(int64(0)) })
	mustCreate(t, s, e)
	const updaters = 8
	errs := make(chan error, updaters)
	var wg sync.WaitGroup
	for range updaters {
		wg.Go(func() {
			_, err := s.Update(ctx, e.ID, func(old events.Event) (events.Event, []broker.Message, error) {
				n := *old.Capacity + 1
				old.Capacity = &n
				old.Tags = append(old.Tags, fmt.Sprintf("t%d", n))
				return old, nil, nil
			}, nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Capacity != updaters || len(got.Tags) != updaters {
		t.Errorf("after %d concurrent increments: capacity %d, tags %v; an update was lost", updaters, *got.Capacity, got.Tags)
	}
}

func testAttendance(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	e := newEvent(func(e *events.Event) { e.Capacity = ptr(int64(1)) })
	mustCreate(t, s, e)
	if _, err := s.SetAttendance(ctx, "no-such-event", "a", events.Going, nil); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("attend an unknown event: %v, want ErrNotFound", err)
	}
	if _, err := s.RemoveAttendance(ctx, "no-such-event", "a", nil); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("leave an unknown event: %v, want ErrNotFound", err)
	}
	set := func(account string, st events.AttendanceStatus, want events.AttendanceStatus, wantPos int) {
		t.Helper()
		a, err := s.SetAttendance(ctx, e.ID, account, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		gotPos := 0
		if a.Position != nil {
			gotPos = *a.Position
		}
		if a.EventID != e.ID || a.AccountID != account || a.Status != want || gotPos != wantPos {
			t.Fatalf("%s asks %s: %+v (position %d), want %s at %d", account, st, a, gotPos, want, wantPos)
		}
	}
	set("a", events.Going, events.Going, 0)
	set("a", events.Going, events.Going, 0)
	set("b", events.Going, events.Waitlisted, 1)
	set("c", events.Interested, events.Interested, 0)
	set("c", events.Going, events.Waitlisted, 2)
	set("b", events.Going, events.Waitlisted, 1) // unchanged

	// a turns interested: b, the first waitlisted, takes the place; c moves up.
	set("a", events.Interested, events.Interested, 0)
	list, err := s.EventAttendance(ctx, e.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range list {
		got[a.AccountID] = string(a.Status)
		if a.Position != nil {
			got[a.AccountID] += fmt.Sprint(*a.Position)
		}
	}
	if want := map[string]string{"a": "interested", "b": "going", "c": "waitlisted1"}; !cmp.Equal(got, want) {
		t.Fatalf("after a turned interested: %v, want %v", got, want)
	}
	if got, err := s.Get(ctx, e.ID); err != nil || got.GoingCount != 1 || got.InterestedCount != 1 {
		t.Fatalf("counts after a turned interested: %+v, %v; want 1 going, 1 interested", got, err)
	}
	// b leaves: c goes. Leaving twice changes nothing.
	for i, want := range []string{"c", ""} {
		promoted, err := s.RemoveAttendance(ctx, e.ID, "b", nil)
		if err != nil || promoted != want {
			t.Fatalf("b leaves (%d): promoted %q, %v; want %q", i, promoted, err, want)
		}
	}
	mine, err := s.AccountAttendance(ctx, "c", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].Status != events.Going || mine[0].Position != nil {
		t.Fatalf("c after b left: %+v, want going", mine)
	}
	// Paging by Seq.
	page1, err := s.EventAttendance(ctx, e.ID, 0, 1)
	if err != nil || len(page1) != 1 {
		t.Fatalf("first page: %+v, %v", page1, err)
	}
	page2, err := s.EventAttendance(ctx, e.ID, page1[0].Seq, 10)
	if err != nil || len(page2) != 1 || page2[0].AccountID == page1[0].AccountID {
		t.Fatalf("second page: %+v, %v (first %+v)", page2, err, page1)
	}
	// Deleting the event deletes its attendance.
	if _, err := s.Delete(ctx, e.ID, deletedAt, func(events.Event) ([]broker.Message, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if mine, err := s.AccountAttendance(ctx, "c", 0, 10); err != nil || len(mine) != 0 {
		t.Fatalf("c after the event was deleted: %+v, %v", mine, err)
	}
	if _, err := s.SetAttendance(ctx, e.ID, "a", events.Going, nil); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("attend a deleted event: %v, want ErrNotFound", err)
	}
}

// testConcurrentAttendance has 200 people go to a 50-place event at once: 50 are going, 150
// waitlisted at positions 1 to 150; when one going leaves, the first waitlisted goes.
func testConcurrentAttendance(t *testing.T, open func(t *testing.T) events.Store) {
	const people, places = 200, 50
	ctx := context.Background()
	s := open(t)
	e := newEvent(func(e *events.Event) { e.Capacity = ptr(int64(places)) })
	mustCreate(t, s, e)
	var wg sync.WaitGroup
	res := make([]events.Attendance, people)
	errs := make([]error, people)
	for i := range people {
		wg.Go(func() { res[i], errs[i] = s.SetAttendance(ctx, e.ID, fmt.Sprintf("p%03d", i), events.Going, nil) })
	}
	wg.Wait()
	going, positions := 0, map[int]string{}
	for i, a := range res {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch {
		case a.Status == events.Going && a.Position == nil:
			going++
		case a.Status == events.Waitlisted && a.Position != nil:
			positions[*a.Position] = a.AccountID
		default:
			t.Fatalf("attendance %+v", a)
		}
	}
	if going != places || len(positions) != people-places {
		t.Fatalf("%d going, %d distinct positions; want %d and %d", going, len(positions), places, people-places)
	}
	for p := 1; p <= people-places; p++ {
		if positions[p] == "" {
			t.Fatalf("no one waitlisted at position %d", p)
		}
	}
	if got, err := s.Get(ctx, e.ID); err != nil || got.GoingCount != places || got.InterestedCount != 0 || *got.Capacity != got.GoingCount {
		t.Fatalf("the event after the rush: %+v, %v; want %d going, none interested, no spots left", got, err, places)
	}
	// The stored list agrees with the answers.
	list, err := s.EventAttendance(ctx, e.ID, 0, people+1)
	if err != nil || len(list) != people {
		t.Fatalf("list: %d, %v", len(list), err)
	}
	var leaver string
	for _, a := range list {
		if a.Status == events.Going {
			leaver = a.AccountID
		} else if positions[*a.Position] != a.AccountID {
			t.Fatalf("stored %+v, answered position %d to %s", a, *a.Position, positions[*a.Position])
		}
	}
	promoted, err := s.RemoveAttendance(ctx, e.ID, leaver, nil)
	if err != nil || promoted != positions[1] {
		t.Fatalf("%s left: promoted %q, %v; want %q", leaver, promoted, err, positions[1])
	}
	mine, err := s.AccountAttendance(ctx, positions[2], 0, 10)
	if err != nil || len(mine) != 1 || mine[0].Position == nil || *mine[0].Position != 1 {
		t.Fatalf("second waitlisted after a promotion: %+v, %v", mine, err)
	}
}

func testAccounts(t *testing.T, open func(t *testing.T) events.Store) {
	ctx := context.Background()
	s := open(t)
	for _, a := range []messages.AccountChanged{
		{AccountID: "a", Email: "a@example.com", DisplayName: "A2", Version: 2},
		{AccountID: "a", Email: "old@example.com", DisplayName: "A1", Version: 1},
		{AccountID: "a", Email: "same@example.com", DisplayName: "A2 again", Version: 2},
		{AccountID: "b", Email: "b@example.com", EmailVerified: true, DisplayName: "B", Version: 7},
	} {
		if err := s.PutAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	names, err := s.DisplayNames(ctx, []string{"a", "b", "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "A2", "b": "B"}; !cmp.Equal(names, want) {
		t.Errorf("display names %v, want %v (older versions ignored)", names, want)
	}
	if _, err := s.DeleteByOrganizer(ctx, "b", "msg-1", deletedAt, func(e events.Event) (broker.Message, error) {
		return message(t, messages.TypeEventDeleted, e.ID), nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if names, err := s.DisplayNames(ctx, []string{"b"}); err != nil || len(names) != 0 {
		t.Errorf("display names after b was deleted: %v, %v", names, err)
	}
}
