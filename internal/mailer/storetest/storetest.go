// Package storetest is the contract suite of mailer.Store: every implementation (SQLite,
// PostgreSQL) runs the same tests, from its own _test.go file, with Run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/outbox/outboxtest"
)

// lease is the claim lease used throughout.
const lease = 2 * time.Minute

// t0 has nanoseconds and a zone on purpose: stores keep microseconds and answer in UTC.
var t0 = time.Date(2027, 3, 1, 19, 30, 15, 123456789, time.FixedZone("CET", 3600))

// Run runs the contract suite. open returns a new, empty store for one test; it also
// implements outboxtest.DBer. open registers the store's Close with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) mailer.Store) {
	t.Run("Claim", func(t *testing.T) { testClaim(t, open) })
	t.Run("ClaimConcurrent", func(t *testing.T) { testClaimConcurrent(t, open) })
	t.Run("ClaimConcurrentTakeover", func(t *testing.T) { testClaimConcurrentTakeover(t, open) })
	t.Run("ClaimConcurrentManyKeys", func(t *testing.T) { testClaimConcurrentManyKeys(t, open) })
	t.Run("Complete", func(t *testing.T) { testComplete(t, open) })
	t.Run("Batches", func(t *testing.T) { testBatches(t, open) })
	t.Run("Release", func(t *testing.T) { testRelease(t, open) })
	t.Run("Renew", func(t *testing.T) { testRenew(t, open) })
	t.Run("Get", func(t *testing.T) { testGet(t, open) })
	t.Run("Suppression", func(t *testing.T) { testSuppression(t, open) })
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func claim(key, token string, at time.Time) mailer.Claim {
	return mailer.Claim{Key: key, Kind: messages.EmailReminder, Token: token, At: at, Lease: lease}
}

