package web

import (
	"html/template"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDocTitleFitsSearchResults(t *testing.T) {
	for _, tc := range []struct{ title, want string }{
		{"Jazz night", "Jazz night · EventPost"},
		{strings.Repeat("a", 58), strings.Repeat("a", 58) + " · EventPost"},
		{"Harbour swim <b>", "Harbour swim <b> · EventPost"},
		{"Harbour swim </script><script>alert(1)</script>", "Harbour swim </script><script>alert(1)</sc… · EventPost"},
		{"Cancelled: Harbour swim </script><script>alert(1)</script>", "Cancelled: Harbour swim… · EventPost"},
		{"The annual general meeting of the harbour swimming club, open to all", "The annual general meeting of the harbour swimming club,… · EventPost"},
		{strings.Repeat("ü", 80), strings.Repeat("ü", 57) + "… · EventPost"},
	} {
		got := view{Title: tc.title}.DocTitle()
		if got != tc.want {
			t.Errorf("DocTitle(%q) = %q, want %q", tc.title, got, tc.want)
		}
		if n := utf8.RuneCountInString(template.HTMLEscapeString(got)); n > maxDocTitle {
			t.Errorf("DocTitle(%q) has %d characters, more than %d", tc.title, n, maxDocTitle)
		}
	}
}
