package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/ics"
	"github.com/eventpost/eventpost/internal/platform/paging"
)

// errUnchanged ends an update that would store the event as it is.
var errUnchanged = errors.New("event unchanged")

// SearchResult is the answer to a search.
type SearchResult struct {
	Items []Event `json:"items"`
	// NextCursor continues the search after Items; nil on the last page.
	NextCursor *string `json:"next_cursor"`
}

// Create creates the event that in describes, organized by organizerID, and announces it.
func (s *Service) Create(ctx context.Context, organizerID string, in EventInput) (Event, error) {
	now := s.now()
	e, err := in.validate(now, nil)
	if err != nil {
		return Event{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Event{}, fmt.Errorf("create event: %w", err)
	}
	e.ID, e.OrganizerID = id.String(), organizerID
	e.CreatedAt = utcMicro(now)
	e.UpdatedAt = e.CreatedAt
	msg, err := changedMessage(ctx, e, nil)
	if err != nil {
		return Event{}, fmt.Errorf("create event: %w", err)
	}
	if err := s.store.Create(ctx, e, msg); err != nil {
		return Event{}, fmt.Errorf("create event: %w", err)
	}
	s.outbox.Notify()
	return s.withOrganizer(ctx, e)
}

// Get returns the event with the given ID.
func (s *Service) Get(ctx context.Context, id string) (Event, error) {
	e, err := s.store.Get(ctx, id)
	if err != nil {
		return Event{}, fmt.Errorf("get event: %w", err)
	}
	return s.withOrganizer(ctx, e)
}

// Patch applies a JSON merge patch to the event with the given ID on behalf of callerID, who
// must be its organizer, and announces the change. The result must be a valid event; a start
// that changes must be in the future. A patch that changes nothing returns the event as it is.
func (s *Service) Patch(ctx context.Context, callerID, id string, patch map[string]json.RawMessage) (Event, error) {
	if len(patch) == 0 {
		e, err := s.Get(ctx, id)
		if err != nil {
			return Event{}, err
		}
		if e.OrganizerID != callerID {
			return Event{}, ErrForbidden
		}
		return e, nil
	}
	var unchanged Event
	e, err := s.store.Update(ctx, id, func(old Event) (Event, []broker.Message, error) {
		if old.OrganizerID != callerID {
			return Event{}, nil, ErrForbidden
		}
		in, err := applyPatch(old, patch)
		if err != nil {
			return Event{}, nil, err
		}
		now := s.now()
		e, err := in.validate(now, &old.StartsAt)
		if err != nil {
			return Event{}, nil, err
		}
		e.ID, e.OrganizerID, e.CreatedAt, e.UpdatedAt = old.ID, old.OrganizerID, old.CreatedAt, old.UpdatedAt
		e.Sequence = old.Sequence
		if sameContent(e, old) {
			unchanged = old
			return Event{}, nil, errUnchanged
		}
		// Consumers order the versions of an event by UpdatedAt, so it must grow.
		e.UpdatedAt = utcMicro(now)
		if !e.UpdatedAt.After(old.UpdatedAt) {
			e.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
		}
		if calendarChanged(e, old) {
			e.Sequence++
		}
		var prev *time.Time
		if !e.StartsAt.Equal(old.StartsAt) {
			prev = &old.StartsAt
		}
		msg, err := changedMessage(ctx, e, prev)
		if err != nil {
			return Event{}, nil, err
		}
		return e, []broker.Message{msg}, nil
	}, s.announceAttendance(ctx))
	if errors.Is(err, errUnchanged) {
		return s.withOrganizer(ctx, unchanged)
	}
	if err != nil {
		return Event{}, fmt.Errorf("patch event: %w", err)
	}
	s.outbox.Notify()
	return s.withOrganizer(ctx, e)
}

// Delete deletes the event with the given ID on behalf of callerID, who must be its
// organizer, and announces the deletion.
func (s *Service) Delete(ctx context.Context, callerID, id string) error {
	_, err := s.store.Delete(ctx, id, utcMicro(s.now()), func(e Event) ([]broker.Message, error) {
		if e.OrganizerID != callerID {
			return nil, ErrForbidden
		}
		msg, err := deletedMessage(ctx, e, messages.DeletedByOrganizer)
		if err != nil {
			return nil, err
		}
		return []broker.Message{msg}, nil
	})
	if err != nil {
		return fmt.Errorf("delete event: %w", err)
	}
	s.outbox.Notify()
	return nil
}

// Search returns the page of events that q selects. Without q.From, it finds the events
// that have not started yet.
func (s *Service) Search(ctx context.Context, q SearchQuery) (SearchResult, error) {
	if q.From == nil {
		now := utcMicro(s.now())
		q.From = &now
	}
	start := time.Now()
	page, err := s.store.Search(ctx, q)
	if err != nil {
		return SearchResult{}, fmt.Errorf("search events: %w", err)
	}
	s.metrics.search.WithLabelValues(q.Shape()).Observe(time.Since(start).Seconds())
	res := SearchResult{Items: page.Events}
	if res.Items == nil {
		res.Items = []Event{}
	}
	if err := s.withOrganizers(ctx, res.Items); err != nil {
		return SearchResult{}, fmt.Errorf("search events: %w", err)
	}
	if page.More && len(page.Events) > 0 {
		last := page.Events[len(page.Events)-1]
		c := paging.EncodeKey(Cursor{Time: last.StartsAt, ID: last.ID})
		res.NextCursor = &c
	}
	return res, nil
}

// Calendar is an event's iCalendar document.
type Calendar struct {
	// EventID is the ID of the event.
	EventID string
	// Method is the document's METHOD, which its Content-Type names.
	Method ics.Method
	// Body is the document.
	Body []byte
}

// Calendar returns the event with the given ID as an iCalendar document. An event deleted
// less than Config.DeletedRetention ago gives its cancellation: the VEVENT it had last, same
// UID, with STATUS:CANCELLED and a SEQUENCE one higher; later it is ErrNotFound, like an ID
// that never existed.
func (s *Service) Calendar(ctx context.Context, id string) (Calendar, error) {
	e, err := s.store.Get(ctx, id)
	if err == nil {
		return Calendar{EventID: e.ID, Method: ics.Publish, Body: ics.Render(e.Snapshot().Calendar(), s.calendarOptions(e.ID))}, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Calendar{}, fmt.Errorf("get event: %w", err)
	}
	t, err := s.store.Tombstone(ctx, id)
	if err != nil {
		return Calendar{}, fmt.Errorf("get event: %w", err)
	}
	if !s.now().Before(t.DeletedAt.Add(s.cfg.DeletedRetention)) {
		return Calendar{}, fmt.Errorf("get event: %w", ErrNotFound)
	}
	// A deleted event is exported as METHOD:PUBLISH with STATUS:CANCELLED, not METHOD:CANCEL.
	// CANCEL is an iTIP scheduling message from the organizer to the attendees (RFC 5546
	// 3.2.5): it requires ORGANIZER, which the public export has none of, and clients apply it
	// as mail from that organizer (Outlook, Gmail/Google Calendar, Apple Mail, Thunderbird's
	// invitation bar), not as a file fetched from a URL; an importer that already holds the UID
	// may skip it (nextcloud/calendar#3053). A file or URL that publishes is PUBLISH (RFC 5546
	// 3.2.1), which allows STATUS:CANCELLED: subscriptions (Google, Apple, Outlook, Thunderbird)
	// ignore METHOD and replace their copy by UID, the higher SEQUENCE marking it newer; ical.js
	// reads status "cancelled". The object changed when the event was deleted: LAST-MODIFIED.
	cal := t.Event.Calendar()
	cal.UpdatedAt = t.DeletedAt
	return Calendar{EventID: id, Method: ics.Publish, Body: ics.RenderCancelled(cal, s.calendarOptions(id))}, nil
}

// PruneTombstones forgets the events deleted Config.DeletedRetention ago or earlier, whose
// export answers 404 already (see Calendar), and returns how many it forgot.
func (s *Service) PruneTombstones(ctx context.Context) (int64, error) {
	n, err := s.store.PruneTombstones(ctx, s.now().Add(-s.cfg.DeletedRetention))
	if err != nil {
		return 0, err
	}
	return n, nil
}

// calendarOptions returns the options of the calendar of the event with the given ID: its
// UID on the public host, its page, stamped now.
func (s *Service) calendarOptions(id string) ics.Options {
	return ics.Options{Host: ics.Host(s.cfg.PublicURL), EventURL: s.EventURL(id), Stamp: s.now()}
}

// EventURL returns the address of the event's page.
func (s *Service) EventURL(id string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/events/" + url.PathEscape(id)
}

// handleAccountChanged keeps the announced state of an account, unless it holds a newer one.
func (s *Service) handleAccountChanged(ctx context.Context, m broker.Message, p messages.AccountChanged) error {
	if p.AccountID == "" {
		return broker.Permanent(fmt.Errorf("account.changed message %s names no account", m.ID))
	}
	return s.store.PutAccount(ctx, p)
}

// withOrganizers fills in the organizer of each of evs from the service's copy of the
// accounts, with one query, and the places left: what the store does not keep. Every event
// the service returns passes through it.
func (s *Service) withOrganizers(ctx context.Context, evs []Event) error {
	ids := make([]string, 0, len(evs))
	for _, e := range evs {
		if !slices.Contains(ids, e.OrganizerID) {
			ids = append(ids, e.OrganizerID)
		}
	}
	names, err := s.store.DisplayNames(ctx, ids)
	if err != nil {
		return err
	}
	for i := range evs {
		evs[i].Organizer = Organizer{ID: evs[i].OrganizerID, DisplayName: names[evs[i].OrganizerID]}
		evs[i].SpotsLeft = evs[i].spotsLeft()
	}
	return nil
}

// withOrganizer is withOrganizers of one event.
func (s *Service) withOrganizer(ctx context.Context, e Event) (Event, error) {
	evs := []Event{e}
	err := s.withOrganizers(ctx, evs)
	return evs[0], err
}

// handleAccountDeleted deletes the events of a deleted account and announces each deletion.
func (s *Service) handleAccountDeleted(ctx context.Context, m broker.Message, p messages.AccountDeleted) error {
	if p.AccountID == "" {
		return broker.Permanent(fmt.Errorf("account.deleted message %s names no account", m.ID))
	}
	deleted, err := s.store.DeleteByOrganizer(ctx, p.AccountID, m.ID, utcMicro(s.now()), func(e Event) (broker.Message, error) {
		return deletedMessage(ctx, e, messages.DeletedWithAccount)
	}, s.announceAttendance(ctx))
	if errors.Is(err, ErrAlreadyHandled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete events of account %s: %w", p.AccountID, err)
	}
	s.outbox.Notify()
	s.log.InfoContext(ctx, "deleted the events and attendances of a deleted account", "account_id", p.AccountID, "events", len(deleted))
	return nil
}

func changedMessage(ctx context.Context, e Event, prevStart *time.Time) (broker.Message, error) {
	return broker.NewMessage(ctx, messages.TypeEventChanged, messages.EventChanged{
		Event: e.Snapshot(), PreviousStartsAt: clonePtr(prevStart),
	})
}

func deletedMessage(ctx context.Context, e Event, reason string) (broker.Message, error) {
	return broker.NewMessage(ctx, messages.TypeEventDeleted, messages.EventDeleted{Event: e.Snapshot(), Reason: reason})
}

// calendarChanged reports whether a and b differ in a field that calendars show and that
// makes them replace their copy of the event (RFC 5545 SEQUENCE): start, end, title or place.
// The description, category, tags, time zone (calendars get UTC) and capacity do not count.
func calendarChanged(a, b Event) bool {
	return !a.StartsAt.Equal(b.StartsAt) || !equalTimes(a.EndsAt, b.EndsAt) || a.Title != b.Title ||
		!sameLocation(a.Location, b.Location) || !equalPtr(a.OnlineURL, b.OnlineURL)
}

func equalTimes(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

func equalPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func sameLocation(a, b *Location) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Address == b.Address && equalPtr(a.Lat, b.Lat) && equalPtr(a.Lon, b.Lon)
}

// sameContent reports whether a and b have the same organizer-set fields.
func sameContent(a, b Event) bool {
	ja, err1 := json.Marshal(inputOf(a))
	jb, err2 := json.Marshal(inputOf(b))
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