// us is t as a store returns it.
func us(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func mustClaim(t *testing.T, s mailer.Store, c mailer.Claim) mailer.Record {
	t.Helper()
	rec, err := s.Claim(context.Background(), c)
	if err != nil {
		t.Fatalf("Claim(%s, %s): %v", c.Key, c.Token, err)
	}
	if rec.State != mailer.StateSending || rec.ClaimToken != c.Token {
		t.Fatalf("Claim(%s, %s) = state %q token %q, want the claim", c.Key, c.Token, rec.State, rec.ClaimToken)
	}
	return rec
}

func mustComplete(t *testing.T, s mailer.Store, o mailer.Outcome, msgs ...broker.Message) {
	t.Helper()
	if err := s.Complete(context.Background(), o, msgs...); err != nil {
		t.Fatalf("Complete(%s): %v", o.Key, err)
	}
}

func resultMessage(t *testing.T, key, status string) broker.Message {
	t.Helper()
	return outboxtest.Message(t, messages.TypeEmailResult, messages.EmailResult{
		IdempotencyKey: key, Kind: messages.EmailReminder, ReminderID: key, Status: status, At: us(t0),
	})
}

func get(t *testing.T, s mailer.Store, key string) mailer.Record {
	t.Helper()
	rec, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return rec
}

func testClaim(t *testing.T, open func(t *testing.T) mailer.Store) {
	sending := func(token string, claimed time.Time) mailer.Record {
		return mailer.Record{
			Key: "k", Kind: messages.EmailReminder, State: mailer.StateSending, ClaimToken: token,
			ClaimedAt: us(claimed), CreatedAt: us(t0),
		}
	}
	sent := mailer.Outcome{Key: "k", State: mailer.StateSent, MessageID: "m@x", At: t0.Add(time.Second)}
	failed := mailer.Outcome{Key: "k", State: mailer.StateFailed, Error: "550 no such user", At: t0.Add(time.Second)}
	tests := []struct {
		name    string
		setup   func(t *testing.T, s mailer.Store)
		claim   mailer.Claim
		want    mailer.Record
		wantErr error
	}{
		{
			name:  "a new key is claimed",
			claim: claim("k", "a", t0),
			want:  sending("a", t0),
		},
		{
			name:    "a live claim keeps others out",
			setup:   claimK,
			claim:   claim("k", "b", t0.Add(lease-time.Microsecond)),
			wantErr: mailer.ErrClaimed,
		},
		{
			name:    "the same token does not bypass a live claim",
			setup:   claimK,
			claim:   claim("k", "a", t0.Add(time.Second)),
			wantErr: mailer.ErrClaimed,
		},
		{
			name:  "a claim as old as the lease is taken over",
			setup: claimK,
			claim: claim("k", "b", t0.Add(lease)),
			want:  sending("b", t0.Add(lease)),
		},
		{
			name:  "a sent key is returned unchanged",
			setup: settledBy(sent),
			claim: claim("k", "b", t0.Add(time.Hour)),
			want:  settled(sent, t0),
		},
		{
			name:  "a failed key is returned unchanged",
			setup: settledBy(failed),
			claim: claim("k", "b", t0.Add(time.Hour)),
			want:  settled(failed, t0),
		},
		{
			name: "a released key is claimed again at once",
			setup: func(t *testing.T, s mailer.Store) {
				mustClaim(t, s, claim("k", "a", t0.Add(-time.Minute)))
				if err := s.Release(context.Background(), "k", "a"); err != nil {
					t.Fatal(err)
				}
			},
			claim: claim("k", "b", t0),
			want:  sending("b", t0),
		},
		{
			name:  "other keys do not interfere",
			setup: func(t *testing.T, s mailer.Store) { mustClaim(t, s, claim("other", "a", t0)) },
			claim: claim("k", "b", t0),
			want:  sending("b", t0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if tt.setup != nil {
				tt.setup(t, s)
			}
			got, err := s.Claim(context.Background(), tt.claim)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Claim error = %v, want %v", err, tt.wantErr)
				}
				if diff := cmp.Diff(mailer.Record{}, got); diff != "" {
					t.Errorf("Claim returned a record with an error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Claim: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Claim record (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, get(t, s, tt.claim.Key)); diff != "" {
				t.Errorf("stored record (-want +got):\n%s", diff)
			}
		})
	}
}

func testClaimConcurrent(t *testing.T, open func(t *testing.T) mailer.Store) {
	s := open(t)
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		errs    []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := fmt.Sprintf("t%d", i)
			rec, err := s.Claim(context.Background(), claim("k", token, t0))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && rec.ClaimToken == token:
				winners = append(winners, token)
			case err != nil && !errors.Is(err, mailer.ErrClaimed):
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if len(winners) != 1 {
		t.Fatalf("%d claims won (%v), want exactly 1", len(winners), winners)
	}
	if got := get(t, s, "k").ClaimToken; got != winners[0] {
		t.Errorf("stored token %q, want the winner's %q", got, winners[0])
	}
}

// testClaimConcurrentTakeover has several deliveries of a key whose claim lapsed take it
// over at once: exactly one does.
func testClaimConcurrentTakeover(t *testing.T, open func(t *testing.T) mailer.Store) {
	s := open(t)
	mustClaim(t, s, claim("k", "crashed", t0))
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	for i := range n {
		wg.Go(func() {
			token := fmt.Sprintf("t%d", i)
			rec, err := s.Claim(context.Background(), claim("k", token, t0.Add(lease+time.Duration(i)*time.Microsecond)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && rec.ClaimToken == token:
				winners = append(winners, token)
			case err != nil && !errors.Is(err, mailer.ErrClaimed):
				t.Errorf("Claim(%s): %v", token, err)
			case err == nil:
				t.Errorf("Claim(%s) = %+v without an error, want it or ErrClaimed", token, rec)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d takeovers won (%v), want exactly 1", len(winners), winners)
	}
	if got := get(t, s, "k"); got.ClaimToken != winners[0] || !got.CreatedAt.Equal(us(t0)) {
		t.Errorf("stored token %q created %v, want the winner's %q and the first claim's time", got.ClaimToken, got.CreatedAt, winners[0])
	}
}

// testClaimConcurrentManyKeys has several consumers (replicas) race for the same keys in
// different orders, as redelivered messages make them do: each key has exactly one winner,
// and the others are told it is claimed.
func testClaimConcurrentManyKeys(t *testing.T, open func(t *testing.T) mailer.Store) {
	s := open(t)
	const consumers, keys = 4, 60
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins = map[string][]string{}
	)
	for c := range consumers {
		wg.Go(func() {
			for i := range keys {
				// Every consumer visits every key once, each from another start and half of
				// them backwards.
				k := i
				if c%2 == 1 {
					k = keys - 1 - i
				}
				key := fmt.Sprintf("key-%d", (k+c*keys/consumers)%keys)
				token := fmt.Sprintf("c%d-%s", c, key)
				rec, err := s.Claim(context.Background(), claim(key, token, t0))
				switch {
				case err == nil && rec.ClaimToken == token:
					mu.Lock()
					wins[key] = append(wins[key], token)
					mu.Unlock()
				case !errors.Is(err, mailer.ErrClaimed):
					t.Errorf("Claim(%s, %s) = %+v, %v; want the claim or ErrClaimed", key, token, rec, err)
				}
			}
		})
	}
	wg.Wait()
	for i := range keys {
		key := fmt.Sprintf("key-%d", i)
		if len(wins[key]) != 1 {
			t.Errorf("key %s won by %v, want exactly one claimant", key, wins[key])
			continue
		}
		if got := get(t, s, key).ClaimToken; got != wins[key][0] {
			t.Errorf("key %s stored token %q, want the winner's %q", key, got, wins[key][0])
		}
	}
}

// claimK is the setup of a test on key k claimed by token a at t0.
func claimK(t *testing.T, s mailer.Store) { mustClaim(t, s, claim("k", "a", t0)) }

// settledBy returns the setup of a test on key k claimed by token a at t0 and settled with o.
func settledBy(o mailer.Outcome) func(t *testing.T, s mailer.Store) {
	return func(t *testing.T, s mailer.Store) {
		claimK(t, s)
		mustComplete(t, s, o)
	}
}

// settled is the record of key o.Key, first claimed at t0 and last at claimedAt, once o has
// settled it.
func settled(o mailer.Outcome, claimedAt time.Time) mailer.Record {
	return mailer.Record{
		Key: o.Key, Kind: messages.EmailReminder, State: o.State, MessageID: o.MessageID, Error: o.Error,
		ClaimedAt: us(claimedAt), CreatedAt: us(t0), CompletedAt: us(o.At),
	}
}

func testComplete(t *testing.T, open func(t *testing.T) mailer.Store) {
	var (
		sent      = mailer.Outcome{Key: "k", State: mailer.StateSent, MessageID: "m@x", At: t0.Add(time.Second)}
		failed    = mailer.Outcome{Key: "k", State: mailer.StateFailed, Error: "550 mailbox unavailable", At: t0.Add(time.Second)}
		takenOver = mailer.Outcome{Key: "k", State: mailer.StateSent, MessageID: "m@x", At: t0.Add(lease + time.Second)}
		first     = mailer.Outcome{Key: "k", State: mailer.StateSent, MessageID: "first@x", At: t0.Add(time.Second)}
	)
	tests := []struct {
		name        string
		setup       func(t *testing.T, s mailer.Store)
		outcome     mailer.Outcome
		withMessage bool
		wantErr     error
		want        mailer.Record // stored afterwards (zero: no record)
		wantOutbox  int           // messages in the outbox afterwards
	}{
		{
			name:        "sent records the message ID and queues the result",
			setup:       claimK,
			outcome:     sent,
			withMessage: true,
			want:        settled(sent, t0),
			wantOutbox:  1,
		},
		{
			name:        "failed records the reason and queues the result",
			setup:       claimK,
			outcome:     failed,
			withMessage: true,
			want:        settled(failed, t0),
			wantOutbox:  1,
		},
		{
			name: "a claim taken over can still be completed",
			setup: func(t *testing.T, s mailer.Store) {
				mustClaim(t, s, claim("k", "a", t0))
				mustClaim(t, s, claim("k", "b", t0.Add(lease)))
			},
			outcome:     takenOver,
			withMessage: true,
			want:        settled(takenOver, t0.Add(lease)),
			wantOutbox:  1,
		},
		{
			name:        "an unclaimed key is refused and nothing is queued",
			outcome:     mailer.Outcome{Key: "k", State: mailer.StateSent, MessageID: "m@x", At: t0},
			withMessage: true,
			wantErr:     mailer.ErrNotClaimed,
		},
		{
			name: "a settled key is refused, kept, and nothing more is queued",
			setup: func(t *testing.T, s mailer.Store) {
				claimK(t, s)
				mustComplete(t, s, first, resultMessage(t, "k", messages.ResultSent))
			},
			outcome:     mailer.Outcome{Key: "k", State: mailer.StateFailed, Error: "late", At: t0.Add(time.Minute)},
			withMessage: true,
			wantErr:     mailer.ErrNotClaimed,
			want:        settled(first, t0),
			wantOutbox:  1,
		},
		{
			name:    "a state other than sent or failed is refused",
			setup:   claimK,
			outcome: mailer.Outcome{Key: "k", State: mailer.StateSending, At: t0},
			wantErr: errAny,
			want: mailer.Record{
				Key: "k", Kind: messages.EmailReminder, State: mailer.StateSending, ClaimToken: "a",
				ClaimedAt: us(t0), CreatedAt: us(t0),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if tt.setup != nil {
				tt.setup(t, s)
			}
			before := outboxtest.Messages(t, s)
			var msgs []broker.Message
			if tt.withMessage {
				msgs = append(msgs, resultMessage(t, tt.outcome.Key, tt.outcome.State))
			}
			err := s.Complete(context.Background(), tt.outcome, msgs...)
			switch {
			case tt.wantErr == errAny && err == nil:
				t.Fatal("Complete succeeded, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Complete error = %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Complete: %v", err)
			}
			got, gerr := s.Get(context.Background(), tt.outcome.Key)
			if tt.want.Key == "" {
				if !errors.Is(gerr, mailer.ErrNotFound) {
					t.Errorf("Get after Complete = %+v, %v; want ErrNotFound", got, gerr)
				}
			} else if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stored record (-want +got):\n%s", diff)
			}
			after := outboxtest.Messages(t, s)
			if len(after) != tt.wantOutbox {
				t.Fatalf("outbox holds %d messages, want %d", len(after), tt.wantOutbox)
			}
			if tt.wantErr == nil && tt.withMessage {
				if len(after) != len(before)+1 {
					t.Fatalf("outbox grew from %d to %d messages, want one more", len(before), len(after))
				}
				if diff := cmp.Diff(msgs[0].ID, after[len(after)-1].ID); diff != "" {
					t.Errorf("queued message ID (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(string(msgs[0].Payload), string(after[len(after)-1].Payload)); diff != "" {
					t.Errorf("queued payload (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// errAny stands for "some error" in the tables.
var errAny = errors.New("any error")

func testRelease(t *testing.T, open func(t *testing.T) mailer.Store) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, s mailer.Store)
		token   string
		wantErr error
		want    mailer.Record // stored afterwards (zero: no record)
	}{
		{
			name:  "the holder releases its claim and the record goes",
			setup: claimK,
			token: "a",
		},
		{
			name:    "another token cannot release the claim",
			setup:   claimK,
			token:   "b",
			wantErr: mailer.ErrNotClaimed,
			want: mailer.Record{
				Key: "k", Kind: messages.EmailReminder, State: mailer.StateSending, ClaimToken: "a",
				ClaimedAt: us(t0), CreatedAt: us(t0),
			},
		},
		{
			name: "a claim taken over is not released by its former holder",
			setup: func(t *testing.T, s mailer.Store) {
				mustClaim(t, s, claim("k", "a", t0))
				mustClaim(t, s, claim("k", "b", t0.Add(lease)))
			},
			token:   "a",
			wantErr: mailer.ErrNotClaimed,
			want: mailer.Record{
				Key: "k", Kind: messages.EmailReminder, State: mailer.StateSending, ClaimToken: "b",
				ClaimedAt: us(t0.Add(lease)), CreatedAt: us(t0),
			},
		},
		{
			name: "a settled key is not released",
			setup: func(t *testing.T, s mailer.Store) {
				mustClaim(t, s, claim("k", "a", t0))
				mustComplete(t, s, mailer.Outcome{Key: "k", State: mailer.StateSent, MessageID: "m@x", At: t0})
			},
			token:   "a",
			wantErr: mailer.ErrNotClaimed,
			want: mailer.Record{
				Key: "k", Kind: messages.EmailReminder, State: mailer.StateSent, MessageID: "m@x",
				ClaimedAt: us(t0), CreatedAt: us(t0), CompletedAt: us(t0),
			},
		},
		{
			name:    "an unknown key is not released",
			token:   "a",
			wantErr: mailer.ErrNotClaimed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if tt.setup != nil {
				tt.setup(t, s)
			}
			err := s.Release(context.Background(), "k", tt.token)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Release: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Release error = %v, want %v", err, tt.wantErr)
			}
			got, gerr := s.Get(context.Background(), "k")
			if tt.want.Key == "" {
				if !errors.Is(gerr, mailer.ErrNotFound) {
					t.Errorf("Get after Release = %+v, %v; want ErrNotFound", got, gerr)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stored record (-want +got):\n%s", diff)
			}
		})
	}
}

// testRenew: the holder of a claim renews it, which keeps other deliveries out for a lease from
// the renewal; a token that does not hold the claim (another one, one whose claim was taken
// over or released, one of a settled key) renews nothing.
func testRenew(t *testing.T, open func(t *testing.T) mailer.Store) {
	sending := func(token string, claimed time.Time) mailer.Record {
		return mailer.Record{
			Key: "k", Kind: messages.EmailReminder, State: mailer.StateSending, ClaimToken: token,
			ClaimedAt: us(claimed), CreatedAt: us(t0),
		}
	}
	renewAt := t0.Add(lease / 2)
	tests := []struct {
		name    string
		setup   func(t *testing.T, s mailer.Store)
		token   string
		wantErr error
		want    mailer.Record // stored afterwards (zero: no record)
		// after, when set, is a claim by another token tried after the renewal, and
		// afterErr what it gets (nil: the claim is taken).
		after    *mailer.Claim
		afterErr error
	}{
		{
			name:     "the holder's renewal keeps others out past the first lease",
			setup:    claimK,
			token:    "a",
			want:     sending("a", renewAt),
			after:    ptr(claim("k", "b", t0.Add(lease))),
			afterErr: mailer.ErrClaimed,
		},
		{
			name:  "a renewed claim is taken over a lease after the renewal",
			setup: claimK,
			token: "a",
			want:  sending("b", renewAt.Add(lease)),
			after: ptr(claim("k", "b", renewAt.Add(lease))),
		},
		{
			name:  "a lapsed claim nobody took over is renewed",
			setup: func(t *testing.T, s mailer.Store) { mustClaim(t, s, claim("k", "a", t0.Add(-2*lease))) },
			token: "a",
			want: mailer.Record{
				Key: "k", Kind: messages.EmailReminder, State: mailer.StateSending, ClaimToken: "a",
				ClaimedAt: us(renewAt), CreatedAt: us(t0.Add(-2 * lease)),
			},
			after:    ptr(claim("k", "b", renewAt.Add(lease-time.Microsecond))),
			afterErr: mailer.ErrClaimed,
		},
		{
			name:    "another token does not renew the claim",
			setup:   claimK,
			token:   "b",
			wantErr: mailer.ErrNotClaimed,
			// The claim still lapses a lease after it was taken.
			after: ptr(claim("k", "c", t0.Add(lease))),
			want:  sending("c", t0.Add(lease)),
		},
		{
			name: "a claim taken over is not renewed by its former holder",
			setup: func(t *testing.T, s mailer.Store) {
				mustClaim(t, s, claim("k", "a", t0.Add(-lease)))
				mustClaim(t, s, claim("k", "b", t0))
			},
			token:    "a",
			wantErr:  mailer.ErrNotClaimed,
			want:     mailer.Record{Key: "k", Kind: messages.EmailReminder, State: mailer.StateSending, ClaimToken: "b", ClaimedAt: us(t0), CreatedAt: us(t0.Add(-lease))},
			after:    ptr(claim("k", "c", renewAt)),
			afterErr: mailer.ErrClaimed,
		},
		{
			name: "a settled key is not renewed",
			setup: func(t *testing.T, s mailer.Store) {
				claimK(t, s)
				mustComplete(t, s, mailer.Outcome{Key: "k", State: mailer.StateSent, MessageID: "m@x", At: t0})
			},
			token:   "a",
			wantErr: mailer.ErrNotClaimed,
			want: mailer.Record{
				Key: "k", Kind: messages.EmailReminder, State: mailer.StateSent, MessageID: "m@x",
				ClaimedAt: us(t0), CreatedAt: us(t0), CompletedAt: us(t0),
			},
		},
		{
			name: "a released claim is not renewed",
			setup: func(t *testing.T, s mailer.Store) {
				claimK(t, s)
				if err := s.Release(context.Background(), "k", "a"); err != nil {
					t.Fatal(err)
				}
			},
			token:   "a",
			wantErr: mailer.ErrNotClaimed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if tt.setup != nil {
				tt.setup(t, s)
			}
			err := s.Renew(context.Background(), "k", tt.token, renewAt)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Renew: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Renew error = %v, want %v", err, tt.wantErr)
			}
			if tt.after != nil {
				rec, err := s.Claim(context.Background(), *tt.after)
				switch {
				case tt.afterErr != nil && !errors.Is(err, tt.afterErr):
					t.Fatalf("Claim(%s) after Renew = %+v, %v; want %v", tt.after.Token, rec, err, tt.afterErr)
				case tt.afterErr == nil && (err != nil || rec.ClaimToken != tt.after.Token):
					t.Fatalf("Claim(%s) after Renew = %+v, %v; want the claim", tt.after.Token, rec, err)
				}
			}
			got, gerr := s.Get(context.Background(), "k")
			if tt.want.Key == "" {
				if !errors.Is(gerr, mailer.ErrNotFound) {
					t.Errorf("Get after Renew = %+v, %v; want ErrNotFound", got, gerr)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stored record (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func testGet(t *testing.T, open func(t *testing.T) mailer.Store) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, s mailer.Store)
		key     string
		want    mailer.Record
		wantErr error
	}{
		{name: "an unknown key is not found", key: "nope", wantErr: mailer.ErrNotFound},
		{
			name: "a key differing only in case is another key",
			setup: func(t *testing.T, s mailer.Store) {
				mustClaim(t, s, claim("Key", "a", t0))
			},
			key:     "key",
			wantErr: mailer.ErrNotFound,
		},
		{
			name: "times come back in UTC at microsecond precision",
			setup: func(t *testing.T, s mailer.Store) {
				mustClaim(t, s, mailer.Claim{Key: "k", Kind: messages.EmailWelcome, Token: "a", At: t0, Lease: lease})
				mustComplete(t, s, mailer.Outcome{Key: "k", State: mailer.StateSent, MessageID: "m@x", At: t0.Add(time.Nanosecond * 1500)})
			},
			key: "k",
			want: mailer.Record{
				Key: "k", Kind: messages.EmailWelcome, State: mailer.StateSent, MessageID: "m@x",
				ClaimedAt: us(t0), CreatedAt: us(t0), CompletedAt: us(t0.Add(time.Nanosecond * 1500)),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if tt.setup != nil {
				tt.setup(t, s)
			}
			got, err := s.Get(context.Background(), tt.key)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Get error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
			if got.ClaimedAt.Location() != time.UTC || got.CompletedAt.Location() != time.UTC {
				t.Errorf("times not in UTC: %v, %v", got.ClaimedAt.Location(), got.CompletedAt.Location())
			}
		})
	}
}

// testSuppression: Complete with Outcome.Suppress suppresses the address, lower-cased, in its
// transaction; Suppression finds it whatever the case; a later one replaces it; a Complete
// that finds the key not claimed suppresses nothing.
func testSuppression(t *testing.T, open func(t *testing.T) mailer.Store) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.Suppression(ctx, "ann@example.com"); !errors.Is(err, mailer.ErrNotSuppressed) {
		t.Fatalf("Suppression before any: %v, want ErrNotSuppressed", err)
	}

	mustClaim(t, s, claim("k1", "a", t0))
	first := mailer.Suppression{Address: "Ann@Example.COM", Reason: "550 5.1.1 no such user (at RCPT TO)", At: t0}
	mustComplete(t, s, mailer.Outcome{Key: "k1", State: mailer.StateFailed, Error: "rejected", At: t0, Suppress: &first},
		resultMessage(t, "k1", messages.ResultFailed))
	want := mailer.Suppression{Address: "ann@example.com", Reason: first.Reason, At: us(t0)}
	for _, addr := range []string{"ann@example.com", "ANN@EXAMPLE.COM", "Ann@Example.COM"} {
		got, err := s.Suppression(ctx, addr)
		if err != nil {
			t.Fatalf("Suppression(%s): %v", addr, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Suppression(%s) (-want +got):\n%s", addr, diff)
		}
	}
	if _, err := s.Suppression(ctx, "bob@example.com"); !errors.Is(err, mailer.ErrNotSuppressed) {
		t.Errorf("Suppression of another address: %v, want ErrNotSuppressed", err)
	}

	// A later rejection replaces the first.
	mustClaim(t, s, claim("k2", "a", t0))
	later := mailer.Suppression{Address: "ann@example.com", Reason: "554 gone", At: t0.Add(time.Hour)}
	mustComplete(t, s, mailer.Outcome{Key: "k2", State: mailer.StateFailed, At: t0, Suppress: &later})
	if got, err := s.Suppression(ctx, "ann@example.com"); err != nil || got.Reason != "554 gone" || !got.At.Equal(us(later.At)) {
		t.Errorf("Suppression after a second rejection: %+v, %v; want the second", got, err)
	}

	// A Complete of a key that is not claimed writes nothing.
	other := mailer.Suppression{Address: "carl@example.com", Reason: "550", At: t0}
	err := s.Complete(ctx, mailer.Outcome{Key: "k1", State: mailer.StateFailed, At: t0, Suppress: &other})
	if !errors.Is(err, mailer.ErrNotClaimed) {
		t.Fatalf("Complete of a settled key: %v, want ErrNotClaimed", err)
	}
	if _, err := s.Suppression(ctx, "carl@example.com"); !errors.Is(err, mailer.ErrNotSuppressed) {
		t.Errorf("Suppression written by a Complete that failed: %v", err)
	}
}

// testBatches: ClaimBatch and CompleteBatch answer each key as Claim and Complete would, in
// one call.
func testBatches(t *testing.T, open func(t *testing.T) mailer.Store) {
	s := open(t)
	ctx := context.Background()
	mustClaim(t, s, claim("settled", "x", t0))
	mustComplete(t, s, mailer.Outcome{Key: "settled", State: mailer.StateSent, MessageID: "s@x", At: t0})
	mustClaim(t, s, claim("live", "x", t0))

	recs, errs := s.ClaimBatch(ctx, []mailer.Claim{
		claim("new", "a", t0.Add(time.Second)),
		claim("settled", "a", t0.Add(time.Second)),
		claim("live", "a", t0.Add(time.Second)),
		claim("other", "a", t0.Add(time.Second)),
	})
	if errs[0] != nil || recs[0].State != mailer.StateSending || recs[0].ClaimToken != "a" {
		t.Errorf("claim of a new key = %+v, %v; want it claimed", recs[0], errs[0])
	}
	if errs[1] != nil || recs[1].State != mailer.StateSent {
		t.Errorf("claim of a settled key = %+v, %v; want the settled record", recs[1], errs[1])
	}
	if !errors.Is(errs[2], mailer.ErrClaimed) {
		t.Errorf("claim of a key with a live claim: %v, want ErrClaimed", errs[2])
	}
	if errs[3] != nil || recs[3].ClaimToken != "a" {
		t.Errorf("claim of a second new key = %+v, %v; want it claimed", recs[3], errs[3])
	}

	errs = s.CompleteBatch(ctx, []mailer.Outcome{
		{Key: "other", State: mailer.StateFailed, Error: "550 no such user", At: t0.Add(2 * time.Second)},
		{Key: "settled", State: mailer.StateFailed, Error: "late", At: t0.Add(2 * time.Second)},
		{Key: "new", State: mailer.StateSent, MessageID: "n@x", At: t0.Add(2 * time.Second)},
		{Key: "new", State: "bogus"},
	}, [][]broker.Message{
		{resultMessage(t, "other", messages.ResultFailed)},
		{resultMessage(t, "settled", messages.ResultFailed)},
		{resultMessage(t, "new", messages.ResultSent)},
		nil,
	})
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("completing claimed keys: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], mailer.ErrNotClaimed) {
		t.Errorf("completing a settled key: %v, want ErrNotClaimed", errs[1])
	}
	if errs[3] == nil {
		t.Error("an outcome of no known state was taken")
	}
	for key, want := range map[string]string{"new": mailer.StateSent, "other": mailer.StateFailed, "settled": mailer.StateSent} {
		if rec, err := s.Get(ctx, key); err != nil || rec.State != want {
			t.Errorf("%s: %+v, %v; want state %s", key, rec, err, want)
		}
	}
	if n := len(outboxtest.Messages(t, s)); n != 2 {
		t.Errorf("%d messages in the outbox, want 2 (the settled key's was not queued)", n)
	}
}
