package web

import (
	"testing"
	"time"
)

// SetSitemapLimits sets, for the test t, how many URLs one sitemap file holds and how many
// API calls one rebuild makes.
func SetSitemapLimits(t testing.TB, urls, calls int) {
	oldURLs, oldCalls := sitemapURLLimit, sitemapMaxCalls
	sitemapURLLimit, sitemapMaxCalls = urls, calls
	t.Cleanup(func() { sitemapURLLimit, sitemapMaxCalls = oldURLs, oldCalls })
}

// SitemapMaxAge is how long a sitemap is served before it is rebuilt.
func SitemapMaxAge() time.Duration { return sitemapMaxAge }

// EventDescription is eventDescription, for tests.
var EventDescription = eventDescription
