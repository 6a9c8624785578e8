package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventpost/eventpost/internal/platform/apitime"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

// Limits of an event's fields, in characters.
const (
	maxTitleLength       = 120
	maxDescriptionLength = 5000
	maxCategoryLength    = 40
	maxTagLength         = 32
	maxPlaceNameLength   = 200
	maxAddressLength     = 500
	maxURLLength         = 2048
	maxTimezoneLength    = 64
)

// Limits of an event's default reminders.
const (
	// MaxDefaultReminders is how many default reminders an event may have.
	MaxDefaultReminders = 3
	// MaxMinutesBefore is the longest a default reminder can precede its event: four weeks,
	// as long as a reminder the notifications service accepts.
	MaxMinutesBefore = 40320
)

// EventInput is the body of POST /api/v1/events: the fields of an event that its organizer
// sets. Times are strings so that a malformed one is reported as an invalid field.
type EventInput struct {
	Title       *string   `json:"title"`
	Description *string   `json:"description"`
	StartsAt    *string   `json:"starts_at"`
	EndsAt      *string   `json:"ends_at"`
	Timezone    *string   `json:"timezone"`
	Location    *Location `json:"location"`
	OnlineURL   *string   `json:"online_url"`
	Category    *string   `json:"category"`
	Tags        []string  `json:"tags"`
	Capacity    *int64    `json:"capacity"`
	// DefaultReminders are minutes_before values (see Event.DefaultReminders); nil for none.
	DefaultReminders []int `json:"default_reminders"`
}

// inputFields are the members of EventInput, as named in JSON.
var inputFields = []string{
	"title", "description", "starts_at", "ends_at", "timezone", "location", "online_url", "category", "tags", "capacity",
	"default_reminders",
}

// locationFields are the members of Location, as named in JSON.
var locationFields = []string{"name", "address", "lat", "lon"}

var tagPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// validate checks in and returns the event fields it sets (ID, organizer and the creation
// and update times left empty), or a *validation.Error naming every invalid field. The start
// must be in the future (after now) unless it equals prevStart, the start of the event being
// changed; prevStart is nil for a new event.
func (in EventInput) validate(now time.Time, prevStart *time.Time) (Event, error) {
	var (
		e    = Event{Tags: []string{}, Timezone: "UTC", DefaultReminders: []int{}}
		errs validation.List
	)
	in.checkText(&e, &errs)
	in.checkTimes(&e, &errs, now, prevStart)
	in.checkPlace(&e, &errs)
	in.checkClassification(&e, &errs)
	in.checkDefaultReminders(&e, &errs)
	if err := errs.Err(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// checkText checks the title and description and sets them on e.
func (in EventInput) checkText(e *Event, errs *validation.List) {
	switch {
	case in.Title == nil || strings.TrimSpace(*in.Title) == "":
		errs.Add("title", "is required")
	case utf8.RuneCountInString(*in.Title) > maxTitleLength:
		errs.Add("title", fmt.Sprintf("must be 1 to %d characters", maxTitleLength))
	default:
		e.Title = *in.Title
	}
	if in.Description == nil {
		return
	}
	if utf8.RuneCountInString(*in.Description) > maxDescriptionLength {
		errs.Add("description", fmt.Sprintf("must be at most %d characters", maxDescriptionLength))
	} else {
		e.Description = *in.Description
	}
}

// checkTimes checks the start, the end and the time zone and sets them on e.
func (in EventInput) checkTimes(e *Event, errs *validation.List, now time.Time, prevStart *time.Time) {
	startOK := false
	if in.StartsAt == nil {
		errs.Add("starts_at", "is required")
	} else if t, err := apitime.Parse(*in.StartsAt); err != nil {
		errs.Add("starts_at", err.Error())
	} else if (prevStart == nil || !t.Equal(*prevStart)) && !t.After(now) {
		errs.Add("starts_at", "must be in the future")
	} else {
		e.StartsAt, startOK = t, true
	}
	if in.EndsAt != nil {
		t, err := apitime.Parse(*in.EndsAt)
		switch {
		case err != nil:
			errs.Add("ends_at", err.Error())
		case startOK && !t.After(e.StartsAt):
			errs.Add("ends_at", "must be after starts_at")
		default:
			e.EndsAt = &t
		}
	}
	if in.Timezone == nil {
		return
	}
	if !validTimezone(*in.Timezone) {
		errs.Add("timezone", "must be an IANA time zone name, such as Europe/Paris")
	} else {
		e.Timezone = *in.Timezone
	}
}

// checkPlace checks the location and the online link and sets them on e.
func (in EventInput) checkPlace(e *Event, errs *validation.List) {
	if in.Location != nil {
		l, lerrs := validateLocation(*in.Location)
		errs.Append(lerrs.Fields()...)
		e.Location = &l
	}
	if in.OnlineURL == nil {
		return
	}
	if !validURL(*in.OnlineURL) {
		errs.Add("online_url", "must be an absolute http or https URL")
	} else {
		e.OnlineURL = clonePtr(in.OnlineURL)
	}
}

// checkClassification checks the category, the tags and the capacity and sets them on e.
func (in EventInput) checkClassification(e *Event, errs *validation.List) {
	if in.Category != nil {
		if n := utf8.RuneCountInString(*in.Category); n < 1 || n > maxCategoryLength {
			errs.Add("category", fmt.Sprintf("must be 1 to %d characters", maxCategoryLength))
		} else {
			e.Category = clonePtr(in.Category)
		}
	}
	if in.Tags != nil {
		if tags, msg := normalizeTags(in.Tags); msg != "" {
			errs.Add("tags", msg)
		} else {
			e.Tags = tags
		}
	}
	if in.Capacity == nil {
		return
	}
	if *in.Capacity < 1 {
		errs.Add("capacity", "must be at least 1")
	} else {
		e.Capacity = clonePtr(in.Capacity)
	}
}

// checkDefaultReminders checks the default reminders, their number first, and sets them on
// e in the order given.
func (in EventInput) checkDefaultReminders(e *Event, errs *validation.List) {
	if in.DefaultReminders == nil {
		return
	}
	if len(in.DefaultReminders) > MaxDefaultReminders {
		errs.Add("default_reminders", fmt.Sprintf("must hold at most %d values", MaxDefaultReminders))
		return
	}
	for i, m := range in.DefaultReminders {
		if m < 1 || m > MaxMinutesBefore {
			errs.Add("default_reminders", fmt.Sprintf("must hold minutes before the start from 1 to %d", MaxMinutesBefore))
			return
		}
		if slices.Contains(in.DefaultReminders[:i], m) {
			errs.Add("default_reminders", "must hold distinct values")
			return
		}
	}
	e.DefaultReminders = slices.Clone(in.DefaultReminders)
}

func validateLocation(l Location) (Location, *validation.List) {
	var errs validation.List
	if utf8.RuneCountInString(l.Name) > maxPlaceNameLength {
		errs.Add("location.name", fmt.Sprintf("must be at most %d characters", maxPlaceNameLength))
	}
	if utf8.RuneCountInString(l.Address) > maxAddressLength {
		errs.Add("location.address", fmt.Sprintf("must be at most %d characters", maxAddressLength))
	}
	checkCoordinates(l, &errs)
	l = cloneLocation(l)
	for _, v := range []*float64{l.Lat, l.Lon} {
		if v != nil && *v == 0 {
			*v = 0 // not -0, which the store would not keep
		}
	}
	return l, &errs
}

// checkCoordinates checks that a location has both coordinates or neither, each in range.
func checkCoordinates(l Location, errs *validation.List) {
	if l.Lat != nil && (*l.Lat < -90 || *l.Lat > 90) {
		errs.Add("location.lat", "must be from -90 to 90")
	}
	if l.Lon != nil && (*l.Lon < -180 || *l.Lon > 180) {
		errs.Add("location.lon", "must be from -180 to 180")
	}
	switch {
	case l.Lat != nil && l.Lon == nil:
		errs.Add("location.lon", "is required with location.lat")
	case l.Lat == nil && l.Lon != nil:
		errs.Add("location.lat", "is required with location.lon")
	}
}

// normalizeTags lower-cases tags and drops duplicates; it returns a message when there are
// too many, which it checks first, or when a tag is invalid. Its work is linear in the size
// of tags.
func normalizeTags(tags []string) ([]string, string) {
	if len(tags) > MaxTags {
		return nil, fmt.Sprintf("must hold at most %d tags", MaxTags)
	}
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		lt := strings.ToLower(t)
		if !tagPattern.MatchString(lt) {
			return nil, fmt.Sprintf("%q is not 1 to %d characters of a-z, 0-9 and -", truncateRunes(t, 40), maxTagLength)
		}
		if !seen[lt] {
			seen[lt] = true
			out = append(out, lt)
		}
	}
	return out, ""
}

func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}

