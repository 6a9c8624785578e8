// Package storetest is the contract suite that every implementation of auth.Store passes:
// the SQLite store now, the PostgreSQL store later. Run it from the implementation's tests
// with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/outbox/outboxtest"
)

// base is the time the suite's data is stamped with; far from now, so that nothing depends
// on the wall clock.
var base = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the contract suite. open must return a new, empty, migrated store; it should
// register its own cleanup. When the store has a DB() *sql.DB method, the suite also checks
// the outbox rows that methods taking messages write.
func Run(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Run("accounts", func(t *testing.T) { testAccounts(t, open) })
	t.Run("delete account", func(t *testing.T) { testDeleteAccount(t, open) })
	t.Run("refresh tokens", func(t *testing.T) { testRefreshTokens(t, open) })
	t.Run("rotate refresh token", func(t *testing.T) { testRotate(t, open) })
	t.Run("revoke session", func(t *testing.T) { testRevokeSession(t, open) })
	t.Run("revocations", func(t *testing.T) { testRevocations(t, open) })
	t.Run("revocations become visible in sequence order", func(t *testing.T) { testRevocationsInOrder(t, open) })
	t.Run("login failures", func(t *testing.T) { testLoginFailures(t, open) })
	t.Run("password resets", func(t *testing.T) { testPasswordResets(t, open) })
	t.Run("concurrent uses of one reset link", func(t *testing.T) { testResetOnce(t, open) })
	t.Run("email confirmations", func(t *testing.T) { testEmailConfirmations(t, open) })
	t.Run("update account", func(t *testing.T) { testUpdateAccount(t, open) })
	t.Run("update account uses a confirmation link once", func(t *testing.T) { testUseConfirmation(t, open) })
	t.Run("concurrent updates of one version have one winner", func(t *testing.T) { testUpdateOnce(t, open) })
	t.Run("update account revokes the other logins", func(t *testing.T) { testUpdateRevokes(t, open) })
	t.Run("signing keys", func(t *testing.T) { testSigningKeys(t, open) })
	t.Run("prune", func(t *testing.T) { testPrune(t, open) })
}

func account(n int) auth.Account {
	return auth.Account{
		ID:           fmt.Sprintf("0190a000-0000-7000-8000-%012d", n),
		Email:        fmt.Sprintf("Person%d@Example.com", n),
		EmailKey:     fmt.Sprintf("person%d@example.com", n),
		DisplayName:  fmt.Sprintf("Person %d", n),
		PasswordHash: fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash%d", n),
		CreatedAt:    base.Add(time.Duration(n) * time.Second),
		Version:      1,
	}
}

func token(n int, session, accountID string, created time.Time) auth.RefreshToken {
	return auth.RefreshToken{
		Hash:      fmt.Sprintf("%064d", n),
		SessionID: session,
		AccountID: accountID,
		CreatedAt: created,
		ExpiresAt: created.Add(30 * 24 * time.Hour),
	}
}

// twoAccounts creates account(1), the one a test acts on, and account(2), whose data must be
// left alone, in s.
func twoAccounts(t *testing.T, s auth.Store) (a, other auth.Account) {
	t.Helper()
	a, other = account(1), account(2)
	must(t, s.CreateAccount(context.Background(), a, nil))
	must(t, s.CreateAccount(context.Background(), other, nil))
	return a, other
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testAccounts(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	t.Run("created account reads back by ID and by email key", func(t *testing.T) {
		s := open(t)
		a := account(1)
		must(t, s.CreateAccount(ctx, a, nil))
		byID, err := s.AccountByID(ctx, a.ID)
		must(t, err)
		if diff := cmp.Diff(a, byID); diff != "" {
			t.Errorf("AccountByID (-want +got):\n%s", diff)
		}
		byEmail, err := s.AccountByEmail(ctx, a.EmailKey)
		must(t, err)
		if diff := cmp.Diff(a, byEmail); diff != "" {
			t.Errorf("AccountByEmail (-want +got):\n%s", diff)
		}
	})
	t.Run("times come back in UTC truncated to microseconds", func(t *testing.T) {
		s := open(t)
		a := account(1)
		a.CreatedAt = time.Date(2031, 3, 1, 14, 0, 0, 123456789, time.FixedZone("X", 2*3600))
		must(t, s.CreateAccount(ctx, a, nil))
		got, err := s.AccountByID(ctx, a.ID)
		must(t, err)
		want := time.Date(2031, 3, 1, 12, 0, 0, 123456000, time.UTC)
		if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt = %v, want %v in UTC", got.CreatedAt, want)
		}
	})
	t.Run("create writes its messages to the outbox", func(t *testing.T) {
		s := open(t)
		m := outboxtest.Message(t, "email.send", map[string]string{"to": "x"})
		must(t, s.CreateAccount(ctx, account(1), nil, m))
		outboxtest.Check(t, s, m.ID)
	})
	t.Run("a taken email key is ErrEmailTaken and writes nothing", func(t *testing.T) {
		s := open(t)
		must(t, s.CreateAccount(ctx, account(1), nil))
		dup := account(2)
		dup.EmailKey = account(1).EmailKey
		err := s.CreateAccount(ctx, dup, nil, outboxtest.Message(t, "email.send", nil))
		if !errors.Is(err, auth.ErrEmailTaken) {
			t.Fatalf("CreateAccount duplicate = %v, want ErrEmailTaken", err)
		}
		if _, err := s.AccountByID(ctx, dup.ID); !errors.Is(err, auth.ErrAccountNotFound) {
			t.Errorf("duplicate account stored: %v", err)
		}
		outboxtest.Check(t, s)
	})
	t.Run("unknown account is ErrAccountNotFound", func(t *testing.T) {
		s := open(t)
		must(t, s.CreateAccount(ctx, account(1), nil))
		if _, err := s.AccountByID(ctx, "nope"); !errors.Is(err, auth.ErrAccountNotFound) {
			t.Errorf("AccountByID = %v, want ErrAccountNotFound", err)
		}
		if _, err := s.AccountByEmail(ctx, "nobody@example.com"); !errors.Is(err, auth.ErrAccountNotFound) {
			t.Errorf("AccountByEmail = %v, want ErrAccountNotFound", err)
		}
		if err := s.SetPasswordHash(ctx, "nope", "x"); !errors.Is(err, auth.ErrAccountNotFound) {
			t.Errorf("SetPasswordHash = %v, want ErrAccountNotFound", err)
		}
	})
	t.Run("set password hash replaces the hash of that account only", func(t *testing.T) {
		s := open(t)
		must(t, s.CreateAccount(ctx, account(1), nil))
		must(t, s.CreateAccount(ctx, account(2), nil))
		must(t, s.SetPasswordHash(ctx, account(1).ID, "new-hash"))
		a1, err := s.AccountByID(ctx, account(1).ID)
		must(t, err)
		a2, err := s.AccountByID(ctx, account(2).ID)
		must(t, err)
		if a1.PasswordHash != "new-hash" || a2.PasswordHash != account(2).PasswordHash {
			t.Errorf("hashes = %q, %q; want new-hash and the unchanged one", a1.PasswordHash, a2.PasswordHash)
		}
	})
}

