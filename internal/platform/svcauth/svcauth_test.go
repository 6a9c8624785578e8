package svcauth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// clock is a settable test clock.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock() *clock {
	c := &clock{}
	c.set(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	return c
}
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }
func mustKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := svcauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) []ed25519.PublicKey {
	return []ed25519.PublicKey{k.Public().(ed25519.PublicKey)}
}

func TestVerifierAcceptsItsCallersOnly(t *testing.T) {
	clk := newClock()
	gwKey, notifKey, strangerKey := mustKey(t), mustKey(t), mustKey(t)
	gw := svcauth.NewSigner("gateway", gwKey, clk.now)
	notif := svcauth.NewSigner("notifications", notifKey, clk.now)
	stranger := svcauth.NewSigner("gateway", strangerKey, clk.now) // a key nobody trusts
	events := svcauth.NewVerifier("events", []svcauth.Caller{
		{Name: "gateway", Keys: pub(gwKey), ForUsers: true},
		{Name: "notifications", Keys: pub(notifKey)},
	}, clk.now)
	user := svcauth.Claims{AccountID: "acc-1", Email: "a@example.com", SessionID: "s-1", ClientIP: "192.0.2.7"}

	tests := []struct {
		name    string
		signer  *svcauth.Signer
		aud     string
		claims  svcauth.Claims
		want    svcauth.Claims
		wantErr error
	}{
		{"gateway for a user", gw, "events", user,
			svcauth.Claims{Caller: "gateway", AccountID: "acc-1", Email: "a@example.com", SessionID: "s-1", ClientIP: "192.0.2.7"}, nil},
		{"gateway anonymous", gw, "events", svcauth.Claims{ClientIP: "192.0.2.7"}, svcauth.Claims{Caller: "gateway", ClientIP: "192.0.2.7"}, nil},
		{"notifications as itself", notif, "events", svcauth.Claims{}, svcauth.Claims{Caller: "notifications"}, nil},
		{"notifications for a user", notif, "events", user, svcauth.Claims{}, svcauth.ErrForUser},
		{"notifications with a client address", notif, "events", svcauth.Claims{ClientIP: "192.0.2.7"}, svcauth.Claims{}, svcauth.ErrForUser},
		{"another audience", gw, "auth", user, svcauth.Claims{}, svcauth.ErrClaims},
		{"an untrusted key", stranger, "events", user, svcauth.Claims{}, svcauth.ErrKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := tt.signer.Token(tt.aud, tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.Verify(token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify: err %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifierRefusesBadTokens(t *testing.T) {
	clk := newClock()
	key := mustKey(t)
	v := svcauth.NewVerifier("auth", []svcauth.Caller{{Name: "gateway", Keys: pub(key), ForUsers: true}}, clk.now)
	sign := func(c jwt.MapClaims, kid string, k any, m jwt.SigningMethod) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good, err := svcauth.NewSigner("gateway", key, clk.now).Token("auth", svcauth.Claims{AccountID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	kid := func() string { // the key ID the signer used
		tok, _, err := jwt.NewParser().ParseUnverified(good, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Header["kid"].(string)
	}()
	now := clk.now().Unix()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "gateway", "aud": "auth", "sub": "a", "iat": now, "exp": now + 60}
	}
	with := func(k string, v any) jwt.MapClaims { c := base(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := base(); delete(c, k); return c }
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
	flipped := []byte(parts[2])
	if flipped[3] == 'A' { // another base64url character, so that only the signature is wrong
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"not a JWT", "hello", svcauth.ErrMalformed},
		{"claims changed", tampered, nil},
		{"signature changed", parts[0] + "." + parts[1] + "." + string(flipped), svcauth.ErrSignature},
		{"expired", sign(with("exp", now-int64(svcauth.Leeway/time.Second)-1), kid, key, jwt.SigningMethodEdDSA), svcauth.ErrExpired},
		{"no expiry", sign(without("exp"), kid, key, jwt.SigningMethodEdDSA), svcauth.ErrClaims},
		{"no issued-at", sign(without("iat"), kid, key, jwt.SigningMethodEdDSA), svcauth.ErrClaims},
		{"lives too long", sign(with("exp", now+int64(svcauth.MaxTTL/time.Second)+1), kid, key, jwt.SigningMethodEdDSA), svcauth.ErrClaims},
		{"another issuer", sign(with("iss", "notifications"), kid, key, jwt.SigningMethodEdDSA), svcauth.ErrClaims},
		{"no kid", sign(base(), "", key, jwt.SigningMethodEdDSA), svcauth.ErrKey},
		{"another algorithm", sign(base(), kid, ecKey, jwt.SigningMethodES256), svcauth.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token)
			if err == nil {
				t.Fatal("Verify accepted the token")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify: err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTokenExpiresEvenWhenCached(t *testing.T) {
	clk := newClock()
	key := mustKey(t)
	s := svcauth.NewSigner("gateway", key, clk.now)
	v := svcauth.NewVerifier("events", []svcauth.Caller{{Name: "gateway", Keys: pub(key), ForUsers: true}}, clk.now)
	token, err := s.Token("events", svcauth.Claims{AccountID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(token); err != nil {
		t.Fatal(err)
	}
	clk.add(svcauth.TokenTTL + svcauth.Leeway + time.Second)
	if _, err := v.Verify(token); !errors.Is(err, svcauth.ErrExpired) {
		t.Fatalf("Verify of an expired, cached token: err %v, want ErrExpired", err)
	}
}

func TestSignerReusesTokensForHalfTheirLife(t *testing.T) {
	clk := newClock()
	s := svcauth.NewSigner("gateway", mustKey(t), clk.now)
	c := svcauth.Claims{AccountID: "a", ClientIP: "192.0.2.1"}
	first, _ := s.Token("events", c)
	if again, _ := s.Token("events", c); again != first {
		t.Error("a second token for the same call was made at once")
	}
	if other, _ := s.Token("auth", c); other == first {
		t.Error("the same token for another audience")
	}
	if other, _ := s.Token("events", svcauth.Claims{AccountID: "a", ClientIP: "192.0.2.2"}); other == first {
		t.Error("the same token for another client address")
	}
	clk.add(svcauth.TokenTTL/2 + time.Second)
	if renewed, _ := s.Token("events", c); renewed == first {
		t.Error("the token was not renewed after half its life")
	}
}

func TestTransportAuthenticatesAsTheService(t *testing.T) {
	key := mustKey(t)
	v := svcauth.NewVerifier("events", []svcauth.Caller{{Name: "notifications", Keys: pub(key)}}, nil)
	var got svcauth.Claims
	var verr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, verr = v.VerifyRequest(r)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &svcauth.Transport{Signer: svcauth.NewSigner("notifications", key, nil), Audience: "events"}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer forged")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if verr != nil || got.Caller != "notifications" {
		t.Fatalf("the server saw %+v, %v", got, verr)
	}
	if req.Header.Get("Authorization") != "Bearer forged" {
		t.Error("the transport changed the caller's request")
	}
}

func TestVerifyRequestNeedsABearerToken(t *testing.T) {
	v := svcauth.NewVerifier("events", nil, nil)
	for _, h := range []string{"", "Basic abc", "Bearer", "Bearer "} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		if _, err := v.VerifyRequest(r); err == nil {
			t.Errorf("Authorization %q accepted", h)
		}
	}
}

func TestPrivateKeysRoundTrip(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	pa, err := svcauth.MarshalPrivateKey(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := svcauth.MarshalPrivateKey(b)
	keys, err := svcauth.ParsePrivateKeys(string(pa) + "\n" + string(pb))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[0].Equal(a) || !keys[1].Equal(b) {
		t.Fatalf("parsed %d keys, not the two written in order", len(keys))
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for name, text := range map[string]string{
		"empty":          "",
		"not PEM":        "hello",
		"public key":     string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})),
		"not Ed25519":    string(ecPEM),
		"same key twice": string(pa) + string(pa),
		"trailing text":  string(pa) + "junk",
		"leading text":   "junk\n" + string(pa),
	} {
		if _, err := svcauth.ParsePrivateKeys(text); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := svcauth.ParsePrivateKey(string(pa) + string(pb)); err == nil {
		t.Error("ParsePrivateKey took two keys")
	}
}

func TestCallerKeysRoundTrip(t *testing.T) {
	a, b, c := mustKey(t), mustKey(t), mustKey(t)
	keys := svcauth.CallerKeys{"gateway": append(pub(a), pub(b)...), "notifications": pub(c)}
	parsed, err := svcauth.ParseCallerKeys("# the callers\n" + keys.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys, parsed); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	oneLine := strings.ReplaceAll(strings.TrimSpace(keys.String()), "\n", ",")
	if parsed, err = svcauth.ParseCallerKeys(oneLine); err != nil || len(parsed["gateway"]) != 2 {
		t.Errorf("comma-separated: %v, %v", parsed, err)
	}
	for _, bad := range []string{"gateway", ":abc", "gateway:abc", "gateway:" + strings.Repeat("A", 44)} {
		if _, err := svcauth.ParseCallerKeys(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	key, _ := svcauth.GenerateKey()
	s := svcauth.NewSigner("gateway", key, nil)
	v := svcauth.NewVerifier("events", []svcauth.Caller{{Name: "gateway", Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, ForUsers: true}}, nil)
	c := svcauth.Claims{AccountID: "0193a1b2-0000-7000-8000-000000000001", Email: "someone@example.com", SessionID: "0193a1b2-0000-7000-8000-000000000002", ClientIP: "192.0.2.1"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			token, err := s.Token("events", c)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Verify(token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSignAndVerifyUncached(b *testing.B) {
	key, _ := svcauth.GenerateKey()
	v := svcauth.NewVerifier("events", []svcauth.Caller{{Name: "gateway", Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, ForUsers: true}}, nil)
	s := svcauth.NewSigner("gateway", key, nil)
	for i := 0; b.Loop(); i++ {
		// A client address never seen before: neither cache holds its token.
		token, err := s.Token("events", svcauth.Claims{ClientIP: strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}
