package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCompressible(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html; charset=utf-8":                     true,
		"text/css; charset=utf-8":                      true,
		"text/javascript; charset=utf-8":               true,
		"application/javascript":                       true,
		"application/json":                             true,
		"application/problem+json":                     true,
		"application/ld+json":                          true,
		"text/calendar; charset=utf-8; method=PUBLISH": true,
		"application/xml":                              true,
		"image/svg+xml":                                true,
		"Text/HTML":                                    true,
		"image/png":                                    false,
		"image/jpeg":                                   false,
		"image/webp":                                   false,
		"font/woff2":                                   false,
		"application/zip":                              false,
		"application/gzip":                             false,
		"application/octet-stream":                     false,
		"video/mp4":                                    false,
		"application/vnd.openxmlformats-officedocument": false,
	} {
		if got := Compressible(ct); got != want {
			t.Errorf("Compressible(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestPreferredEncoding(t *testing.T) {
	for _, tt := range []struct {
		method, accept string
		want           string
	}{
		{"GET", "", ""},
		{"GET", "gzip", "gzip"},
		{"GET", "zstd", "zstd"},
		{"GET", "gzip, deflate, br, zstd", "zstd"},
		{"GET", "GZIP", "gzip"},
		{"GET", "gzip;q=0.9, zstd;q=0.8", "gzip"},
		{"GET", "gzip ; q=1 , zstd ; q=0", "gzip"},
		{"GET", "gzip;q=0", ""},
		{"GET", "gzip;q=x", ""},
		{"GET", "gzip;q=2", ""},
		{"GET", "*", ""},
		{"GET", "br, deflate", ""},
		{"GET", "x-gzip", ""},
		{"HEAD", "gzip, zstd", ""},
	} {
		r := httptest.NewRequest(tt.method, "/", nil)
		r.Header.Set("Accept-Encoding", tt.accept)
		if got := PreferredEncoding(r, "zstd", "gzip"); got != tt.want {
			t.Errorf("%s with Accept-Encoding %q: %q, want %q", tt.method, tt.accept, got, tt.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Encoding", "zstd, gzip")
	if got := PreferredEncoding(r, "gzip"); got != "gzip" {
		t.Errorf("offering gzip alone: %q", got)
	}
}