func testDeleteAccount(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	t.Run("deletes the account and its tokens, revokes it and writes its messages", func(t *testing.T) {
		s := open(t)
		a, other := twoAccounts(t, s)
		mine, theirs := token(1, "s1", a.ID, base), token(2, "s2", other.ID, base)
		must(t, s.CreateRefreshToken(ctx, mine))
		must(t, s.CreateRefreshToken(ctx, theirs))
		before, err := s.Revocations(ctx, 0, base)
		must(t, err)
		m := outboxtest.Message(t, "account.deleted", map[string]string{"account_id": a.ID})
		until := base.Add(15 * time.Minute)
		seq, err := s.DeleteAccount(ctx, a.ID, until, m)
		must(t, err)
		if seq <= before.LastSeq {
			t.Errorf("revocation seq %d, want above %d", seq, before.LastSeq)
		}
		if _, err := s.AccountByID(ctx, a.ID); !errors.Is(err, auth.ErrAccountNotFound) {
			t.Errorf("AccountByID after delete = %v, want ErrAccountNotFound", err)
		}
		if _, err := s.RefreshToken(ctx, mine.Hash); !errors.Is(err, auth.ErrRefreshTokenNotFound) {
			t.Errorf("RefreshToken of deleted account = %v, want ErrRefreshTokenNotFound", err)
		}
		if _, err := s.RefreshToken(ctx, theirs.Hash); err != nil {
			t.Errorf("another account's token was deleted: %v", err)
		}
		feed, err := s.Revocations(ctx, before.LastSeq, base)
		must(t, err)
		want := authtoken.RevocationFeed{
			Revocations: []authtoken.Revocation{{Seq: seq, AccountID: a.ID, ExpiresAt: until}},
			LastSeq:     seq,
		}
		if diff := cmp.Diff(want, feed); diff != "" {
			t.Errorf("revocations (-want +got):\n%s", diff)
		}
		outboxtest.Check(t, s, m.ID)
		// The email address is free again.
		again := account(3)
		again.EmailKey = a.EmailKey
		must(t, s.CreateAccount(ctx, again, nil))
	})
	t.Run("unknown account is ErrAccountNotFound and writes nothing", func(t *testing.T) {
		s := open(t)
		must(t, s.CreateAccount(ctx, account(1), nil))
		_, err := s.DeleteAccount(ctx, "nope", base, outboxtest.Message(t, "account.deleted", nil))
		if !errors.Is(err, auth.ErrAccountNotFound) {
			t.Fatalf("DeleteAccount = %v, want ErrAccountNotFound", err)
		}
		feed, err := s.Revocations(ctx, 0, base.Add(-time.Hour))
		must(t, err)
		if feed.LastSeq != 0 || len(feed.Revocations) != 0 {
			t.Errorf("revocations after failed delete = %+v, want none", feed)
		}
		outboxtest.Check(t, s)
	})
}

