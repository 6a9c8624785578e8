package paging_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/paging"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, k := range []paging.Key{
		{Time: time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC), ID: "0190f2a0-0000-7000-8000-000000000001"},
		{Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ID: "x,y"},
		{Time: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), ID: "ü"},
		{Time: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), ID: strings.Repeat("i", 200)},
	} {
		s := paging.EncodeKey(k)
		if strings.ContainsAny(s, "+/=") {
			t.Errorf("cursor %q is not URL-safe", s)
		}
		got, err := paging.DecodeKey(s)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(k, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		if padded, err := paging.DecodeKey(s + "=="); err != nil || !cmp.Equal(padded, k) {
			t.Errorf("padded cursor decodes to %+v, %v", padded, err)
		}
	}
}

func TestDecodeKeyRefusesMalformed(t *testing.T) {
	for _, bad := range []string{
		"", "!!!", "bm90aGluZw", "MTIz", "eCxpZA", "MTIzLA", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5LGlk",
		paging.EncodeKey(paging.Key{ID: strings.Repeat("i", 201)}),
		paging.EncodeKey(paging.Key{ID: "a\x00b"}),
		paging.EncodeKey(paging.Key{ID: "\xff"}),
		strings.Repeat("A", 10000),
	} {
		if k, err := paging.DecodeKey(bad); err == nil {
			t.Errorf("DecodeKey(%.40q) = %+v, want an error", bad, k)
		}
	}
}

func TestLimitAndCursor(t *testing.T) {
	key := paging.Key{Time: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), ID: "r1"}
	tests := []struct {
		query      string
		wantLimit  int
		wantCursor *paging.Key
		wantFields []string
	}{
		{"", 50, nil, nil},
		{"limit=&cursor=", 50, nil, nil},
		{"limit=1", 1, nil, nil},
		{"limit=100", 100, nil, nil},
		{"limit=0", 50, nil, []string{"limit"}},
		{"limit=101", 50, nil, []string{"limit"}},
		{"limit=ten", 50, nil, []string{"limit"}},
		{"limit=1.5", 50, nil, []string{"limit"}},
		{"limit=-1", 50, nil, []string{"limit"}},
		{"limit=99999999999999999999", 50, nil, []string{"limit"}},
		{"limit=5&limit=6", 50, nil, []string{"limit"}},
		{"cursor=" + paging.EncodeKey(key), 50, &key, nil},
		{"cursor=nonsense!", 50, nil, []string{"cursor"}},
		{"cursor=a&cursor=b", 50, nil, []string{"cursor"}},
		{"limit=0&cursor=x", 50, nil, []string{"limit", "cursor"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			var errs validation.List
			limit := paging.Limit(v, 50, &errs)
			c, ok := paging.Cursor(v, &errs, paging.DecodeKey)
			var cursor *paging.Key
			if ok {
				cursor = &c
			}
			var fields []string
			for _, f := range errs.Fields() {
				fields = append(fields, f.Field)
			}
			if limit != tt.wantLimit || !cmp.Equal(cursor, tt.wantCursor) || !cmp.Equal(fields, tt.wantFields) {
				t.Errorf("limit %d, cursor %+v, invalid %v; want %d, %+v, %v",
					limit, cursor, fields, tt.wantLimit, tt.wantCursor, tt.wantFields)
			}
		})
	}
}

func TestTrim(t *testing.T) {
	cursor := func(last int) string { return "after-" + string(rune('0'+last)) }
	tests := []struct {
		items    []int
		limit    int
		want     []int
		wantNext *string
	}{
		{nil, 2, nil, nil},
		{[]int{1}, 2, []int{1}, nil},
		{[]int{1, 2}, 2, []int{1, 2}, nil},
		{[]int{1, 2, 3}, 2, []int{1, 2}, ptr("after-2")},
	}
	for _, tt := range tests {
		got, next := paging.Trim(tt.items, tt.limit, cursor)
		if !cmp.Equal(got, tt.want) || !cmp.Equal(next, tt.wantNext) {
			t.Errorf("Trim(%v, %d) = %v, %v; want %v, %v", tt.items, tt.limit, got, deref(next), tt.want, deref(tt.wantNext))
		}
	}
}

func ptr(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func FuzzDecodeKey(f *testing.F) {
	for _, seed := range []string{"", "MTg5MzQ1NjAwMDAwMDAwMCxpZA", "LTEsaQ", "!!"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := paging.DecodeKey(s)
		if err != nil {
			return
		}
		back, err := paging.DecodeKey(paging.EncodeKey(k))
		if err != nil || !cmp.Equal(back, k) {
			t.Errorf("key %+v does not round-trip: %+v, %v", k, back, err)
		}
	})
}
