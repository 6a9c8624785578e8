package gateway

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/retry"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// JWKSPath is where the auth service publishes its JWK set.
const JWKSPath = "/.well-known/jwks.json"

var (
	// errUnknownKey: a token names a key ID that the JWK set does not hold.
	errUnknownKey = errors.New("unknown key ID")
	// errKeysUnavailable: the JWK set has never been loaded and cannot be now.
	errKeysUnavailable = errors.New("the JWK set is not available")
	// errRefetchThrottled: an on-demand fetch was refused because one happened recently.
	errRefetchThrottled = errors.New("the JWK set was fetched on demand recently")
)

// keyCache holds the auth service's verification keys by key ID. It is read on every
// authenticated request without a lock and replaced wholesale by each fetch.
type keyCache struct {
	g    *Gateway
	keys atomic.Pointer[map[string]ed25519.PublicKey]

	mu         sync.Mutex
	inflight   chan struct{} // closed when the fetch in progress ends; nil when none is
	lastDemand time.Time     // the last fetch caused by an unknown key ID
}

// newKeyCache returns an empty cache that fetches through g.
func newKeyCache(g *Gateway) *keyCache { return &keyCache{g: g} }

// loaded reports whether a JWK set has been loaded.
func (k *keyCache) loaded() bool { return k.keys.Load() != nil }

// key returns the key with ID kid. An unknown kid makes the cache fetch the JWK set at once,
// at most once per Config.JWKSMinRefetch, in case the auth service has a new key.
func (k *keyCache) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if key, ok := k.lookup(kid); ok {
		return key, nil
	}
	err := k.refresh(ctx, true)
	if key, ok := k.lookup(kid); ok {
		return key, nil
	}
	if !k.loaded() {
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
	}
	return nil, errUnknownKey
}

// lookup returns the cached key with ID kid.
func (k *keyCache) lookup(kid string) (ed25519.PublicKey, bool) {
	m := k.keys.Load()
	if m == nil {
		return nil, false
	}
	key, ok := (*m)[kid]
	return key, ok
}

// refresh fetches the JWK set, or waits for the fetch already in progress. An on-demand
// refresh is skipped when another happened less than Config.JWKSMinRefetch ago.
func (k *keyCache) refresh(ctx context.Context, onDemand bool) error {
	k.mu.Lock()
	if ch := k.inflight; ch != nil {
		k.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if onDemand {
		now := k.g.now()
		if !k.lastDemand.IsZero() && now.Sub(k.lastDemand) < k.g.cfg.JWKSMinRefetch {
			k.mu.Unlock()
			return errRefetchThrottled
		}
		k.lastDemand = now
	}
	ch := make(chan struct{})
	k.inflight = ch
	k.mu.Unlock()

	// The fetch outlives a caller that gives up: others may be waiting for it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	err := k.fetch(fctx)
	cancel()

	k.mu.Lock()
	k.inflight = nil
	close(ch)
	k.mu.Unlock()
	if err != nil {
		k.g.metrics.jwksFetches.WithLabelValues("error").Inc()
		return err
	}
	k.g.metrics.jwksFetches.WithLabelValues("ok").Inc()
	return nil
}

// fetch loads the JWK set from an auth instance and replaces the cached keys.
func (k *keyCache) fetch(ctx context.Context) error {
	var set authtoken.JWKS
	if err := k.g.getFromAuth(ctx, JWKSPath, 1<<20, &set); err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	keys, skipped := parseJWKS(set)
	for _, err := range skipped {
		k.g.log.WarnContext(ctx, "skipping a key of the JWK set", "err", err)
	}
	if len(keys) == 0 {
		return errors.New("fetch jwks: the set holds no usable Ed25519 key")
	}
	k.keys.Store(&keys)
	return nil
}

// parseJWKS returns the Ed25519 verification keys of set by key ID, and why it skipped the
// others.
func parseJWKS(set authtoken.JWKS) (map[string]ed25519.PublicKey, []error) {
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	var skipped []error
	for _, jwk := range set.Keys {
		key, err := parseJWK(jwk)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %q: %w", jwk.KeyID, err))
			continue
		}
		keys[jwk.KeyID] = key
	}
	return keys, skipped
}

// parseJWK returns the Ed25519 public key of an RFC 8037 OKP key meant for EdDSA signatures.
func parseJWK(jwk authtoken.JWK) (ed25519.PublicKey, error) {
	switch {
	case jwk.KeyID == "":
		return nil, errors.New("no kid")
	case jwk.KeyType != "OKP" || jwk.Curve != "Ed25519":
		return nil, fmt.Errorf("kty %q crv %q is not an Ed25519 key", jwk.KeyType, jwk.Curve)
	case jwk.Alg != "" && jwk.Alg != "EdDSA":
		return nil, fmt.Errorf("alg %q is not EdDSA", jwk.Alg)
	case jwk.Use != "" && jwk.Use != "sig":
		return nil, fmt.Errorf("use %q is not sig", jwk.Use)
	}
	x, err := base64.RawURLEncoding.DecodeString(jwk.X)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x holds %d bytes, not %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}

// run loads the JWK set, retrying with backoff until it works, then refreshes it every
// Config.JWKSRefresh until ctx is done.
func (k *keyCache) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for !k.loaded() {
		err := k.refresh(ctx, false)
		if k.loaded() {
			break
		}
		k.g.log.WarnContext(ctx, "cannot load the JWK set yet; retrying", "err", err, "retry_in", backoff.String())
		if !retry.Sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, k.g.cfg.JWKSRetryMax)
	}
	every(ctx, k.g.cfg.JWKSRefresh, func() {
		if err := k.refresh(ctx, false); err != nil && ctx.Err() == nil {
			k.g.log.WarnContext(ctx, "cannot refresh the JWK set; keeping the cached keys", "err", err)
		}
	})
}

// getFromAuth GETs pathAndQuery from an auth instance, as the gateway's service, and decodes
// the JSON answer, of at most limit bytes, into v.
func (g *Gateway) getFromAuth(ctx context.Context, pathAndQuery string, limit int64, v any) error {
	base, err := g.balancer.Pick(ctx, discovery.Auth)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+pathAndQuery, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if err := g.signer.Authorize(req.Header, discovery.Auth, svcauth.Claims{}); err != nil {
		return err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", base, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// drain reads what is left of a response body (up to a bound) and closes it, so that its
// connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
