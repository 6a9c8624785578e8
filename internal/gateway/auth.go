package gateway

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// identity is the caller that a valid access token names.
type identity struct {
	AccountID string
	Email     string
	SessionID string
}

// tokenError is why an access token was refused; Reason labels the failure metric.
type tokenError struct {
	Reason string
	Detail string
}

func (e *tokenError) Error() string { return e.Detail }

// Reasons a token is refused.
var (
	errTokenMissing   = &tokenError{"missing", "an access token is required (Authorization: Bearer <token>)"}
	errTokenMalformed = &tokenError{"malformed", "the access token is malformed"}
	errTokenAlgorithm = &tokenError{"algorithm", "the access token is not signed with EdDSA"}
	errTokenSignature = &tokenError{"signature", "the access token's signature is invalid"}
	errTokenKey       = &tokenError{"unknown_key", "the access token is signed with an unknown key"}
	errTokenExpired   = &tokenError{"expired", "the access token has expired"}
	errTokenClaims    = &tokenError{"claims", "the access token's claims are invalid"}
	errTokenLifetime  = &tokenError{"lifetime", "the access token's lifetime (exp - iat) is longer than access tokens live"}
	errTokenRevoked   = &tokenError{"revoked", "the access token has been revoked"}
)

// verifier checks access tokens against the keys of a keyCache.
type verifier struct {
	parser *jwt.Parser
	keys   *keyCache
	now    func() time.Time
	// verified remembers tokens that passed verify (nil when Config.TokenCacheSize is 0):
	// an Ed25519 check costs tens of microseconds, a lookup well under one. Only tokens that
	// passed go in, so requests with made-up tokens cannot push out real ones.
	verified *lru.Cache[string, verifiedToken]
}

// verifiedToken is what verify learnt of a token that passed, and what it must still hold
// for the token to pass again without a new check.
type verifiedToken struct {
	id      identity
	kid     string
	key     ed25519.PublicKey // the key that checked it, still in the key set under kid
	expires time.Time         // exp; past it the token is verified again (and refused)
}

// newVerifier returns a verifier of EdDSA access tokens of the auth service that remembers
// up to cacheSize verified tokens.
func newVerifier(keys *keyCache, leeway time.Duration, now func() time.Time, cacheSize int) *verifier {
	v := &verifier{keys: keys, now: now}
	if cacheSize > 0 {
		v.verified, _ = lru.New[string, verifiedToken](cacheSize) // errs only for a size ≤ 0
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(authtoken.Issuer),
		jwt.WithAudience(authtoken.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	return v
}

// maxLifetime returns the longest lifetime of an access token, Config.AccessTokenLifetime.
func (v *verifier) maxLifetime() time.Duration { return v.keys.g.cfg.AccessTokenLifetime }

// verify checks the signature and claims of token, its lifetime included, and returns the
// identity it names. It returns a *tokenError for a token to refuse, or errKeysUnavailable
// when the keys could not be loaded at all.
//
// A token verified before is taken from the cache while it has not expired and the key that
// checked it is still in the key set: the signature and claims cannot have changed, since
// the cache is keyed by the whole token.
func (v *verifier) verify(ctx context.Context, token string) (identity, error) {
	if id, ok := v.remembered(token); ok {
		return id, nil
	}
	var (
		claims authtoken.Claims
		kid    string
		key    ed25519.PublicKey
	)
	t, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, errUnknownKey
		}
		var err error
		key, err = v.keys.key(ctx, kid)
		return key, err
	})
	if err != nil {
		return identity{}, classify(t, err)
	}
	if claims.Subject == "" {
		return identity{}, errTokenClaims
	}
	// A token the auth service issued lives AccessTokenLifetime: a longer one was not
	// issued by it, or with a configuration that no longer holds.
	if claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > v.maxLifetime() {
		return identity{}, errTokenLifetime
	}
	id := identity{AccountID: claims.Subject, Email: claims.Email, SessionID: claims.SessionID}
	if v.verified != nil {
		v.verified.Add(token, verifiedToken{id: id, kid: kid, key: key, expires: claims.ExpiresAt.Time})
	}
	return id, nil
}

// remembered returns the identity of token when the cache holds it and it still passes.
func (v *verifier) remembered(token string) (identity, bool) {
	if v.verified == nil {
		return identity{}, false
	}
	c, ok := v.verified.Get(token)
	if !ok {
		return identity{}, false
	}
	if key, known := v.keys.lookup(c.kid); known && key.Equal(c.key) && v.now().Before(c.expires) {
		return c.id, true
	}
	v.verified.Remove(token)
	return identity{}, false
}

// classify translates a jwt parsing error into the reason the token is refused.
func classify(t *jwt.Token, err error) error {
	switch {
	case errors.Is(err, errKeysUnavailable):
		return errKeysUnavailable
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errTokenMalformed
	case t != nil && t.Method != nil && t.Method.Alg() != jwt.SigningMethodEdDSA.Alg(),
		t != nil && t.Method == nil:
		return errTokenAlgorithm
	case errors.Is(err, errUnknownKey):
		return errTokenKey
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errTokenSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return errTokenExpired
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return errTokenAlgorithm // an algorithm the library does not know
	}
	return errTokenClaims
}

// authenticate returns the identity of the caller of r as the route's auth asks: nil when the
// route lets an anonymous request through. Its errors are *tokenError (401) or
// *problem.Error (503).
func (g *Gateway) authenticate(r *http.Request, auth Auth) (*identity, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		if auth == AuthOptional {
			return nil, nil
		}
		return nil, errTokenMissing
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, errTokenMalformed
	}
	id, err := g.verifier.verify(r.Context(), token)
	if errors.Is(err, errKeysUnavailable) {
		return nil, problem.Unavailable("auth", g.cfg.RetryAfter)
	}
	if err != nil {
		return nil, err
	}
	if !g.revs.awaitSync(r.Context()) {
		return nil, problem.Unavailable("auth", g.cfg.RetryAfter)
	}
	if g.revs.revoked(id.SessionID, id.AccountID) {
		return nil, errTokenRevoked
	}
	return &id, nil
}

// writeAuthError answers a request whose token was refused.
func (g *Gateway) writeAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var te *tokenError
	if !errors.As(err, &te) {
		problem.Write(w, r, g.log, err)
		return
	}
	g.metrics.tokenFailures.WithLabelValues(te.Reason).Inc()
	challenge := problem.Challenge
	if te != errTokenMissing {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	problem.WriteError(w, r, problem.New(http.StatusUnauthorized, te.Detail))
}

// routeHandler returns the handler of rt: it refuses bodies that are too large, checks the
// caller's token as rt asks, then calls next.
func (g *Gateway) routeHandler(rt Route, next func(http.ResponseWriter, *http.Request, Route, *identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > httpx.MaxBodyBytes {
			problem.WriteError(w, r, problem.Newf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", httpx.MaxBodyBytes))
			return
		}
		var id *identity
		if rt.Auth != AuthNone {
			var err error
			if id, err = g.authenticate(r, rt.Auth); err != nil {
				g.writeAuthError(w, r, err)
				return
			}
		}
		next(w, r, rt, id)
	})
}
