package svcauth

import (
	"testing"
	"time"
)

// TestBoundedCacheStaysBounded: a full cache first drops what has expired, and drops
// everything when nothing has, so that it never holds more than cacheSize values.
func TestBoundedCacheStaysBounded(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	c := newBoundedCache[int, int]()
	for i := range cacheSize {
		until := now.Add(time.Minute)
		if i%2 == 0 {
			until = now.Add(-time.Second) // already expired
		}
		c.put(i, i, until, now)
	}
	c.put(-1, -1, now.Add(time.Minute), now)
	if got := len(c.m); got != cacheSize/2+1 {
		t.Errorf("after a put into a full cache with half expired: %d values, want %d", got, cacheSize/2+1)
	}
	if v, ok := c.get(1, now); !ok || v != 1 {
		t.Errorf("a live value went: %d, %v", v, ok)
	}
	if _, ok := c.get(1, now.Add(time.Minute)); ok {
		t.Error("a value was returned at its expiry")
	}
	for i := range cacheSize {
		c.put(cacheSize+i, i, now.Add(time.Minute), now)
	}
	if got := len(c.m); got > cacheSize {
		t.Errorf("%d values, more than %d", got, cacheSize)
	}
}
