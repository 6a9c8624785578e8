package auth

import (
	"crypto/ed25519"
	"fmt"
	"strings"

	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// ParseSigningKeys reads access-token signing keys for Config.SigningKeys: one or more PEM
// "PRIVATE KEY" blocks (PKCS #8 Ed25519 keys, as `openssl genpkey -algorithm ed25519`
// writes them), in order; the first signs new tokens. Text that is not such a block, a key
// of another type and the same key twice are errors, as is text holding no key. Errors name
// the key by its position, never by its content.
func ParseSigningKeys(text string) ([]ed25519.PrivateKey, error) {
	keys, err := svcauth.ParsePrivateKeys(text)
	if err != nil {
		if strings.Contains(text, `\n`) {
			return nil, fmt.Errorf("auth signing keys: %w (the text holds a literal \\n: PEM needs real line breaks)", err)
		}
		return nil, fmt.Errorf("auth signing keys: %w", err)
	}
	return keys, nil
}

// configuredKeys returns the configured signing keys with their key IDs, in order.
func configuredKeys(keys []ed25519.PrivateKey) []SigningKey {
	out := make([]SigningKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, SigningKey{ID: keyID(k.Public().(ed25519.PublicKey)), PrivateKey: k})
	}
	return out
}
