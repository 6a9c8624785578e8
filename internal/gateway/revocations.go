package gateway

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/retry"
)

// revocations is the gateway's copy of the auth service's revocation feed: the logins and
// accounts whose access tokens are refused until the tokens would have expired anyway.
type revocations struct {
	g *Gateway

	mu       sync.RWMutex
	sessions map[string]time.Time // session ID → until when its tokens are refused
	accounts map[string]time.Time // account ID → until when its tokens are refused
	lastSeq  int64                // the feed's sequence number the copy has reached
	synced   bool                 // whether the feed has been read once
	changed  chan struct{}        // closed and replaced whenever the copy advances
}

// newRevocations returns an empty, unsynced copy that reads the feed through g.
func newRevocations(g *Gateway) *revocations {
	return &revocations{
		g:        g,
		sessions: map[string]time.Time{},
		accounts: map[string]time.Time{},
		changed:  make(chan struct{}),
	}
}

// revoked reports whether tokens of the login sid or of the account sub are refused.
func (rv *revocations) revoked(sid, sub string) bool {
	now := rv.g.now()
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	if until, ok := rv.sessions[sid]; ok && sid != "" && now.Before(until) {
		return true
	}
	if until, ok := rv.accounts[sub]; ok && sub != "" && now.Before(until) {
		return true
	}
	return false
}

// size returns the number of revocations held.
func (rv *revocations) size() int {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	return len(rv.sessions) + len(rv.accounts)
}

// isSynced reports whether the feed has been read at least once.
func (rv *revocations) isSynced() bool {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	return rv.synced
}

// state returns the sequence number reached, whether the feed was read, and a channel closed
// at the next change.
func (rv *revocations) state() (int64, bool, <-chan struct{}) {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	return rv.lastSeq, rv.synced, rv.changed
}

// apply merges a page of the feed, read with after, into the copy.
func (rv *revocations) apply(feed authtoken.RevocationFeed, after int64) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, r := range feed.Revocations {
		if r.SessionID != "" && r.ExpiresAt.After(rv.sessions[r.SessionID]) {
			rv.sessions[r.SessionID] = r.ExpiresAt
		}
		if r.AccountID != "" && r.ExpiresAt.After(rv.accounts[r.AccountID]) {
			rv.accounts[r.AccountID] = r.ExpiresAt
		}
	}
	switch {
	case feed.LastSeq > rv.lastSeq:
		rv.lastSeq = feed.LastSeq
	case feed.LastSeq < after:
		// The auth service's sequence went back (its database was replaced): start over
		// from its numbering, keeping what is known.
		rv.g.log.Warn("the revocation feed went back; following it", "after", after, "last_seq", feed.LastSeq)
		rv.lastSeq = feed.LastSeq
	}
	rv.synced = true
	close(rv.changed)
	rv.changed = make(chan struct{})
}

// prune forgets revocations whose tokens have all expired by now.
func (rv *revocations) prune(now time.Time) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for id, until := range rv.sessions {
		if !now.Before(until) {
			delete(rv.sessions, id)
		}
	}
	for id, until := range rv.accounts {
		if !now.Before(until) {
			delete(rv.accounts, id)
		}
	}
}

// fetch reads the feed after the sequence number reached, letting the auth service hold the
// request up to wait for something new, and applies what it answers.
func (rv *revocations) fetch(ctx context.Context, wait time.Duration) error {
	after, _, _ := rv.state()
	ctx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
	defer cancel()
	q := url.Values{}
	q.Set("after", strconv.FormatInt(after, 10))
	q.Set("wait", strconv.Itoa(int(wait/time.Second)))
	var feed authtoken.RevocationFeed
	if err := rv.g.getFromAuth(ctx, authtoken.RevocationsPath+"?"+q.Encode(), 16<<20, &feed); err != nil {
		return fmt.Errorf("fetch revocations: %w", err)
	}
	rv.apply(feed, after)
	return nil
}

// run follows the feed with long polls until ctx is done, retrying with backoff on errors.
func (rv *revocations) run(ctx context.Context) {
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	failing := false
	for ctx.Err() == nil {
		wait, wasSynced := rv.g.cfg.RevocationPoll, rv.isSynced()
		if !wasSynced {
			wait = 0 // the first read answers at once
		}
		start := time.Now()
		err := rv.fetch(ctx, wait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failing {
				rv.g.log.WarnContext(ctx, "cannot read the revocation feed; retrying", "err", err)
			}
			failing = true
			if !retry.Sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if failing {
			rv.g.log.InfoContext(ctx, "reading the revocation feed again")
		}
		failing = false
		backoff = 100 * time.Millisecond
		// A feed that answers at once, without holding the poll (or a gateway configured not
		// to long-poll), is read at most once a second.
		if wasSynced && (wait == 0 || time.Since(start) < wait/4) {
			if !retry.Sleep(ctx, time.Second) {
				return
			}
		}
	}
}

// awaitSync waits, up to Config.RevocationWait, until the feed has been read once; it
// reports whether it has.
func (rv *revocations) awaitSync(ctx context.Context) bool {
	_, synced, changed := rv.state()
	if synced {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, rv.g.cfg.RevocationWait)
	defer cancel()
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
		if _, synced, changed = rv.state(); synced {
			return true
		}
	}
}

// waitFor holds the caller until the copy has reached sequence number seq, reading the feed
// at once, for at most Config.RevocationWait. Past that it logs and gives up.
func (rv *revocations) waitFor(ctx context.Context, seq int64) {
	if last, _, _ := rv.state(); last >= seq {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, rv.g.cfg.RevocationWait)
	defer cancel()
	if err := rv.fetch(ctx, 0); err != nil && ctx.Err() == nil {
		rv.g.log.WarnContext(ctx, "cannot read the revocation feed", "err", err)
	}
	for {
		last, _, changed := rv.state()
		if last >= seq {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			rv.g.log.WarnContext(ctx, "gave up waiting for a revocation to reach the gateway",
				"seq", seq, "reached", last)
			return
		}
	}
}
