// Package svcauth authenticates the calls EventPost's services make to each other. A calling
// service (the gateway, notifications) holds an Ed25519 service key and signs, per call, a
// short-lived token bound to the service it calls (the audience); the gateway's tokens also
// carry the end user the call is made for (account, email, login) and the client address it
// saw. A called service verifies the token with the public keys of the services allowed to
// call it, and believes nothing else about the request: not a header, not a peer address.
//
// Signing and verifying Ed25519 costs tens of microseconds, about as much as serving a small
// request; both sides therefore cache: a Signer reuses a token for the same audience and
// claims for half its lifetime, and a Verifier remembers the tokens it has verified until
// they expire. Both caches are bounded.
package svcauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// TokenTTL is how long a service token is valid. A Signer renews its cached token when
	// half of it has passed.
	TokenTTL = 2 * time.Minute
	// MaxTTL is the longest lifetime a Verifier accepts (exp - iat).
	MaxTTL = 5 * time.Minute
	// Leeway is the clock skew between hosts that a Verifier tolerates.
	Leeway = 30 * time.Second
	// cacheSize bounds each cache.
	cacheSize = 10_000
)

// Claims are what a service token says about a call. Caller is the service that made it;
// the other fields, set only on calls the gateway makes for a client, name that client.
type Claims struct {
	// Caller is the calling service, such as "gateway".
	Caller string
	// AccountID, Email and SessionID identify the end user the gateway verified, if any.
	AccountID string
	Email     string
	SessionID string
	// ClientIP is the client address the gateway saw.
	ClientIP string
}

// forUser reports whether c names an end user or a client.
func (c Claims) forUser() bool {
	return c.AccountID != "" || c.Email != "" || c.SessionID != "" || c.ClientIP != ""
}

// tokenClaims is the JWT form of Claims: iss is the calling service, aud the called one, sub
// the account.
type tokenClaims struct {
	jwt.RegisteredClaims
	Email     string `json:"email,omitempty"`
	SessionID string `json:"sid,omitempty"`
	ClientIP  string `json:"cip,omitempty"`
}

// ctxKey carries the Claims of a verified call in a request context.
type ctxKey struct{}

// NewContext returns ctx carrying the claims of a verified call.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the claims of the verified call ctx belongs to.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(Claims)
	return c, ok
}

// GenerateKey returns a new service key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service key: %w", err)
	}
	return priv, nil
}

// MarshalPrivateKey returns key as a PEM "PRIVATE KEY" block (PKCS #8), the form
// `openssl genpkey -algorithm ed25519` writes.
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal service key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeys reads the Ed25519 private keys of the PEM "PRIVATE KEY" blocks (PKCS #8)
// in text, in order. Text outside the blocks, another block type, another key type or the
// same key twice is an error; so is text holding no key.
func ParsePrivateKeys(text string) ([]ed25519.PrivateKey, error) {
	rest := []byte(strings.TrimSpace(text))
	var keys []ed25519.PrivateKey
	for len(rest) > 0 {
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("key %d: text that is not a PEM block", len(keys)+1)
		}
		block, r := pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("key %d: not a PEM block", len(keys)+1)
		}
		rest = []byte(strings.TrimSpace(string(r)))
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("key %d: a PEM %q block, not \"PRIVATE KEY\"", len(keys)+1, block.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", len(keys)+1, err)
		}
		key, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key %d: a %T, not an Ed25519 key", len(keys)+1, k)
		}
		for i, prev := range keys {
			if prev.Equal(key) {
				return nil, fmt.Errorf("key %d: the same key as key %d", len(keys)+1, i+1)
			}
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM \"PRIVATE KEY\" block")
	}
	return keys, nil
}

// ParsePrivateKey reads the one Ed25519 private key of a PEM "PRIVATE KEY" block.
func ParsePrivateKey(text string) (ed25519.PrivateKey, error) {
	keys, err := ParsePrivateKeys(text)
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("%d keys where one is expected", len(keys))
	}
	return keys[0], nil
}

