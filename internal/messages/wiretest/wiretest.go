// Package wiretest checks that the reader of a JSON document reads what its writer writes,
// field for field, so that a field added on one side of a hop cannot be forgotten on the
// other. docs/wire-types.md lists the hops and their types.
package wiretest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/events"
)

// Event returns an event as the events service serves it (the REST contract, events.Event),
// with every field set so that Check covers all of them.
func Event() events.Event {
	lat, lon := 48.8566, 2.3522
	ends := time.Date(2026, 6, 1, 21, 0, 0, 0, time.UTC)
	online, category, capacity := "https://meet.example/jazz", "music", int64(120)
	return events.Event{
		ID: "evt_1", OrganizerID: "acc_1", Title: "Jazz night", Description: "Live jazz.",
		StartsAt: time.Date(2026, 6, 1, 19, 0, 0, 0, time.UTC), EndsAt: &ends, Timezone: "Europe/Paris",
		Location:  &events.Location{Name: "Le Caveau", Address: "5 rue de la Huchette", Lat: &lat, Lon: &lon},
		OnlineURL: &online, Category: &category, Tags: []string{"jazz", "live"}, Capacity: &capacity,
		CreatedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2026, 5, 2, 11, 0, 0, 123000, time.UTC),
		Sequence:  3, GoingCount: 100, InterestedCount: 7, DefaultReminders: []int{1440, 60},
		Organizer: events.Organizer{ID: "acc_1", DisplayName: "Ann"}, SpotsLeft: ptr(int64(20)),
	}
}

// Check fails t unless a value of type R, decoded from the JSON of written, reads back every
// JSON key of written with the same value, except the keys ignored names (by their path:
// "capacity", "location.lat"), which R must then not read. It also fails when written leaves
// a field at its zero value (the check would not see it) and when R reads a key that written
// does not write.
func Check[R any](t testing.TB, written any, ignored ...string) {
	t.Helper()
	for _, p := range zeroFields(reflect.ValueOf(written), "") {
		t.Errorf("the written %T leaves %s unset: set it so that the check covers it", written, p)
	}
	data, err := json.Marshal(written)
	if err != nil {
		t.Fatalf("encode %T: %v", written, err)
	}
	var r R
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("decode %T into %T: %v", written, r, err)
	}
	back, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("encode %T: %v", r, err)
	}
	want, got := leaves(t, data), leaves(t, back)
	for path, w := range want {
		g, read := got[path]
		switch {
		case slices.Contains(ignored, path) && read:
			t.Errorf("%T reads %q, listed as ignored: remove it from the list", r, path)
		case slices.Contains(ignored, path):
		case !read:
			t.Errorf("%T does not read %q of %T: read it or list it as deliberately ignored", r, path, written)
		case !cmp.Equal(w, g):
			t.Errorf("%T reads %q of %T as %v, written %v", r, path, written, g, w)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("%T reads %q, which %T does not write", r, path, written)
		}
	}
}

// leaves flattens a JSON object into its leaf values by dotted path; arrays are leaves.
func leaves(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	out := make(map[string]any)
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = v
		}
	}
	walk("", doc)
	return out
}

// zeroFields returns the paths of the exported fields of v, a struct or a pointer to one,
// that hold their zero value, looking into nested structs that encode as JSON objects.
func zeroFields(v reflect.Value, prefix string) []string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return []string{strings.TrimSuffix(prefix, ".")}
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type().Implements(reflect.TypeFor[json.Marshaler]()) {
		return nil
	}
	var out []string
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		path := prefix + f.Name
		if fv.IsZero() || (fv.Kind() == reflect.Slice && fv.Len() == 0) {
			out = append(out, path)
			continue
		}
		out = append(out, zeroFields(fv, fmt.Sprintf("%s.", path))...)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