func testRefreshTokens(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	tok := token(1, "s1", account(1).ID, base)
	must(t, s.CreateRefreshToken(ctx, tok))
	tests := []struct {
		name    string
		hash    string
		want    auth.RefreshToken
		wantErr error
	}{
		{"known token reads back unused", tok.Hash, tok, nil},
		{"unknown token is ErrRefreshTokenNotFound", token(9, "", "", base).Hash, auth.RefreshToken{}, auth.ErrRefreshTokenNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RefreshToken(ctx, tt.hash)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RefreshToken = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RefreshToken (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a duplicate hash is refused", func(t *testing.T) {
		if err := s.CreateRefreshToken(ctx, tok); err == nil {
			t.Error("CreateRefreshToken with a duplicate hash succeeded")
		}
	})
}

func testRotate(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	acct := account(1).ID
	now := base.Add(time.Hour)
	tests := []struct {
		name    string
		setup   func(t *testing.T, s auth.Store) string // returns the hash to rotate
		wantErr error
	}{
		{"current token rotates", func(t *testing.T, s auth.Store) string {
			tok := token(1, "s1", acct, base)
			must(t, s.CreateRefreshToken(ctx, tok))
			return tok.Hash
		}, nil},
		{"used token does not rotate", func(t *testing.T, s auth.Store) string {
			tok := token(1, "s1", acct, base)
			must(t, s.CreateRefreshToken(ctx, tok))
			must(t, s.RotateRefreshToken(ctx, tok.Hash, base.Add(time.Minute), token(3, "s1", acct, base.Add(time.Minute))))
			return tok.Hash
		}, auth.ErrRefreshTokenNotCurrent},
		{"expired token does not rotate", func(t *testing.T, s auth.Store) string {
			tok := token(1, "s1", acct, base)
			tok.ExpiresAt = now
			must(t, s.CreateRefreshToken(ctx, tok))
			return tok.Hash
		}, auth.ErrRefreshTokenNotCurrent},
		{"unknown token does not rotate", func(t *testing.T, s auth.Store) string {
			return token(1, "s1", acct, base).Hash
		}, auth.ErrRefreshTokenNotCurrent},
		{"revoked session's token does not rotate", func(t *testing.T, s auth.Store) string {
			tok := token(1, "s1", acct, base)
			must(t, s.CreateRefreshToken(ctx, tok))
			_, err := s.RevokeSession(ctx, "s1", now)
			must(t, err)
			return tok.Hash
		}, auth.ErrRefreshTokenNotCurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			hash := tt.setup(t, s)
			next := token(2, "s1", acct, now)
			err := s.RotateRefreshToken(ctx, hash, now, next)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RotateRefreshToken = %v, want %v", err, tt.wantErr)
			}
			gotNext, nextErr := s.RefreshToken(ctx, next.Hash)
			if tt.wantErr != nil {
				if !errors.Is(nextErr, auth.ErrRefreshTokenNotFound) {
					t.Errorf("next token after a failed rotation: %v, want ErrRefreshTokenNotFound", nextErr)
				}
				return
			}
			must(t, nextErr)
			if diff := cmp.Diff(next, gotNext); diff != "" {
				t.Errorf("next token (-want +got):\n%s", diff)
			}
			old, err := s.RefreshToken(ctx, hash)
			must(t, err)
			if old.UsedAt == nil || !old.UsedAt.Equal(now) {
				t.Errorf("old token UsedAt = %v, want %v", old.UsedAt, now)
			}
		})
	}
	t.Run("of concurrent rotations of one token exactly one wins", func(t *testing.T) {
		s := open(t)
		tok := token(1, "s1", acct, base)
		must(t, s.CreateRefreshToken(ctx, tok))
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = s.RotateRefreshToken(ctx, tok.Hash, now, token(100+i, "s1", acct, now))
			})
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				if _, err := s.RefreshToken(ctx, token(100+i, "", "", now).Hash); err != nil {
					t.Errorf("winner's next token: %v", err)
				}
			case errors.Is(err, auth.ErrRefreshTokenNotCurrent):
				if _, err := s.RefreshToken(ctx, token(100+i, "", "", now).Hash); !errors.Is(err, auth.ErrRefreshTokenNotFound) {
					t.Errorf("loser's next token was stored: %v", err)
				}
			default:
				t.Errorf("rotation %d: %v", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d rotations won, want exactly 1", wins)
		}
	})
}

func testRevokeSession(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	acct := account(1).ID
	t.Run("deletes every token of the session and records a revocation", func(t *testing.T) {
		s := open(t)
		used, current, other := token(1, "s1", acct, base), token(2, "s1", acct, base), token(3, "s2", acct, base)
		must(t, s.CreateRefreshToken(ctx, used))
		must(t, s.RotateRefreshToken(ctx, used.Hash, base.Add(time.Second), current))
		must(t, s.CreateRefreshToken(ctx, other))
		until := base.Add(15 * time.Minute)
		seq, err := s.RevokeSession(ctx, "s1", until)
		must(t, err)
		for _, h := range []string{used.Hash, current.Hash} {
			if _, err := s.RefreshToken(ctx, h); !errors.Is(err, auth.ErrRefreshTokenNotFound) {
				t.Errorf("token of the revoked session: %v, want ErrRefreshTokenNotFound", err)
			}
		}
		if _, err := s.RefreshToken(ctx, other.Hash); err != nil {
			t.Errorf("token of another session: %v", err)
		}
		feed, err := s.Revocations(ctx, 0, base)
		must(t, err)
		want := authtoken.RevocationFeed{
			Revocations: []authtoken.Revocation{{Seq: seq, SessionID: "s1", ExpiresAt: until}},
			LastSeq:     seq,
		}
		if diff := cmp.Diff(want, feed); diff != "" {
			t.Errorf("revocations (-want +got):\n%s", diff)
		}
	})
	t.Run("records a revocation even without tokens, with increasing seq", func(t *testing.T) {
		s := open(t)
		first, err := s.RevokeSession(ctx, "gone", base.Add(time.Minute))
		must(t, err)
		second, err := s.RevokeSession(ctx, "gone", base.Add(time.Minute))
		must(t, err)
		if first <= 0 || second <= first {
			t.Errorf("seqs %d then %d, want positive and increasing", first, second)
		}
	})
}

func testRevocations(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	empty, err := s.Revocations(ctx, 0, base)
	must(t, err)
	if empty.LastSeq != 0 || len(empty.Revocations) != 0 {
		t.Fatalf("empty store feed = %+v, want nothing and last seq 0", empty)
	}
	// Three revocations: expiring at +10m, +20m, +30m.
	var revs []authtoken.Revocation
	for i := 1; i <= 3; i++ {
		until := base.Add(time.Duration(i*10) * time.Minute)
		seq, err := s.RevokeSession(ctx, fmt.Sprintf("s%d", i), until)
		must(t, err)
		revs = append(revs, authtoken.Revocation{Seq: seq, SessionID: fmt.Sprintf("s%d", i), ExpiresAt: until})
	}
	last := revs[2].Seq
	tests := []struct {
		name  string
		after int64
		now   time.Time
		want  []authtoken.Revocation
	}{
		{"all from zero, in order", 0, base, revs},
		{"only those after the cursor", revs[0].Seq, base, revs[1:]},
		{"nothing after the last", last, base, nil},
		{"expired ones left out", 0, base.Add(15 * time.Minute), revs[1:]},
		{"one expiring exactly now is left out", 0, base.Add(20 * time.Minute), revs[2:]},
		{"all expired", 0, base.Add(time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feed, err := s.Revocations(ctx, tt.after, tt.now)
			must(t, err)
			want := authtoken.RevocationFeed{Revocations: tt.want, LastSeq: last}
			if diff := cmp.Diff(want, feed, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Revocations(%d) (-want +got):\n%s", tt.after, diff)
			}
		})
	}
}

