package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
)

// cacheFixture is a verifier with its own clock over a harness's keys, and a token of the
// harness's signing key.
type cacheFixture struct {
	h     *harness
	v     *verifier
	clock atomic.Int64 // Unix nanoseconds
	token string
}

func newCacheFixture(t *testing.T, size int) *cacheFixture {
	t.Helper()
	f := &cacheFixture{h: newHarness(t, setup{})}
	// A second ahead of the wall clock: a token the test makes later is issued (iat, in whole
	// seconds) in the wall clock's second, which could otherwise be past this fixed clock, and
	// the verifier would refuse it as not yet issued (a flake seen once in eight runs).
	f.clock.Store(time.Now().Add(time.Second).UnixNano())
	f.v = newVerifier(f.h.gw.keys, 0, func() time.Time { return time.Unix(0, f.clock.Load()) }, size)
	f.token = f.h.token("0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", "0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d12")
	return f
}

// refuseAll makes the verifier's own checks refuse every token, so that only a remembered
// token passes.
func (f *cacheFixture) refuseAll() {
	f.v.parser = jwt.NewParser(jwt.WithValidMethods([]string{"none"}))
}

func (f *cacheFixture) verify(t *testing.T) (identity, error) {
	t.Helper()
	return f.v.verify(context.Background(), f.token)
}

func TestVerifiedTokensAreRemembered(t *testing.T) {
	f := newCacheFixture(t, 10)
	want, err := f.verify(t)
	if err != nil {
		t.Fatal(err)
	}
	f.refuseAll()
	if got, err := f.verify(t); err != nil || got != want {
		t.Fatalf("second verify = %+v, %v; want %+v from the cache", got, err, want)
	}
	if _, err := f.v.verify(context.Background(), f.token+"x"); err == nil {
		t.Fatal("a token differing from a remembered one passed")
	}
}

func TestNoTokenCache(t *testing.T) {
	f := newCacheFixture(t, 0)
	if _, err := f.verify(t); err != nil {
		t.Fatal(err)
	}
	f.refuseAll()
	if _, err := f.verify(t); err == nil {
		t.Fatal("with TokenCacheSize 0 a token passed without being checked")
	}
}

// A remembered token is refused once it expires, or once the key that checked it is no
// longer the key of its key ID.
func TestRememberedTokensStillExpireAndFollowTheKeys(t *testing.T) {
	t.Run("expiry", func(t *testing.T) {
		f := newCacheFixture(t, 10)
		if _, err := f.verify(t); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(int64(authtoken.MaxTTL + time.Second))
		if _, err := f.verify(t); !errors.Is(err, errTokenExpired) {
			t.Fatalf("verify after expiry = %v, want %v", err, errTokenExpired)
		}
	})
	t.Run("key replaced", func(t *testing.T) {
		f := newCacheFixture(t, 10)
		if _, err := f.verify(t); err != nil {
			t.Fatal(err)
		}
		other, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		f.h.gw.keys.keys.Store(&map[string]ed25519.PublicKey{testKID: other})
		if _, err := f.verify(t); !errors.Is(err, errTokenSignature) {
			t.Fatalf("verify after the key changed = %v, want %v", err, errTokenSignature)
		}
	})
}

// The gateway refuses a remembered token whose session was revoked: the cache holds
// signatures, not permissions.
func TestRememberedTokensFollowRevocations(t *testing.T) {
	h := newHarness(t, setup{before: func(h *harness) { h.auth.wakeOnRevoke = true }})
	const sub, sid = "0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", "0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d12"
	tok := h.token(sub, sid)
	if got := h.get("/api/v1/notifications", tok); got.Code != 200 {
		t.Fatalf("before revocation: %d %s", got.Code, got.Body)
	}
	h.auth.revoke(sid, sub)
	waitFor(t, "the revocation to reach the gateway", func() bool {
		return h.get("/api/v1/notifications", tok).Code == 401
	})
}

func TestTokenCacheIsBounded(t *testing.T) {
	f := newCacheFixture(t, 5)
	for i := range 20 {
		tok := f.h.token("0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", fmt.Sprintf("0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9%03d", i))
		if _, err := f.v.verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.v.verified.Len(); n != 5 {
		t.Fatalf("the cache holds %d tokens, want its size 5", n)
	}
}
