package notifications

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/paging"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

// Limits of a list of reminders.
const (
	// DefaultListLimit is the page size of a list that asks for none.
	DefaultListLimit = paging.DefaultLimit
	// MaxListLimit is the largest page.
	MaxListLimit = paging.MaxLimit
	// maxEventIDLength bounds the event_id filter; event IDs are far shorter.
	maxEventIDLength = 200
)

// statusMessage says which states a status filter may name.
const statusMessage = "must be one of scheduled, awaiting_consent, sending, sent, failed, cancelled"

// ReminderPage is one page of an account's reminders.
type ReminderPage struct {
	Items []Reminder
	// NextCursor continues after Items; nil on the last page.
	NextCursor *string
}

// ParseListQuery reads the query of GET /api/v1/notifications: the filters status and
// event_id, limit (1 to MaxListLimit, default DefaultListLimit) and cursor. An empty
// parameter counts as absent; unknown parameters are ignored. Invalid parameters yield a 422
// *problem.Error naming each of them. The filter's AccountID is left to the caller.
func ParseListQuery(v url.Values) (ListFilter, error) {
	var (
		errs validation.List
		f    ListFilter
	)
	if s, ok := paging.Single(v, "status", &errs); ok {
		if f.Status = Status(s); !f.Status.Valid() {
			errs.Add("status", statusMessage)
		}
	}
	if s, ok := paging.Single(v, "event_id", &errs); ok {
		if len(s) > maxEventIDLength || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			errs.Add("event_id", fmt.Sprintf("must be an event ID: text of at most %d bytes", maxEventIDLength))
		}
		f.EventID = s
	}
	f.Limit = paging.Limit(v, DefaultListLimit, &errs)
	if after, ok := paging.Cursor(v, &errs, paging.DecodeKey); ok {
		f.After = &after
	}
	if err := errs.Err(); err != nil {
		return ListFilter{}, problem.Map(err)
	}
	return f, nil
}

// List returns the page of accountID's reminders that f selects (f.AccountID is ignored),
// soonest first, then by ID: f.Limit of them (DefaultListLimit when 0) after f.After. It
// asks the store for one more than the page holds, to know whether another page follows.
func (s *Service) List(ctx context.Context, accountID string, f ListFilter) (ReminderPage, error) {
	if f.Status != "" && !f.Status.Valid() {
		return ReminderPage{}, validation.New("status", statusMessage)
	}
	if f.Limit == 0 {
		f.Limit = DefaultListLimit
	}
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return ReminderPage{}, validation.New("limit", fmt.Sprintf("must be an integer from 1 to %d", MaxListLimit))
	}
	f.AccountID = accountID
	limit := f.Limit
	f.Limit++
	rs, err := s.store.ListReminders(ctx, f)
	if err != nil {
		return ReminderPage{}, fmt.Errorf("list reminders: %w", err)
	}
	var page ReminderPage
	page.Items, page.NextCursor = paging.Trim(rs, limit, reminderCursor)
	if page.Items == nil {
		page.Items = []Reminder{}
	}
	return page, nil
}

// reminderCursor is the cursor of the page after r.
func reminderCursor(r Reminder) string {
	return paging.EncodeKey(paging.Key{Time: r.SendAt, ID: r.ID})
}