// testRevocationsInOrder has writers revoke sessions concurrently while a reader follows
// the feed as the gateway does, from the last LastSeq it saw. If a sequence number could
// become visible after a greater one (two transactions committing out of order), the reader
// would move past it and never see it.
func testRevocationsInOrder(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	const writers, each = 4, 50
	until := base.Add(time.Hour)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written = map[int64]string{}
		done    = make(chan struct{})
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				session := fmt.Sprintf("w%d-%d", w, i)
				var (
					seq int64
					err error
				)
				if i%5 == 0 { // some revocations come from deleted accounts
					a := account(w*each + i + 1)
					if err = s.CreateAccount(ctx, a, nil); err == nil {
						session = "account:" + a.ID
						seq, err = s.DeleteAccount(ctx, a.ID, until)
					}
				} else {
					seq, err = s.RevokeSession(ctx, session, until)
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				written[seq] = session
				mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[int64]string{}
	var cursor int64
	follow := func() {
		feed, err := s.Revocations(ctx, cursor, base)
		if err != nil {
			t.Fatalf("Revocations(%d): %v", cursor, err)
		}
		for _, r := range feed.Revocations {
			if r.Seq <= cursor || r.Seq > feed.LastSeq {
				t.Errorf("feed after %d with last seq %d holds seq %d", cursor, feed.LastSeq, r.Seq)
			}
			if r.AccountID != "" {
				seen[r.Seq] = "account:" + r.AccountID
			} else {
				seen[r.Seq] = r.SessionID
			}
		}
		if feed.LastSeq < cursor {
			t.Fatalf("last seq went back from %d to %d", cursor, feed.LastSeq)
		}
		cursor = feed.LastSeq
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		follow()
	}
	follow() // everything is committed now
	if t.Failed() {
		return
	}
	if len(written) != writers*each {
		t.Fatalf("%d distinct sequence numbers for %d revocations", len(written), writers*each)
	}
	for seq, who := range written {
		if seen[seq] != who {
			t.Errorf("revocation %d (%s) never reached the reader (it saw %q): it became visible after a greater one", seq, who, seen[seq])
		}
	}
}

func testLoginFailures(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	for i := range 3 {
		must(t, s.RecordLoginFailure(ctx, base.Add(time.Duration(i)*time.Minute), "acct", "acct/addr", "addr"))
	}
	must(t, s.RecordLoginFailure(ctx, base.Add(5*time.Minute), "addr"))
	must(t, s.RecordLoginFailure(ctx, base.Add(5*time.Minute), "acct_x", "acct_x/addr", "acct%"))
	tests := []struct {
		name  string
		key   string
		since time.Time
		n     int
		want  []time.Time
	}{
		{"all of a key, oldest first", "acct", base.Add(-time.Hour), 10, []time.Time{base, base.Add(time.Minute), base.Add(2 * time.Minute)}},
		{"only those after since", "acct", base, 10, []time.Time{base.Add(time.Minute), base.Add(2 * time.Minute)}},
		{"the newest n", "acct", base.Add(-time.Hour), 2, []time.Time{base.Add(time.Minute), base.Add(2 * time.Minute)}},
		{"each key counts apart", "addr", base.Add(90 * time.Second), 10, []time.Time{base.Add(2 * time.Minute), base.Add(5 * time.Minute)}},
		{"a key below another counts apart", "acct/addr", base.Add(-time.Hour), 10, []time.Time{base, base.Add(time.Minute), base.Add(2 * time.Minute)}},
		{"unknown key has none", "other", base.Add(-time.Hour), 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.LoginFailures(ctx, tt.key, tt.since, tt.n)
			must(t, err)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("LoginFailures(%s) (-want +got):\n%s", tt.key, diff)
			}
		})
	}
	count := func(key string) int {
		t.Helper()
		got, err := s.LoginFailures(ctx, key, base.Add(-time.Hour), 100)
		must(t, err)
		return len(got)
	}
	t.Run("clear forgets a key and the keys below it only", func(t *testing.T) {
		must(t, s.ClearLoginFailures(ctx, "acct"))
		for key, want := range map[string]int{"acct": 0, "acct/addr": 0, "addr": 4, "acct_x": 1, "acct_x/addr": 1, "acct%": 1} {
			if got := count(key); got != want {
				t.Errorf("after clearing acct: %s has %d failures, want %d", key, got, want)
			}
		}
	})
}

func signingKey(t *testing.T, created time.Time) auth.SigningKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	must(t, err)
	return auth.SigningKey{ID: fmt.Sprintf("kid-%x", pub[:8]), PrivateKey: priv, CreatedAt: created}
}

func testSigningKeys(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	keys, err := s.SigningKeys(ctx)
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("empty store has %d keys", len(keys))
	}
	newer, older := signingKey(t, base.Add(time.Hour)), signingKey(t, base)
	must(t, s.AddSigningKey(ctx, newer))
	must(t, s.AddSigningKey(ctx, older))
	keys, err = s.SigningKeys(ctx)
	must(t, err)
	if diff := cmp.Diff([]auth.SigningKey{older, newer}, keys); diff != "" {
		t.Errorf("SigningKeys, oldest first (-want +got):\n%s", diff)
	}
	if err := s.AddSigningKey(ctx, older); err == nil {
		t.Error("AddSigningKey with a duplicate ID succeeded")
	}
}

