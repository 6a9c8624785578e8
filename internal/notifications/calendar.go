package notifications

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/platform/ics"
)

// CancelledRetention is how long a deleted event stays in the calendar feeds that showed it,
// as cancelled: the 30 days the events service's export answers its cancellation.
const CancelledRetention = 30 * 24 * time.Hour

// feedTokenBytes is how many random bytes a calendar feed's token holds.
const feedTokenBytes = 32

// feedTokenLength is the length of a token: feedTokenBytes in unpadded base64url.
var feedTokenLength = base64.RawURLEncoding.EncodedLen(feedTokenBytes)

// feedFormat names the way a feed is rendered; it is part of every ETag, so that a change of
// the rendering (bump it) invalidates what calendar apps hold.
const feedFormat = "feed-1"

// CalendarURL returns the URL of accountID's calendar feed, making the feed on the first
// call and the same URL on the next ones.
func (s *Service) CalendarURL(ctx context.Context, accountID string) (string, error) {
	token, err := newFeedToken()
	if err != nil {
		return "", fmt.Errorf("calendar feed: %w", err)
	}
	if token, err = s.store.CalendarToken(ctx, accountID, token, s.clock()); err != nil {
		return "", fmt.Errorf("calendar feed: %w", err)
	}
	return s.feedURL(token), nil
}

// RotateCalendar gives accountID's calendar feed a new token and returns its new URL; the
// old URL finds nothing from then on.
func (s *Service) RotateCalendar(ctx context.Context, accountID string) (string, error) {
	token, err := newFeedToken()
	if err != nil {
		return "", fmt.Errorf("rotate calendar feed: %w", err)
	}
	if err := s.store.RotateCalendarToken(ctx, accountID, token, s.clock()); err != nil {
		return "", fmt.Errorf("rotate calendar feed: %w", err)
	}
	return s.feedURL(token), nil
}

// Feed is a rendered calendar feed.
type Feed struct {
	// ETag is the feed's weak entity tag (W/"…"): the same for every rendering of the same
	// events and reminders (only DTSTAMP differs between them).
	ETag string
	// Body is the iCalendar document; nil when unchanged said the client holds ETag already.
	Body []byte
}

// CalendarFeed returns the calendar feed whose token is token, or ErrFeedNotFound. When
// unchanged is not nil it is asked first, with the feed's ETag from one cheap query
// (CalendarState), whether the client holds that version already: if so, CalendarFeed
// renders nothing and returns the ETag without a Body.
func (s *Service) CalendarFeed(ctx context.Context, token string, unchanged func(etag string) bool) (Feed, error) {
	if !validFeedToken(token) {
		return Feed{}, ErrFeedNotFound // no lookup for what cannot be a token
	}
	owner, err := s.store.CalendarOwner(ctx, token)
	if err != nil {
		return Feed{}, fmt.Errorf("calendar feed: %w", err)
	}
	since := s.clock().Add(-CancelledRetention)
	if unchanged != nil {
		st, err := s.store.CalendarState(ctx, owner.AccountID, since)
		if err != nil {
			return Feed{}, fmt.Errorf("calendar feed: %w", err)
		}
		if etag := s.feedETag(owner, st); unchanged(etag) {
			return Feed{ETag: etag}, nil
		}
	}
	events, rems, err := s.store.CalendarEvents(ctx, owner.AccountID, since)
	if err != nil {
		return Feed{}, fmt.Errorf("calendar feed: %w", err)
	}
	// The ETag is made of what is rendered, so that it always names this body.
	st := FeedState{Events: events, Reminders: rems}
	st.sort()
	etag := s.feedETag(owner, st)
	return Feed{ETag: etag, Body: s.renderFeed(owner, events, rems)}, nil
}

// renderFeed renders the feed of owner: its events, soonest first, each with a VALARM per
// pending reminder; a deleted event as cancelled, as the events service's export shows it.
func (s *Service) renderFeed(owner FeedOwner, events []FeedEvent, rems []FeedReminder) []byte {
	alarms := make(map[string][]ics.Alarm, len(events))
	for _, r := range rems {
		alarms[r.EventID] = append(alarms[r.EventID], ics.Alarm{Description: r.Note, MinutesBefore: r.MinutesBefore, At: r.SendAt})
	}
	entries := make([]ics.Entry, 0, len(events))
	for _, fe := range events {
		cal := fe.Event.Calendar()
		en := ics.Entry{Event: cal, EventURL: s.eventURL(fe.Event.ID)}
		if fe.DeletedAt != nil {
			// What changed last is the deletion (as in the events service's export).
			en.Event.UpdatedAt, en.Cancelled = *fe.DeletedAt, true
		} else {
			en.Alarms = alarms[fe.Event.ID]
		}
		entries = append(entries, en)
	}
	name := "EventPost"
	if owner.DisplayName != "" {
		name += " — " + owner.DisplayName
	}
	return ics.RenderFeed(entries, ics.FeedOptions{Name: name, Host: ics.Host(s.cfg.PublicURL), Stamp: s.clock()})
}

// feedETag returns the weak ETag of owner's feed in state st (sorted): a hash of everything
// the feed shows that can change — which events, their versions and deletions, which
// reminders and when — and of what frames them (the name, the public URL, the format).
func (s *Service) feedETag(owner FeedOwner, st FeedState) string {
	h := sha256.New()
	var b []byte
	field := func(v string) { b = append(append(b, v...), 0) }
	field(feedFormat)
	field(s.cfg.PublicURL)
	field(owner.DisplayName)
	for _, e := range st.Events {
		field("e")
		field(e.Event.ID)
		b = strconv.AppendInt(b, e.Event.UpdatedAt.UnixMicro(), 10)
		if e.DeletedAt != nil {
			b = strconv.AppendInt(append(b, '/'), e.DeletedAt.UnixMicro(), 10)
		}
		field("")
	}
	for _, r := range st.Reminders {
		field("r")
		field(r.ID)
		field(string(r.Status))
		b = strconv.AppendInt(b, r.SendAt.UnixMicro(), 10)
		field("")
	}
	h.Write(b)
	return `W/"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// sort orders st's events and reminders by ID, as its ETag is computed.
func (st *FeedState) sort() {
	slices.SortFunc(st.Events, func(a, b FeedEvent) int { return cmp.Compare(a.Event.ID, b.Event.ID) })
	slices.SortFunc(st.Reminders, func(a, b FeedReminder) int { return cmp.Compare(a.ID, b.ID) })
}

// feedURL returns the public URL of the feed with the token.
func (s *Service) feedURL(token string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/api/v1/calendars/" + token
}

// eventURL returns the address of the event's page, as the events service makes it.
func (s *Service) eventURL(id string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/events/" + url.PathEscape(id)
}

// newFeedToken returns a new feed token: feedTokenBytes random bytes, base64url.
func newFeedToken() (string, error) {
	b := make([]byte, feedTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// validFeedToken reports whether token can be a feed token: the length and alphabet of one.
func validFeedToken(token string) bool {
	if len(token) != feedTokenLength {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
