package apitime_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/apitime"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr error
	}{
		{in: "2027-03-01T18:30:00Z", want: time.Date(2027, 3, 1, 18, 30, 0, 0, time.UTC)},
		{in: "2027-03-01T18:30:00+02:00", want: time.Date(2027, 3, 1, 16, 30, 0, 0, time.UTC)},
		{in: "2027-03-01T18:30:00.123456789Z", want: time.Date(2027, 3, 1, 18, 30, 0, 123456000, time.UTC)},
		{in: "0001-01-01T00:00:00Z", want: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{in: "9999-12-31T23:59:59.999999999Z", want: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{in: "9999-12-31T23:59:59-14:00", wantErr: apitime.ErrRange},
		{in: "9999-12-31T23:59:59.999999999-23:59", wantErr: apitime.ErrRange},
		{in: "0001-01-01T00:00:00+00:01", wantErr: apitime.ErrRange},
		{in: "0000-06-01T00:00:00Z", wantErr: apitime.ErrRange},
		{in: "2027-03-01T18:30:00", wantErr: apitime.ErrSyntax},
		{in: "2027-03-01", wantErr: apitime.ErrSyntax},
		{in: "2027-02-30T18:30:00Z", wantErr: apitime.ErrSyntax},
		{in: "2027-03-01T24:00:00Z", wantErr: apitime.ErrSyntax},
		{in: "10000-01-01T00:00:00Z", wantErr: apitime.ErrSyntax},
		{in: "2027-03-01T18:30:00." + strings.Repeat("1", 60) + "Z", wantErr: apitime.ErrSyntax},
		{in: "", wantErr: apitime.ErrSyntax},
	}
	for _, tt := range tests {
		got, err := apitime.Parse(tt.in)
		if !errors.Is(err, tt.wantErr) || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseQueryTakesASpaceForAPlus(t *testing.T) {
	got, err := apitime.ParseQuery("2027-03-01T18:30:00 02:00")
	if want := time.Date(2027, 3, 1, 16, 30, 0, 0, time.UTC); err != nil || !got.Equal(want) {
		t.Errorf("ParseQuery = %v, %v; want %v", got, err, want)
	}
	if _, err := apitime.ParseQuery("9999-12-31T23:59:59-14:00"); !errors.Is(err, apitime.ErrRange) {
		t.Errorf("ParseQuery of a time in the year 10000: %v, want ErrRange", err)
	}
}

// FuzzParse checks that whatever Parse accepts can be written back as RFC 3339 and read
// again to the same instant: that it never lets through a time the API cannot answer with.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"2027-03-01T18:30:00Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+23:59", "2027-03-01T18:30:00.5+01:00", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := apitime.Parse(s)
		if err != nil {
			if !errors.Is(err, apitime.ErrSyntax) && !errors.Is(err, apitime.ErrRange) {
				t.Fatalf("Parse(%q) error %v", s, err)
			}
			return
		}
		b, err := got.MarshalJSON()
		if err != nil {
			t.Fatalf("Parse(%q) = %v, which does not encode: %v", s, got, err)
		}
		back, err := apitime.Parse(string(b[1 : len(b)-1]))
		if err != nil || !back.Equal(got) {
			t.Fatalf("Parse(%q) = %v; read back as %v, %v", s, got, back, err)
		}
	})
}