func testPrune(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	now := base.Add(time.Hour)
	// Revocations: expired, live, and the newest (expired), which must survive to keep LastSeq.
	_, err := s.RevokeSession(ctx, "expired", now.Add(-time.Minute))
	must(t, err)
	live, err := s.RevokeSession(ctx, "live", now.Add(time.Minute))
	must(t, err)
	newest, err := s.RevokeSession(ctx, "newest", now)
	must(t, err)
	// Refresh tokens: one expired, one not.
	expiredTok, liveTok := token(1, "a", "acct", base), token(2, "b", "acct", base)
	expiredTok.ExpiresAt = now
	must(t, s.CreateRefreshToken(ctx, expiredTok))
	must(t, s.CreateRefreshToken(ctx, liveTok))
	// Login failures on both sides of the cutoff.
	cutoff := now.Add(-15 * time.Minute)
	must(t, s.RecordLoginFailure(ctx, cutoff.Add(-time.Second), "k"))
	must(t, s.RecordLoginFailure(ctx, cutoff.Add(time.Second), "k"))
	// Password-reset links: one expired, one not.
	a := account(1)
	must(t, s.CreateAccount(ctx, a, nil))
	must(t, s.CreatePasswordReset(ctx, auth.PasswordReset{Hash: "expired", AccountID: a.ID, CreatedAt: base, ExpiresAt: now}))
	must(t, s.CreatePasswordReset(ctx, auth.PasswordReset{Hash: "live", AccountID: a.ID, CreatedAt: base, ExpiresAt: now.Add(time.Minute)}))

	must(t, s.Prune(ctx, now, cutoff))

	if _, err := s.PasswordReset(ctx, "expired"); !errors.Is(err, auth.ErrResetNotCurrent) {
		t.Errorf("expired reset link after prune: %v, want ErrResetNotCurrent", err)
	}
	if _, err := s.PasswordReset(ctx, "live"); err != nil {
		t.Errorf("live reset link after prune: %v", err)
	}

	feed, err := s.Revocations(ctx, 0, base) // as seen before anything expired
	must(t, err)
	want := authtoken.RevocationFeed{
		Revocations: []authtoken.Revocation{
			{Seq: live, SessionID: "live", ExpiresAt: now.Add(time.Minute)},
			{Seq: newest, SessionID: "newest", ExpiresAt: now},
		},
		LastSeq: newest,
	}
	if diff := cmp.Diff(want, feed); diff != "" {
		t.Errorf("revocations after prune (-want +got):\n%s", diff)
	}
	if _, err := s.RefreshToken(ctx, expiredTok.Hash); !errors.Is(err, auth.ErrRefreshTokenNotFound) {
		t.Errorf("expired refresh token after prune: %v, want ErrRefreshTokenNotFound", err)
	}
	if _, err := s.RefreshToken(ctx, liveTok.Hash); err != nil {
		t.Errorf("live refresh token after prune: %v", err)
	}
	fails, err := s.LoginFailures(ctx, "k", time.Time{}, 10)
	must(t, err)
	if diff := cmp.Diff([]time.Time{cutoff.Add(time.Second)}, fails); diff != "" {
		t.Errorf("login failures after prune (-want +got):\n%s", diff)
	}
	// A later revocation continues the sequence.
	next, err := s.RevokeSession(ctx, "later", now.Add(time.Hour))
	must(t, err)
	if next <= newest {
		t.Errorf("seq after prune %d, want above %d", next, newest)
	}
}

func testPasswordResets(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	a, other := twoAccounts(t, s)
	expires := base.Add(time.Hour)
	first := auth.PasswordReset{Hash: "first", AccountID: a.ID, CreatedAt: base, ExpiresAt: expires}
	second := auth.PasswordReset{Hash: "second", AccountID: a.ID, CreatedAt: base.Add(time.Minute), ExpiresAt: expires}
	theirs := auth.PasswordReset{Hash: "theirs", AccountID: other.ID, CreatedAt: base, ExpiresAt: expires}
	msg := outboxtest.Message(t, "email.send", map[string]string{"kind": "password_reset"})
	must(t, s.CreatePasswordReset(ctx, first, msg))
	outboxtest.Check(t, s, msg.ID)
	must(t, s.CreatePasswordReset(ctx, second))
	must(t, s.CreatePasswordReset(ctx, theirs))
	got, err := s.PasswordReset(ctx, "first")
	must(t, err)
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("PasswordReset (-want +got):\n%s", diff)
	}
	if _, err := s.PasswordReset(ctx, "nope"); !errors.Is(err, auth.ErrResetNotCurrent) {
		t.Errorf("unknown link: %v, want ErrResetNotCurrent", err)
	}

	// Two logins of the account, one of the other's; failures of the account and below it.
	must(t, s.CreateRefreshToken(ctx, token(1, "s1", a.ID, base)))
	must(t, s.CreateRefreshToken(ctx, token(2, "s2", a.ID, base)))
	must(t, s.CreateRefreshToken(ctx, token(3, "s3", other.ID, base)))
	must(t, s.RecordLoginFailure(ctx, base, "acct-a", "acct-a/addr", "acct-b"))

	now := base.Add(10 * time.Minute)
	if _, err := s.ResetPassword(ctx, "first", expires, "new-hash", now, "acct-a"); !errors.Is(err, auth.ErrResetNotCurrent) {
		t.Errorf("use at its expiry: %v, want ErrResetNotCurrent", err)
	}
	seq, err := s.ResetPassword(ctx, "first", now, "new-hash", now.Add(15*time.Minute), "acct-a")
	must(t, err)
	if seq == 0 {
		t.Error("no revocation recorded")
	}
	if got, err := s.AccountByID(ctx, a.ID); err != nil || got.PasswordHash != "new-hash" {
		t.Errorf("password hash after reset: %q, %v", got.PasswordHash, err)
	}
	if got, err := s.AccountByID(ctx, other.ID); err != nil || got.PasswordHash != other.PasswordHash {
		t.Errorf("the other account's hash changed: %q, %v", got.PasswordHash, err)
	}
	feed, err := s.Revocations(ctx, 0, now)
	must(t, err)
	var sessions []string
	for _, r := range feed.Revocations {
		sessions = append(sessions, r.SessionID)
	}
	if diff := cmp.Diff([]string{"s1", "s2"}, sessions); diff != "" {
		t.Errorf("revoked logins (-want +got):\n%s", diff)
	}
	for _, n := range []int{1, 2} {
		if _, err := s.RefreshToken(ctx, token(n, "", "", base).Hash); !errors.Is(err, auth.ErrRefreshTokenNotFound) {
			t.Errorf("refresh token %d after reset: %v, want gone", n, err)
		}
	}
	if _, err := s.RefreshToken(ctx, token(3, "", "", base).Hash); err != nil {
		t.Errorf("the other account's refresh token: %v", err)
	}
	for key, want := range map[string]int{"acct-a": 0, "acct-a/addr": 0, "acct-b": 1} {
		if got, err := s.LoginFailures(ctx, key, base.Add(-time.Hour), 10); err != nil || len(got) != want {
			t.Errorf("failures under %s after reset: %d, %v; want %d", key, len(got), err, want)
		}
	}
	for _, h := range []string{"first", "second"} {
		if _, err := s.ResetPassword(ctx, h, now, "again", now, "acct-a"); !errors.Is(err, auth.ErrResetNotCurrent) {
			t.Errorf("link %s after a reset: %v, want ErrResetNotCurrent", h, err)
		}
		if r, err := s.PasswordReset(ctx, h); err != nil || r.UsedAt == nil {
			t.Errorf("link %s after a reset: used %v, %v; want used", h, r.UsedAt, err)
		}
	}
	if r, err := s.PasswordReset(ctx, "theirs"); err != nil || r.UsedAt != nil {
		t.Errorf("the other account's link: used %v, %v; want unused", r.UsedAt, err)
	}
}

