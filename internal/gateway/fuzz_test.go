package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzAuthorization feeds arbitrary Authorization headers to an authenticated route: the
// answer is a 401 unless the header is the one valid token, never a 5xx or a panic.
func FuzzAuthorization(f *testing.F) {
	h := newHarness(f, setup{cfg: func(c *Config) { c.JWKSMinRefetch = time.Hour }})
	valid := h.token("acc-1", "sess-1")
	for _, seed := range []string{
		"Bearer " + valid, "Bearer", "Bearer ", "bearer x.y.z", "Basic abc", "Bearer a.b.c",
		"Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer " + valid[:len(valid)-2], "Bearer ....",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/notifications", nil)
		req.Header["Authorization"] = []string{header}
		rec := h.do(req)
		switch {
		case header == "Bearer "+valid || header == "bearer "+valid:
			if rec.Code != http.StatusOK {
				t.Fatalf("valid token: status %d", rec.Code)
			}
		case rec.Code == http.StatusOK:
			// Only a header that still holds the valid token after trimming may pass.
			if _, err := h.gw.verifier.verify(context.Background(), trimBearer(header)); err != nil {
				t.Fatalf("header %q passed, yet its token does not verify: %v", header, err)
			}
		case rec.Code != http.StatusUnauthorized:
			t.Fatalf("header %q: status %d, want 401", header, rec.Code)
		}
	})
}

// trimBearer returns the token part of an Authorization header.
func trimBearer(header string) string {
	for i := range len(header) {
		if header[i] == ' ' {
			return header[i+1:]
		}
	}
	return ""
}

// FuzzVerify feeds arbitrary strings to the verifier: it refuses them with a token error.
func FuzzVerify(f *testing.F) {
	h := newHarness(f, setup{cfg: func(c *Config) { c.JWKSMinRefetch = time.Hour }})
	valid := h.token("acc-1", "sess-1")
	f.Add(valid)
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		_, err := h.gw.verifier.verify(context.Background(), token)
		if token == valid {
			if err != nil {
				t.Fatalf("valid token refused: %v", err)
			}
			return
		}
		var te *tokenError
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("error %v is not a token error", err)
		}
	})
}