// validTimezone accepts the IANA time zone names that the time package knows.
func validTimezone(name string) bool {
	if name == "" || name == "Local" || len(name) > maxTimezoneLength {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

func validURL(s string) bool {
	if len(s) > maxURLLength || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != ""
}

// inputOf returns the input that recreates e.
func inputOf(e Event) EventInput {
	start := e.StartsAt.Format(time.RFC3339Nano)
	in := EventInput{
		Title: &e.Title, Description: &e.Description, StartsAt: &start, Timezone: &e.Timezone,
		OnlineURL: e.OnlineURL, Category: e.Category, Tags: e.Tags, Capacity: e.Capacity,
		DefaultReminders: e.DefaultReminders,
	}
	if e.EndsAt != nil {
		end := e.EndsAt.Format(time.RFC3339Nano)
		in.EndsAt = &end
	}
	if e.Location != nil {
		l := cloneLocation(*e.Location)
		in.Location = &l
	}
	return in
}

// applyPatch applies a JSON merge patch (RFC 7396) to the input of e and returns the result.
// An unknown member or one that is not JSON is a *MalformedError; null for a required member
// is a *validation.Error. The merged input is decoded with the rules of httpx.Decode, whose
// errors (problem errors: the patch is the body of a request) it returns as they are.
func applyPatch(e Event, patch map[string]json.RawMessage) (EventInput, error) {
	names, err := patchedFields(patch)
	if err != nil {
		return EventInput{}, err
	}
	doc, err := toDocument(inputOf(e))
	if err != nil {
		return EventInput{}, err
	}
	if err := mergeFields(doc, patch, names); err != nil {
		return EventInput{}, err
	}
	merged, err := json.Marshal(doc)
	if err != nil {
		return EventInput{}, fmt.Errorf("apply patch: %w", err)
	}
	var in EventInput
	if err := httpx.Unmarshal(merged, &in); err != nil {
		return EventInput{}, err
	}
	return in, nil
}

// patchedFields returns the members of patch in order of name, or a *MalformedError naming
// the first unknown one. One pass finds an unknown member, however many the patch holds;
// what remains is at most the few known ones.
func patchedFields(patch map[string]json.RawMessage) ([]string, error) {
	var unknown *string
	names := make([]string, 0, len(inputFields))
	for name := range patch {
		switch {
		case slices.Contains(inputFields, name):
			names = append(names, name)
		case unknown == nil || name < *unknown:
			unknown = &name
		}
	}
	if unknown != nil {
		return nil, &MalformedError{Detail: fmt.Sprintf("unknown field %q", *unknown)}
	}
	slices.Sort(names)
	return names, nil
}

// mergeFields merges the members names of patch into doc: null removes a member, but not a
// required one.
func mergeFields(doc map[string]any, patch map[string]json.RawMessage, names []string) error {
	var errs validation.List
	for _, name := range names {
		var v any
		if err := decodeNumbers(patch[name], &v); err != nil {
			return &MalformedError{Detail: fmt.Sprintf("malformed JSON in %q", name)}
		}
		if err := checkNested(name, v); err != nil {
			return err
		}
		switch {
		case v == nil && (name == "title" || name == "starts_at"):
			errs.Add(name, "is required and cannot be removed")
		case v == nil:
			delete(doc, name)
		default:
			doc[name] = mergePatch(doc[name], v)
		}
	}
	return errs.Err()
}

// checkNested returns a *MalformedError when v, the patch of member name, is an object
// naming a member the input does not have. The decoder rejects such a member when it is set;
// this rejects it when the patch removes it (null), which a merge would otherwise pass over.
func checkNested(name string, v any) error {
	m, ok := v.(map[string]any)
	if !ok || name != "location" {
		return nil
	}
	for k := range m {
		if !slices.Contains(locationFields, k) {
			return &MalformedError{Detail: fmt.Sprintf("unknown field %q", name+"."+k)}
		}
	}
	return nil
}

// mergePatch is RFC 7396's MergePatch over decoded JSON values.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
		} else {
			tm[k] = mergePatch(tm[k], v)
		}
	}
	return tm
}

// toDocument returns in as a JSON object with numbers kept exact, omitting null members.
func toDocument(in EventInput) (map[string]any, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode event input: %w", err)
	}
	var doc map[string]any
	if err := decodeNumbers(b, &doc); err != nil {
		return nil, fmt.Errorf("decode event input: %w", err)
	}
	for k, v := range doc {
		if v == nil {
			delete(doc, k)
		}
	}
	return doc, nil
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