func testResetOnce(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	a := account(1)
	must(t, s.CreateAccount(ctx, a, nil))
	must(t, s.CreatePasswordReset(ctx, auth.PasswordReset{Hash: "link", AccountID: a.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	for i := range 8 {
		wg.Go(func() {
			hash := fmt.Sprintf("hash-%d", i)
			_, err := s.ResetPassword(ctx, "link", base.Add(time.Minute), hash, base.Add(time.Hour), "k")
			switch {
			case err == nil:
				mu.Lock()
				wins = append(wins, hash)
				mu.Unlock()
			case !errors.Is(err, auth.ErrResetNotCurrent):
				t.Errorf("use %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d uses of one link succeeded, want exactly 1", len(wins))
	}
	if got, err := s.AccountByID(ctx, a.ID); err != nil || got.PasswordHash != wins[0] {
		t.Errorf("password hash %q, %v; want the winner's %q", got.PasswordHash, err, wins[0])
	}
}

func confirmation(hash string, a auth.Account, email string, created time.Time) auth.EmailConfirmation {
	return auth.EmailConfirmation{
		Hash: hash, AccountID: a.ID, Email: email, EmailKey: strings.ToLower(email),
		CreatedAt: created, ExpiresAt: created.Add(48 * time.Hour),
	}
}

func testEmailConfirmations(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	t.Run("an account is created with its link and messages, or not at all", func(t *testing.T) {
		s := open(t)
		a := account(1)
		c := confirmation("welcome", a, a.Email, base)
		m := outboxtest.Message(t, "email.send", map[string]string{"kind": "welcome"})
		must(t, s.CreateAccount(ctx, a, &c, m))
		got, err := s.EmailConfirmation(ctx, "welcome")
		must(t, err)
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("EmailConfirmation (-want +got):\n%s", diff)
		}
		outboxtest.Check(t, s, m.ID)

		dup := account(2)
		dup.EmailKey = a.EmailKey
		dupLink := confirmation("dup", dup, dup.Email, base)
		if err := s.CreateAccount(ctx, dup, &dupLink, outboxtest.Message(t, "email.send", nil)); !errors.Is(err, auth.ErrEmailTaken) {
			t.Fatalf("CreateAccount duplicate = %v, want ErrEmailTaken", err)
		}
		if _, err := s.EmailConfirmation(ctx, "dup"); !errors.Is(err, auth.ErrConfirmationNotCurrent) {
			t.Errorf("link of a refused account: %v, want ErrConfirmationNotCurrent", err)
		}
		outboxtest.Check(t, s, m.ID)
		if _, err := s.EmailConfirmation(ctx, "nope"); !errors.Is(err, auth.ErrConfirmationNotCurrent) {
			t.Errorf("unknown link: %v, want ErrConfirmationNotCurrent", err)
		}
	})
	t.Run("every field of an account reads back", func(t *testing.T) {
		s := open(t)
		a := account(1)
		sent := base.Add(time.Minute)
		a.EmailVerified, a.PendingEmail, a.ConfirmSentAt, a.Version = true, "New@Example.org", &sent, 7
		must(t, s.CreateAccount(ctx, a, nil))
		got, err := s.AccountByID(ctx, a.ID)
		must(t, err)
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("AccountByID (-want +got):\n%s", diff)
		}
	})
	t.Run("deleting the account deletes its links", func(t *testing.T) {
		s := open(t)
		a, other := account(1), account(2)
		c, theirs := confirmation("mine", a, a.Email, base), confirmation("theirs", other, other.Email, base)
		must(t, s.CreateAccount(ctx, a, &c))
		must(t, s.CreateAccount(ctx, other, &theirs))
		_, err := s.DeleteAccount(ctx, a.ID, base)
		must(t, err)
		if _, err := s.EmailConfirmation(ctx, "mine"); !errors.Is(err, auth.ErrConfirmationNotCurrent) {
			t.Errorf("link of a deleted account: %v, want ErrConfirmationNotCurrent", err)
		}
		if _, err := s.EmailConfirmation(ctx, "theirs"); err != nil {
			t.Errorf("another account's link: %v", err)
		}
	})
	t.Run("prune deletes expired links only", func(t *testing.T) {
		s := open(t)
		a := account(1)
		expired := confirmation("expired", a, a.Email, base)
		must(t, s.CreateAccount(ctx, a, &expired))
		now := expired.ExpiresAt
		live := confirmation("live", a, a.Email, now.Add(-time.Hour))
		_, err := s.UpdateAccount(ctx, auth.AccountUpdate{Account: bumped(a), Now: now, NewConfirmation: &live})
		must(t, err)
		must(t, s.Prune(ctx, now, now))
		if _, err := s.EmailConfirmation(ctx, "expired"); !errors.Is(err, auth.ErrConfirmationNotCurrent) {
			t.Errorf("expired link after prune: %v, want ErrConfirmationNotCurrent", err)
		}
		if _, err := s.EmailConfirmation(ctx, "live"); err != nil {
			t.Errorf("live link after prune: %v", err)
		}
	})
}

// bumped returns a with its version raised: the state an update of a stores.
func bumped(a auth.Account) auth.Account {
	a.Version++
	return a
}

func testUpdateAccount(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	t.Run("stores the new state, the new link and the messages", func(t *testing.T) {
		s := open(t)
		a, other := twoAccounts(t, s)
		n := bumped(a)
		sent := base.Add(time.Hour)
		n.DisplayName, n.PendingEmail, n.ConfirmSentAt, n.PasswordHash = "Renamed", "New@Example.org", &sent, "new-hash"
		c := confirmation("new", a, "New@Example.org", sent)
		m := outboxtest.Message(t, "account.changed", map[string]string{"account_id": a.ID})
		seq, err := s.UpdateAccount(ctx, auth.AccountUpdate{Account: n, Now: sent, NewConfirmation: &c, Messages: []broker.Message{m}})
		must(t, err)
		if seq != 0 {
			t.Errorf("seq %d, want 0: nothing revoked", seq)
		}
		got, err := s.AccountByID(ctx, a.ID)
		must(t, err)
		if diff := cmp.Diff(n, got); diff != "" {
			t.Errorf("account (-want +got):\n%s", diff)
		}
		if got, err := s.AccountByID(ctx, other.ID); err != nil || got != other {
			t.Errorf("the other account changed: %+v, %v", got, err)
		}
		if got, err := s.EmailConfirmation(ctx, "new"); err != nil || got != c {
			t.Errorf("new link %+v, %v; want %+v", got, err, c)
		}
		outboxtest.Check(t, s, m.ID)
	})
	t.Run("refusals write nothing", func(t *testing.T) {
		s := open(t)
		a, other := account(1), account(2)
		c := confirmation("link", a, a.Email, base)
		must(t, s.CreateAccount(ctx, a, &c))
		must(t, s.CreateAccount(ctx, other, nil))
		renamed := func(version int64) auth.Account {
			n := a
			n.DisplayName, n.Version = "Renamed", version
			return n
		}
		taken := bumped(a)
		taken.Email, taken.EmailKey = other.Email, other.EmailKey
		unknown := bumped(account(3))
		tests := []struct {
			name    string
			u       auth.AccountUpdate
			wantErr error
		}{
			{"a version that is not the next is ErrAccountChanged", auth.AccountUpdate{Account: renamed(a.Version)}, auth.ErrAccountChanged},
			{"a version two ahead is ErrAccountChanged", auth.AccountUpdate{Account: renamed(a.Version + 2)}, auth.ErrAccountChanged},
			{"another account's email key is ErrEmailTaken", auth.AccountUpdate{Account: taken}, auth.ErrEmailTaken},
			{"an unknown link is ErrConfirmationNotCurrent", auth.AccountUpdate{Account: renamed(2), UseConfirmation: "nope"}, auth.ErrConfirmationNotCurrent},
			{"an expired link is ErrConfirmationNotCurrent", auth.AccountUpdate{Account: renamed(2), UseConfirmation: "link", Now: c.ExpiresAt}, auth.ErrConfirmationNotCurrent},
			{"an unknown account is ErrAccountNotFound", auth.AccountUpdate{Account: unknown}, auth.ErrAccountNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.u.Messages = []broker.Message{outboxtest.Message(t, "account.changed", nil)}
				newLink := confirmation("new-"+tt.name, a, a.Email, base)
				tt.u.NewConfirmation = &newLink
				if tt.u.Now.IsZero() {
					tt.u.Now = base.Add(time.Minute)
				}
				if _, err := s.UpdateAccount(ctx, tt.u); !errors.Is(err, tt.wantErr) {
					t.Fatalf("UpdateAccount = %v, want %v", err, tt.wantErr)
				}
				if got, err := s.AccountByID(ctx, a.ID); err != nil || got != a {
					t.Errorf("account after a refusal: %+v, %v; want it unchanged", got, err)
				}
				if got, err := s.EmailConfirmation(ctx, "link"); err != nil || got.UsedAt != nil {
					t.Errorf("link after a refusal: %+v, %v; want it unused", got, err)
				}
				if _, err := s.EmailConfirmation(ctx, newLink.Hash); !errors.Is(err, auth.ErrConfirmationNotCurrent) {
					t.Errorf("new link stored by a refused update: %v", err)
				}
				outboxtest.Check(t, s)
			})
		}
	})
	t.Run("links that confirm nothing any more stop working", func(t *testing.T) {
		s := open(t)
		a := account(1)
		welcome := confirmation("welcome", a, a.Email, base)
		must(t, s.CreateAccount(ctx, a, &welcome))
		now := base.Add(time.Minute)
		// A change to b: the link to the unconfirmed current address keeps working.
		toB := bumped(a)
		toB.PendingEmail = "b@example.com"
		linkB := confirmation("b", a, "b@example.com", now)
		_, err := s.UpdateAccount(ctx, auth.AccountUpdate{Account: toB, Now: now, NewConfirmation: &linkB})
		must(t, err)
		// Then to c: the link to b stops, the others work.
		toC := bumped(toB)
		toC.PendingEmail = "C@example.com"
		linkC := confirmation("c", a, "C@example.com", now)
		_, err = s.UpdateAccount(ctx, auth.AccountUpdate{Account: toC, Now: now, NewConfirmation: &linkC})
		must(t, err)
		used := func(hash string) bool {
			t.Helper()
			c, err := s.EmailConfirmation(ctx, hash)
			must(t, err)
			return c.UsedAt != nil
		}
		if used("welcome") || !used("b") || used("c") {
			t.Errorf("after changing to c: welcome used %v, b used %v, c used %v; want only b", used("welcome"), used("b"), used("c"))
		}
		// The current address is confirmed: its links stop, the pending one's works.
		confirmed := bumped(toC)
		confirmed.EmailVerified = true
		_, err = s.UpdateAccount(ctx, auth.AccountUpdate{Account: confirmed, Now: now})
		must(t, err)
		if !used("welcome") || used("c") {
			t.Errorf("after confirming: welcome used %v, c used %v; want welcome only", used("welcome"), used("c"))
		}
		// The link to c switches the address: it is used, nothing is pending.
		switched := bumped(confirmed)
		switched.Email, switched.EmailKey, switched.PendingEmail = "C@example.com", "c@example.com", ""
		_, err = s.UpdateAccount(ctx, auth.AccountUpdate{Account: switched, Now: now, UseConfirmation: "c"})
		must(t, err)
		if !used("c") {
			t.Error("the link to c is not used")
		}
		if _, err := s.UpdateAccount(ctx, auth.AccountUpdate{Account: bumped(switched), Now: now, UseConfirmation: "c"}); !errors.Is(err, auth.ErrConfirmationNotCurrent) {
			t.Errorf("second use of a link: %v, want ErrConfirmationNotCurrent", err)
		}
		if got, err := s.AccountByEmail(ctx, "c@example.com"); err != nil || got != switched {
			t.Errorf("account by its new address: %+v, %v", got, err)
		}
		if _, err := s.AccountByEmail(ctx, a.EmailKey); !errors.Is(err, auth.ErrAccountNotFound) {
			t.Errorf("account by its old address: %v, want ErrAccountNotFound", err)
		}
	})
}

func testUseConfirmation(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	a := account(1)
	c := confirmation("link", a, a.Email, base)
	must(t, s.CreateAccount(ctx, a, &c))
	// Every use computes from the same state but its own version, so that only the link
	// decides: versions 2..9 are each the next one in turn, but a link is used once.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 8 {
		wg.Go(func() {
			for {
				cur, err := s.AccountByID(ctx, a.ID)
				if err != nil {
					t.Error(err)
					return
				}
				n := bumped(cur)
				n.EmailVerified = true
				_, err = s.UpdateAccount(ctx, auth.AccountUpdate{Account: n, Now: base.Add(time.Minute), UseConfirmation: "link"})
				switch {
				case errors.Is(err, auth.ErrAccountChanged):
					continue
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.Is(err, auth.ErrConfirmationNotCurrent):
					t.Errorf("use: %v", err)
				}
				return
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d uses of one link succeeded, want exactly 1", wins)
	}
	if got, err := s.AccountByID(ctx, a.ID); err != nil || got.Version != 2 || !got.EmailVerified {
		t.Errorf("account %+v, %v; want confirmed at version 2", got, err)
	}
}

func testUpdateOnce(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	a := account(1)
	must(t, s.CreateAccount(ctx, a, nil))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := bumped(a)
			u.DisplayName = fmt.Sprintf("Name %d", i)
			_, errs[i] = s.UpdateAccount(ctx, auth.AccountUpdate{Account: u, Now: base,
				Messages: []broker.Message{outboxtest.Message(t, "account.changed", nil)}})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("updates %d and %d of version 1 both won", winner, i)
			}
			winner = i
		case !errors.Is(err, auth.ErrAccountChanged):
			t.Errorf("update %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no update won")
	}
	if got, err := s.AccountByID(ctx, a.ID); err != nil || got.DisplayName != fmt.Sprintf("Name %d", winner) || got.Version != 2 {
		t.Errorf("account %+v, %v; want the winner's name at version 2", got, err)
	}
}

func testUpdateRevokes(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	s := open(t)
	a, other := twoAccounts(t, s)
	keep, first, second, theirs := token(1, "keep", a.ID, base), token(2, "s1", a.ID, base), token(3, "s2", a.ID, base), token(4, "s3", other.ID, base)
	for _, tok := range []auth.RefreshToken{keep, first, second, theirs} {
		must(t, s.CreateRefreshToken(ctx, tok))
	}
	n := bumped(a)
	n.PasswordHash = "new-hash"
	until := base.Add(15 * time.Minute)
	seq, err := s.UpdateAccount(ctx, auth.AccountUpdate{Account: n, Now: base, RevokeOtherSessions: true, KeepSession: "keep", RevokeUntil: until})
	must(t, err)
	feed, err := s.Revocations(ctx, 0, base)
	must(t, err)
	if feed.LastSeq != seq || len(feed.Revocations) != 2 {
		t.Fatalf("feed %+v, want two revocations up to seq %d", feed, seq)
	}
	var sessions []string
	for _, r := range feed.Revocations {
		sessions = append(sessions, r.SessionID)
		if !r.ExpiresAt.Equal(until) {
			t.Errorf("revocation of %s matters until %v, want %v", r.SessionID, r.ExpiresAt, until)
		}
	}
	if diff := cmp.Diff([]string{"s1", "s2"}, sessions); diff != "" {
		t.Errorf("revoked logins (-want +got):\n%s", diff)
	}
	for _, tok := range []auth.RefreshToken{first, second} {
		if _, err := s.RefreshToken(ctx, tok.Hash); !errors.Is(err, auth.ErrRefreshTokenNotFound) {
			t.Errorf("token of revoked login %s: %v", tok.SessionID, err)
		}
	}
	for _, tok := range []auth.RefreshToken{keep, theirs} {
		if _, err := s.RefreshToken(ctx, tok.Hash); err != nil {
			t.Errorf("token of kept login %s: %v", tok.SessionID, err)
		}
	}
}