// EncodePublicKey returns key in base64url without padding, the form of CallerKeys entries.
func EncodePublicKey(key ed25519.PublicKey) string {
	return base64.RawURLEncoding.EncodeToString(key)
}

// CallerKeys are the public keys of calling services by service name; a service may have
// several while its key is rotated.
type CallerKeys map[string][]ed25519.PublicKey

// ParseCallerKeys reads "<service>:<base64url public key>" entries separated by commas,
// spaces or new lines; lines starting with # are comments.
func ParseCallerKeys(text string) (CallerKeys, error) {
	keys := CallerKeys{}
	var lines []string
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	for _, entry := range strings.FieldsFunc(strings.Join(lines, ","), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t'
	}) {
		service, enc, ok := strings.Cut(entry, ":")
		if !ok || service == "" {
			return nil, fmt.Errorf("caller key %q: want <service>:<base64url public key>", entry)
		}
		b, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("caller key of %s: not a base64url Ed25519 public key", service)
		}
		keys[service] = append(keys[service], ed25519.PublicKey(b))
	}
	return keys, nil
}

// String returns keys in the form ParseCallerKeys reads, one entry per line, sorted.
func (keys CallerKeys) String() string {
	var b strings.Builder
	for _, service := range slices.Sorted(maps.Keys(keys)) {
		for _, k := range keys[service] {
			fmt.Fprintf(&b, "%s:%s\n", service, EncodePublicKey(k))
		}
	}
	return b.String()
}

// keyID names a public key in a token's header: the RFC 7638 JWK thumbprint of the key.
func keyID(pub ed25519.PublicKey) string {
	canonical := fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, EncodePublicKey(pub))
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Signer makes the tokens of one calling service. It is safe for concurrent use.
type Signer struct {
	service string
	key     ed25519.PrivateKey
	kid     string
	now     func() time.Time
	cache   *boundedCache[signed, string] // tokens until they are to be renewed
}

// signed is what a token is made for: the audience and the claims.
type signed struct {
	audience string
	claims   Claims
}

// NewSigner returns the signer of service with key; now is its clock (nil: time.Now).
func NewSigner(service string, key ed25519.PrivateKey, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{
		service: service, key: key, kid: keyID(key.Public().(ed25519.PublicKey)), now: now,
		cache: newBoundedCache[signed, string](),
	}
}

// Service returns the name of the service the signer signs for.
func (s *Signer) Service() string { return s.service }

// PublicKey returns the public key that verifies the signer's tokens.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Token returns a token for a call to audience with claims c (c.Caller is ignored: it is the
// signer's service).
func (s *Signer) Token(audience string, c Claims) (string, error) {
	c.Caller = s.service
	k := signed{audience, c}
	now := s.now()
	if token, ok := s.cache.get(k, now); ok {
		return token, nil
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.service,
			Subject:   c.AccountID,
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(TokenTTL)),
		},
		Email: c.Email, SessionID: c.SessionID, ClientIP: c.ClientIP,
	})
	tok.Header["kid"] = s.kid
	token, err := tok.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign service token: %w", err)
	}
	s.cache.put(k, token, now.Add(TokenTTL/2), now)
	return token, nil
}

// Authorize sets the Authorization header of a request to audience made for claims c.
func (s *Signer) Authorize(h http.Header, audience string, c Claims) error {
	token, err := s.Token(audience, c)
	if err != nil {
		return err
	}
	h.Set("Authorization", "Bearer "+token)
	return nil
}

// Transport is an http.RoundTripper that authenticates every request as a call of Signer's
// service to Audience, made for no end user.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base     http.RoundTripper
	Signer   *Signer
	Audience string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	token, err := t.Signer.Token(t.Audience, Claims{})
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", "Bearer "+token)
	return base.RoundTrip(out)
}

// Caller is a service allowed to call: its name, its public keys, and whether its calls may
// be made for an end user (carry an account or a client address). Only the gateway's may.
type Caller struct {
	Name     string
	Keys     []ed25519.PublicKey
	ForUsers bool
}

// callerKey is one key of a Caller.
type callerKey struct {
	service  string
	key      ed25519.PublicKey
	forUsers bool
}

