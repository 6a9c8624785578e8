// Package authtoken is the agreement between the auth service, which issues access tokens,
// and the gateway, which verifies them: the claims of an access token, the JWK set that
// publishes the verification keys, and the revocation feed through which the gateway learns
// of logins and accounts whose tokens must be refused before they expire.
package authtoken

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Access tokens are EdDSA (Ed25519) JWTs with this issuer and audience.
const (
	Issuer   = "eventpost-auth"
	Audience = "eventpost"
	// MaxTTL is the longest an access token lives.
	MaxTTL = 15 * time.Minute
)

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	// Email is the account's email address.
	Email string `json:"email"`
	// SessionID identifies the login (the refresh-token family) the token was issued to.
	SessionID string `json:"sid"`
}

// JWK is one public key of a JWK set (RFC 8037 OKP key for Ed25519).
type JWK struct {
	KeyType string `json:"kty"` // "OKP"
	Curve   string `json:"crv"` // "Ed25519"
	X       string `json:"x"`   // base64url public key, no padding
	KeyID   string `json:"kid"`
	Alg     string `json:"alg"` // "EdDSA"
	Use     string `json:"use"` // "sig"
}

// JWKS is the document served at /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// RevocationsPath is the auth service's internal endpoint that lists revocations:
// GET RevocationsPath?after=<seq>&wait=<seconds> answers a RevocationFeed with the
// revocations whose sequence number is above after and which still matter (their tokens may
// not have expired yet). With wait > 0 (at most 30) and nothing new, it waits up to that long
// for a revocation before answering.
const RevocationsPath = "/internal/v1/revocations"

// Revocation refuses every access token of one login (SessionID) or of one account
// (AccountID) issued before ExpiresAt; after ExpiresAt no such token is valid anyway.
type Revocation struct {
	Seq       int64     `json:"seq"`
	SessionID string    `json:"session_id,omitempty"`
	AccountID string    `json:"account_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RevocationFeed is the answer of RevocationsPath.
type RevocationFeed struct {
	Revocations []Revocation `json:"revocations"`
	// LastSeq is the highest sequence number the auth service has issued.
	LastSeq int64 `json:"last_seq"`
}
