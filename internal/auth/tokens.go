package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
)

// TokenPair is the answer of a login or a refresh.
type TokenPair struct {
	AccessToken string `json:"access_token"`
	// TokenType is always "Bearer".
	TokenType string `json:"token_type"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// secretBytes is the entropy of a refresh token or a password-reset link's token.
const secretBytes = 32

// newSecret returns a fresh secret token — a refresh token, the token of a password-reset
// link — (32 random bytes, base64url without padding) and the hash under which it is stored.
func newSecret() (token, hash string, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("new secret: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashSecret(token), nil
}

// hashSecret returns the hex SHA-256 of a secret token, the only form it is stored in.
func hashSecret(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// generateSigningKey returns a new Ed25519 signing key created at now.
func generateSigningKey(now time.Time) (SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	return SigningKey{ID: keyID(pub), PrivateKey: priv, CreatedAt: now.UTC().Truncate(time.Microsecond)}, nil
}

// keyID returns the RFC 7638 JWK thumbprint of an Ed25519 public key, used as its "kid".
func keyID(pub ed25519.PublicKey) string {
	canonical := fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, base64.RawURLEncoding.EncodeToString(pub))
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// publicJWK returns the public half of k as an RFC 8037 OKP JWK.
func publicJWK(k SigningKey) authtoken.JWK {
	pub := k.PrivateKey.Public().(ed25519.PublicKey)
	return authtoken.JWK{
		KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
		KeyID: k.ID, Alg: jwt.SigningMethodEdDSA.Alg(), Use: "sig",
	}
}

// signAccessToken returns an access token for the account's session, valid for ttl from now.
func signAccessToken(k SigningKey, a Account, sessionID string, now time.Time, ttl time.Duration) (string, error) {
	jti, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	claims := authtoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    authtoken.Issuer,
			Subject:   a.ID,
			Audience:  jwt.ClaimStrings{authtoken.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        jti.String(),
		},
		Email:     a.Email,
		SessionID: sessionID,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}