// Error is why a call was refused; Reason is a short label from a fixed set, for metrics.
type Error struct {
	Reason string
	Detail string
}

func (e *Error) Error() string { return e.Detail }

// Reasons a call is refused.
var (
	ErrMissing   = &Error{"missing", "this service answers only calls from the services allowed to call it"}
	ErrMalformed = &Error{"malformed", "the service token is malformed"}
	ErrKey       = &Error{"unknown_key", "the service token is not signed by a service allowed to call this one"}
	ErrSignature = &Error{"signature", "the service token's signature is invalid"}
	ErrExpired   = &Error{"expired", "the service token has expired"}
	ErrClaims    = &Error{"claims", "the service token's claims are invalid"}
	ErrForUser   = &Error{"for_user", "the calling service may not act for an end user"}
)

// Verifier checks the tokens of calls to one service. It is safe for concurrent use.
type Verifier struct {
	audience string
	keys     map[string]callerKey // by key ID
	parser   *jwt.Parser
	now      func() time.Time
	cache    *boundedCache[string, Claims] // verified tokens until they expire
}

// NewVerifier returns the verifier of calls to audience (the called service's name) from
// callers; now is its clock (nil: time.Now). With no callers it refuses every call.
func NewVerifier(audience string, callers []Caller, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{audience: audience, keys: map[string]callerKey{}, now: now, cache: newBoundedCache[string, Claims]()}
	for _, c := range callers {
		for _, k := range c.Keys {
			v.keys[keyID(k)] = callerKey{service: c.Name, key: k, forUsers: c.ForUsers}
		}
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	return v
}

// VerifyRequest verifies the Authorization header of r.
func (v *Verifier) VerifyRequest(r *http.Request) (Claims, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Claims{}, ErrMissing
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Claims{}, ErrMalformed
	}
	return v.Verify(token)
}

// Verify checks token and returns what it says.
func (v *Verifier) Verify(token string) (Claims, error) {
	now := v.now()
	if c, ok := v.cache.get(token, now); ok {
		return c, nil
	}
	c, expires, err := v.verify(token)
	if err != nil {
		return Claims{}, err
	}
	v.cache.put(token, c, expires, now)
	return c, nil
}

// verify checks token's signature and claims, without the cache.
func (v *Verifier) verify(token string) (Claims, time.Time, error) {
	var tc tokenClaims
	var signer callerKey
	_, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := v.keys[kid]
		if !ok {
			return nil, ErrKey
		}
		signer = k
		return k.key, nil
	})
	switch {
	case errors.Is(err, ErrKey):
		return Claims{}, time.Time{}, ErrKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Claims{}, time.Time{}, ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Claims{}, time.Time{}, ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, time.Time{}, ErrExpired
	case err != nil:
		return Claims{}, time.Time{}, ErrClaims
	}
	if tc.Issuer != signer.service || tc.IssuedAt == nil || tc.ExpiresAt.Sub(tc.IssuedAt.Time) > MaxTTL {
		return Claims{}, time.Time{}, ErrClaims
	}
	c := Claims{Caller: tc.Issuer, AccountID: tc.Subject, Email: tc.Email, SessionID: tc.SessionID, ClientIP: tc.ClientIP}
	if c.forUser() && !signer.forUsers {
		return Claims{}, time.Time{}, ErrForUser
	}
	return c, tc.ExpiresAt.Add(Leeway), nil
}

// boundedCache keeps values until a time of their own, at most cacheSize of them: when it is
// full, the expired ones go, and when none has, all go. It is safe for concurrent use.
type boundedCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]cached[V]
}

// cached is a value and the time it is kept until.
type cached[V any] struct {
	v     V
	until time.Time
}

func newBoundedCache[K comparable, V any]() *boundedCache[K, V] {
	return &boundedCache[K, V]{m: map[K]cached[V]{}}
}

// get returns the value of k when it is kept past now.
func (c *boundedCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v under k until until.
func (c *boundedCache[K, V]) put(k K, v V, until, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheSize {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= cacheSize {
			clear(c.m)
		}
	}
	c.m[k] = cached[V]{v: v, until: until}
}
