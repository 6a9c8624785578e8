package app_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// TestCompressionThroughGateway asks the gateway of the all-in-one system for the page of
// events, a search, an event page, the stylesheet and the first page of events of the API,
// as a browser and as a gzip-only client would: each comes back compressed (zstd, gzip),
// varies with Accept-Encoding, and decodes to the bytes of the uncompressed answer; the
// stylesheet, compressed at start-up, is answered 304 on its ETag; a HEAD is not compressed.
func TestCompressionThroughGateway(t *testing.T) {
	c, _, sys := startSystem(t)
	alice, _ := c.signUpAndLogIn("alice@example.com", "Alice")
	var id string
	for i := range 6 {
		ev := c.must(201, "POST", "/api/v1/events", alice, map[string]any{
			"title": fmt.Sprintf("Rooftop jazz night %d", i), "description": "Live quartet on the roof, with food and drinks by the river.",
			"starts_at": rfc3339(time.Now().Add(time.Duration(24+i) * time.Hour)), "timezone": "Europe/Berlin",
			"location": map[string]any{"name": "Sky Bar", "address": "Alexanderplatz 1, Berlin", "lat": 52.5219, "lon": 13.4132},
			"category": "music", "tags": []string{"Jazz", "live"},
		})
		id = ev["id"].(string)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The pages carry the CSRF token of the browser's cookie: the jar keeps it, so that two
	// answers to the same page are the same bytes.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Jar: jar}
	get := func(method, path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, sys.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	_, page := get("GET", "/")
	css := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(string(page))
	if css == nil {
		t.Fatal("the page links no versioned stylesheet")
	}

	for _, path := range []string{"/", "/?q=jazz", "/events/" + id, css[1], "/api/v1/events?limit=20"} {
		plain, identity := get("GET", path)
		if plain.StatusCode != http.StatusOK || plain.Header.Get("Content-Encoding") != "" {
			t.Fatalf("GET %s: %d, Content-Encoding %q", path, plain.StatusCode, plain.Header.Get("Content-Encoding"))
		}
		for _, tt := range []struct{ accept, want string }{{"gzip, deflate, br, zstd", ""}, {"zstd", "zstd"}, {"gzip", "gzip"}} {
			resp, b := get("GET", path, "Accept-Encoding", tt.accept)
			want := tt.want
			if want == "" {
				// A browser's: zstd, but for the stylesheet, sent in the smaller of the forms
				// it was compressed to at start-up.
				want = "zstd"
				if path == css[1] {
					want = resp.Header.Get("Content-Encoding")
				}
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != want || want == "" ||
				!strings.Contains(strings.ToLower(strings.Join(resp.Header.Values("Vary"), ",")), "accept-encoding") {
				t.Errorf("GET %s, Accept-Encoding %q: %d, Content-Encoding %q, Vary %q", path, tt.accept, resp.StatusCode,
					resp.Header.Get("Content-Encoding"), resp.Header.Values("Vary"))
				continue
			}
			got := decodeBody(t, want, b)
			if !bytes.Equal(got, identity) {
				t.Errorf("GET %s, Accept-Encoding %q: decodes to %d bytes that differ from the %d uncompressed ones", path, tt.accept, len(got), len(identity))
			}
			if len(b) >= len(identity) {
				t.Errorf("GET %s, Accept-Encoding %q: %d bytes, %d uncompressed", path, tt.accept, len(b), len(identity))
			}
		}
	}

	styles, _ := get("GET", css[1], "Accept-Encoding", "zstd")
	if resp, b := get("GET", css[1], "Accept-Encoding", "zstd", "If-None-Match", styles.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("the stylesheet on its ETag %s: %d with %d bytes, want 304", styles.Header.Get("ETag"), resp.StatusCode, len(b))
	}
	if resp, b := get("HEAD", "/", "Accept-Encoding", "gzip, zstd"); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" || len(b) != 0 {
		t.Errorf("HEAD /: %d, Content-Encoding %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Encoding"), len(b))
	}
}

// decodeBody undoes the content coding of b.
func decodeBody(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("coding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
