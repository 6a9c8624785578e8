// Package svcauthtest gives tests the service keys of a system: one key per calling service,
// verifiers for the called services, and requests signed as a given caller.
package svcauthtest

import (
	"crypto/ed25519"
	"net/http"
	"slices"
	"sync"

	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// Gateway is the one caller whose calls may be made for an end user.
const Gateway = "gateway"

// Keys holds a key per calling service, made on first use.
type Keys struct {
	mu      sync.Mutex
	signers map[string]*svcauth.Signer
}

// New returns an empty set of keys.
func New() *Keys { return &Keys{signers: map[string]*svcauth.Signer{}} }

// Signer returns the signer of caller, making its key on first use.
func (k *Keys) Signer(caller string) *svcauth.Signer {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.signers[caller]; ok {
		return s
	}
	key, err := svcauth.GenerateKey()
	if err != nil {
		panic(err) // crypto/rand does not fail on the platforms Go supports
	}
	s := svcauth.NewSigner(caller, key, nil)
	k.signers[caller] = s
	return s
}

// Public returns the public key of caller.
func (k *Keys) Public(caller string) ed25519.PublicKey {
	return k.Signer(caller).PublicKey()
}

// Verifier returns the verifier of calls to audience from callers; the gateway among them
// may act for end users.
func (k *Keys) Verifier(audience string, callers ...string) *svcauth.Verifier {
	var cs []svcauth.Caller
	for _, c := range callers {
		cs = append(cs, svcauth.Caller{Name: c, Keys: []ed25519.PublicKey{k.Public(c)}, ForUsers: c == Gateway})
	}
	return svcauth.NewVerifier(audience, cs, nil)
}

// CallerKeys returns the public keys of callers in the form of svcauth.ParseCallerKeys.
func (k *Keys) CallerKeys(callers ...string) svcauth.CallerKeys {
	out := svcauth.CallerKeys{}
	for _, c := range slices.Compact(slices.Sorted(slices.Values(callers))) {
		out[c] = []ed25519.PublicKey{k.Public(c)}
	}
	return out
}

// Sign authenticates r as a call of caller to audience with claims c.
func (k *Keys) Sign(r *http.Request, caller, audience string, c svcauth.Claims) {
	if err := k.Signer(caller).Authorize(r.Header, audience, c); err != nil {
		panic(err) // signing with an Ed25519 key does not fail
	}
}
