package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/eventpost/eventpost/internal/web"
)

// TestStaticFilesCompressedAtStart checks the static files' compressed forms, made once at
// start-up: each coding a client asks for (the smaller form when it takes both alike) is
// sent with its Content-Encoding, the length of
// what is sent, Vary and the file's ETag made weak, and decodes to the file; a HEAD, a
// client that asks for none, and the favicon (too small to gain) get the file as it is; an
// ETag of either form gets 304.
func TestStaticFilesCompressedAtStart(t *testing.T) {
	h := newUI(t, web.Config{}, newFakeAPI())
	plain := serve(h, request("GET", "/static/app.css", nil))
	file := []byte(body(t, plain))
	etag := plain.Header.Get("ETag")
	if plain.Header.Get("Content-Encoding") != "" || plain.Header.Get("Vary") != "Accept-Encoding" || etag == "" ||
		plain.Header.Get("Content-Length") != strconv.Itoa(len(file)) {
		t.Fatalf("uncompressed: Content-Encoding %q, Vary %q, ETag %q, Content-Length %q for %d bytes",
			plain.Header.Get("Content-Encoding"), plain.Header.Get("Vary"), etag, plain.Header.Get("Content-Length"), len(file))
	}
	size := func(coding string) int {
		req := request("GET", "/static/app.css", nil)
		req.Header.Set("Accept-Encoding", coding)
		return len(body(t, serve(h, req)))
	}
	smaller := "zstd" // sent to a client that takes both
	if size("gzip") < size("zstd") {
		smaller = "gzip"
	}
	for _, tt := range []struct{ accept, want string }{
		{"gzip", "gzip"}, {"zstd", "zstd"}, {"gzip, deflate, br, zstd", smaller}, {"zstd;q=0.1, gzip", "gzip"},
		{"gzip;q=0.1, zstd", "zstd"}, {"br", ""}, {"", ""}, {"gzip;q=0", ""},
	} {
		req := request("GET", "/static/app.css", nil)
		req.Header.Set("Accept-Encoding", tt.accept)
		resp := serve(h, req)
		b := []byte(body(t, resp))
		wantETag := etag
		if tt.want != "" {
			wantETag = "W/" + etag
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != tt.want || resp.Header.Get("Vary") != "Accept-Encoding" ||
			resp.Header.Get("ETag") != wantETag || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Errorf("Accept-Encoding %q: %d, Content-Encoding %q, Vary %q, ETag %q, Content-Length %q for %d bytes; want %q", tt.accept,
				resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"), resp.Header.Get("ETag"),
				resp.Header.Get("Content-Length"), len(b), tt.want)
			continue
		}
		if got := decoded(t, tt.want, b); !bytes.Equal(got, file) {
			t.Errorf("Accept-Encoding %q: decodes to %d bytes that are not the file's %d", tt.accept, len(got), len(file))
		}
		for _, inm := range []string{etag, "W/" + etag} {
			req.Header.Set("If-None-Match", inm)
			if resp := serve(h, req); resp.StatusCode != 304 || resp.Header.Get("ETag") != wantETag || body(t, resp) != "" {
				t.Errorf("Accept-Encoding %q, If-None-Match %s: %d, ETag %q", tt.accept, inm, resp.StatusCode, resp.Header.Get("ETag"))
			}
		}
	}

	head := request("HEAD", "/static/app.css", nil)
	head.Header.Set("Accept-Encoding", "gzip, zstd")
	if resp := serve(h, head); resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(file)) {
		t.Errorf("HEAD: Content-Encoding %q, Content-Length %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Length"))
	}
	icon := request("GET", "/static/favicon.svg", nil)
	icon.Header.Set("Accept-Encoding", "gzip, zstd")
	if resp := serve(h, icon); resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("favicon: %d, Content-Encoding %q, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
	}
}

// decoded undoes the content coding of b ("" for none).
func decoded(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(b)
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
