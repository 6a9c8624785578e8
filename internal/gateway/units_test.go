package gateway

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
)

func TestParseJWK(t *testing.T) {
	pub := make([]byte, ed25519.PublicKeySize)
	for i := range pub {
		pub[i] = byte(i)
	}
	good := authtoken.JWK{KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), KeyID: "k", Alg: "EdDSA", Use: "sig"}
	tests := []struct {
		name    string
		edit    func(*authtoken.JWK)
		wantErr bool
	}{
		{"valid", func(*authtoken.JWK) {}, false},
		{"alg and use may be absent", func(k *authtoken.JWK) { k.Alg, k.Use = "", "" }, false},
		{"no kid", func(k *authtoken.JWK) { k.KeyID = "" }, true},
		{"RSA key", func(k *authtoken.JWK) { k.KeyType = "RSA" }, true},
		{"X25519 curve", func(k *authtoken.JWK) { k.Curve = "X25519" }, true},
		{"other alg", func(k *authtoken.JWK) { k.Alg = "ES256" }, true},
		{"encryption key", func(k *authtoken.JWK) { k.Use = "enc" }, true},
		{"x not base64url", func(k *authtoken.JWK) { k.X = "!!!" }, true},
		{"x padded", func(k *authtoken.JWK) { k.X = base64.URLEncoding.EncodeToString(pub) }, true},
		{"x too short", func(k *authtoken.JWK) { k.X = base64.RawURLEncoding.EncodeToString(pub[:31]) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := good
			tt.edit(&k)
			key, err := parseJWK(k)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err == nil && !key.Equal(ed25519.PublicKey(pub)) {
				t.Errorf("key %x, want %x", key, pub)
			}
		})
	}
	t.Run("a set keeps the usable keys", func(t *testing.T) {
		bad := good
		bad.KeyID, bad.KeyType = "bad", "RSA"
		keys, skipped := parseJWKS(authtoken.JWKS{Keys: []authtoken.JWK{good, bad}})
		if len(keys) != 1 || keys["k"] == nil || len(skipped) != 1 {
			t.Errorf("keys %v, skipped %v; want k kept and bad skipped", keys, skipped)
		}
	})
}

func TestIsInternalHeader(t *testing.T) {
	tests := map[string]bool{
		"X-Eventpost-Account-Id": true,
		"x-eventpost-anything":   true,
		"X_EVENTPOST_CLIENT_IP":  true,
		"X-Eventpost-":           true,
		"X-Eventpost":            false,
		"X-Request-Id":           false,
		"Authorization":          false,
		"X-Eventposts-Id":        false,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			if got := isInternalHeader(name); got != want {
				t.Errorf("isInternalHeader(%q) = %v, want %v", name, got, want)
			}
		})
	}
}

func TestRateKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:198.51.100.7", "::ffff:198.51.100.7"},
		{"garbage", "garbage"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := rateKey(tt.addr); got != tt.want {
				t.Errorf("rateKey(%q) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLimiter(1, 2, time.Minute, func() time.Time { return now })
	var got []bool
	for range 3 {
		_, ok := l.allow("a")
		got = append(got, ok)
	}
	d, _ := l.allow("a")
	if diff := cmp.Diff([]bool{true, true, false}, got); diff != "" {
		t.Errorf("allowed (-want +got):\n%s", diff)
	}
	if d <= 0 || d > time.Second {
		t.Errorf("retry after %v, want within 1s", d)
	}
	now = now.Add(time.Second)
	if _, ok := l.allow("a"); !ok {
		t.Error("a token was not refilled after 1s")
	}
	l.allow("b")
	l.evict(now.Add(30 * time.Second))
	if got := l.size(); got != 2 {
		t.Errorf("%d buckets after an early evict, want 2", got)
	}
	l.evict(now.Add(2 * time.Minute))
	if got := l.size(); got != 0 {
		t.Errorf("%d buckets after evicting idle ones, want 0", got)
	}
}
