package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os/exec"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/auth"
	"github.com/eventpost/eventpost/internal/platform/integration"
)

// newKey returns a fresh Ed25519 private key.
func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// pemKey returns key as a PEM "PRIVATE KEY" block (PKCS #8).
func pemKey(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key, computed here apart
// from the service's code: SHA-256 of the required members in lexicographic order.
func thumbprint(t testing.TB, pub ed25519.PublicKey) string {
	t.Helper()
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// kidOf returns the kid header of a JWT, without verifying it.
func kidOf(t testing.TB, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func TestParseSigningKeys(t *testing.T) {
	a, b := newKey(t), newKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pubOf(a))
	if err != nil {
		t.Fatal(err)
	}
	publicPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	t.Run("keys in order", func(t *testing.T) {
		for _, text := range []string{
			pemKey(t, b) + pemKey(t, a),
			"\n\n  " + pemKey(t, b) + "\n\n" + pemKey(t, a) + "\n  \n",
		} {
			keys, err := auth.ParseSigningKeys(text)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || !keys[0].Equal(b) || !keys[1].Equal(a) {
				t.Errorf("got %d keys, want b then a", len(keys))
			}
		}
	})
	t.Run("what openssl writes", func(t *testing.T) {
		out, err := exec.Command("openssl", "genpkey", "-algorithm", "ed25519").Output()
		if err != nil {
			if integration.Required() { // scripts/test.sh installs openssl
				t.Fatalf("openssl genpkey: %v", err)
			}
			t.Skipf("openssl genpkey: %v", err)
		}
		keys, err := auth.ParseSigningKeys(string(out))
		if err != nil || len(keys) != 1 {
			t.Fatalf("ParseSigningKeys(openssl's key) = %d keys, %v", len(keys), err)
		}
	})

	tests := []struct {
		name    string
		text    string
		wantErr string
	}{
		{name: "empty", text: " \n", wantErr: "no PEM"},
		{name: "not PEM", text: "MC4CAQAwBQYDK2VwBCIEI", wantErr: "not a PEM block"},
		{name: "text after the blocks", text: pemKey(t, a) + "trailing words", wantErr: "key 2: text that is not a PEM block"},
		{name: "a public key", text: publicPEM, wantErr: `"PUBLIC KEY"`},
		{name: "not Ed25519", text: pemKey(t, a) + pemKey(t, ec), wantErr: "key 2: a *ecdsa.PrivateKey, not an Ed25519 key"},
		{name: "the same key twice", text: pemKey(t, a) + pemKey(t, b) + pemKey(t, a), wantErr: "key 3: the same key as key 1"},
		{name: "corrupt key", text: strings.Replace(pemKey(t, a), "MC4C", "MC4D", 1), wantErr: "key 1"},
		{
			name:    "literal backslash-n",
			text:    strings.ReplaceAll(strings.TrimSpace(pemKey(t, a)), "\n", `\n`),
			wantErr: `literal \n`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := auth.ParseSigningKeys(tt.text)
			if err == nil {
				t.Fatalf("ParseSigningKeys = %d keys, want an error", len(keys))
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "auth signing keys: ") {
				t.Errorf("error %q does not say what it is about", err)
			}
			// No part of a key's encoding appears in the error.
			for _, line := range strings.Split(tt.text, "\n") {
				if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
					t.Errorf("error %q quotes the key", err)
				}
			}
		})
	}
}

func TestConfiguredSigningKeys(t *testing.T) {
	t.Parallel()
	store := openSQLite(t)
	a, b := newKey(t), newKey(t)
	e := newEnvOn(t, store, func(c *auth.Config) { c.SigningKeys = []ed25519.PrivateKey{b, a} })
	e.signUp(adaEmail, adaPassword, "Ada")
	s := e.login(adaEmail, adaPassword)

	set := e.jwks()
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
		if k.KeyType != "OKP" || k.Curve != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" {
			t.Errorf("key %+v is not an Ed25519 signing key", k)
		}
	}
	if diff := cmp.Diff([]string{thumbprint(t, pubOf(b)), thumbprint(t, pubOf(a))}, kids); diff != "" {
		t.Errorf("published kids, the configured keys' thumbprints in order (-want +got):\n%s", diff)
	}
	if got := kidOf(t, s.AccessToken); got != thumbprint(t, pubOf(b)) {
		t.Errorf("token signed with kid %q, want the first key's %q", got, thumbprint(t, pubOf(b)))
	}
	if _, err := jwt.Parse(s.AccessToken, func(*jwt.Token) (any, error) { return pubOf(b), nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(e.clock.Now)); err != nil {
		t.Errorf("the token does not verify with the first key: %v", err)
	}
	if _, err := verifyWith(set, s.AccessToken, e.clock.Now); err != nil {
		t.Errorf("the token does not verify with the JWK set: %v", err)
	}
	stored, err := store.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 0 {
		t.Errorf("%d keys generated in the database, want none", len(stored))
	}
}

func TestConfiguredSigningKeysReplaceTheStoredKey(t *testing.T) {
	t.Parallel()
	store := openSQLite(t)
	before := newEnvOn(t, store) // generates and stores a key
	stored := before.jwks().Keys
	if len(stored) != 1 {
		t.Fatalf("%d stored keys, want 1", len(stored))
	}
	a := newKey(t)
	e := newEnvOn(t, store, func(c *auth.Config) { c.SigningKeys = []ed25519.PrivateKey{a} })
	set := e.jwks()
	if len(set.Keys) != 1 || set.Keys[0].KeyID != thumbprint(t, pubOf(a)) {
		t.Errorf("JWK set %+v, want only the configured key %s (not the stored %s)", set.Keys, thumbprint(t, pubOf(a)), stored[0].KeyID)
	}
	e.signUp(adaEmail, adaPassword, "Ada")
	if got := kidOf(t, e.login(adaEmail, adaPassword).AccessToken); got != thumbprint(t, pubOf(a)) {
		t.Errorf("token signed with kid %q, want the configured key's", got)
	}
}

func TestSigningKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	t.Parallel()
	// The Ed25519 key of RFC 8037, appendix A.1, and its thumbprint from appendix A.3.
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *auth.Config) { c.SigningKeys = []ed25519.PrivateKey{ed25519.NewKeyFromSeed(seed)} })
	want := []string{"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}
	var got []string
	for _, k := range e.jwks().Keys {
		got = append(got, k.KeyID)
		if k.X != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" {
			t.Errorf("x = %q, want RFC 8037's", k.X)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kids (-want +got):\n%s", diff)
	}
}

func TestConfigRefusesBadSigningKeys(t *testing.T) {
	t.Parallel()
	a := newKey(t)
	for name, keys := range map[string][]ed25519.PrivateKey{
		"short key": {a[:10]},
		"duplicate": {a, newKey(t), a},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := auth.DefaultConfig()
			cfg.SigningKeys = keys
			if _, err := auth.New(cfg, auth.Deps{Store: openSQLite(t)}); err == nil || !strings.Contains(err.Error(), "signing key") {
				t.Errorf("New = %v, want an error about the signing keys", err)
			}
		})
	}
}
