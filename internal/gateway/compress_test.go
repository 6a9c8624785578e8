package gateway

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/web"
)

// feedETag is the weak ETag of the fake calendar feed.
const feedETag = `W/"feed-1"`

// The parts of the stream of compressionUpstream.
var (
	streamFirst = strings.Repeat("data: jazz night by the river\n\n", 20)
	streamRest  = strings.Repeat("data: the night after\n\n", 100)
)

// compressionUpstream is a service behind the gateway that answers like the real ones:
// a list of 20 events, one event (under the compressor's minimum size), and a calendar feed
// with a weak ETag that answers If-None-Match with 304, and a stream whose second part is sent
// once streamRead is closed.
func compressionUpstream(t *testing.T, streamRead <-chan struct{}) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		items := make([]map[string]any, 20)
		for i := range items {
			items[i] = map[string]any{"id": fmt.Sprintf("0190c2b4-7a7e-7cc1-8a1e-%012d", i), "title": fmt.Sprintf("Jazz night %d", i),
				"description": "An evening of jazz by the river, with food and drinks.", "starts_at": "2026-12-04T18:00:00Z"}
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
	})
	mux.HandleFunc("GET /api/v1/events/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "title": "Jazz night"})
	})
	// A stream: its first part is flushed, and the rest waits until the client has read it.
	mux.HandleFunc("GET /api/v1/events/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, streamFirst)
		http.NewResponseController(w).Flush()
		select {
		case <-streamRead:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, streamRest)
	})
	mux.HandleFunc("GET /api/v1/calendars/{token}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", feedETag)
		w.Header().Set("Cache-Control", "private, max-age=300")
		if httpx.NoneMatchFails(r.Header.Get("If-None-Match"), feedETag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8; method=PUBLISH")
		_, _ = io.WriteString(w, "BEGIN:VCALENDAR\r\n"+strings.Repeat("BEGIN:VEVENT\r\nSUMMARY:Jazz night\r\nEND:VEVENT\r\n", 60)+"END:VCALENDAR\r\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// compressionUI is a web UI for the compression tests: the real UI's static files, and
// fake pages of every kind the compressor must tell apart.
func compressionUI(t *testing.T) http.Handler {
	ui, err := web.New(web.Config{}, web.Deps{API: http.NotFoundHandler(), Log: noLog()})
	if err != nil {
		t.Fatal(err)
	}
	page := func(title string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = fmt.Fprintf(w, "<!doctype html><title>%s %s</title><ul>%s</ul>", title, r.URL.Query().Get("q"),
				strings.Repeat("<li><a href=\"/events/x\">Jazz night by the river</a></li>\n", 80))
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/static/", ui.Handler())
	mux.HandleFunc("GET /{$}", page("Events"))
	mux.HandleFunc("GET /events/{id}", page("Jazz night"))
	mux.HandleFunc("GET /tiny", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<p>tiny</p>")
	})
	mux.HandleFunc("GET /photo.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1024))
	})
	mux.HandleFunc("GET /logo.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = io.WriteString(w, `<svg xmlns="http://www.w3.org/2000/svg">`+strings.Repeat(`<circle cx="5" cy="5" r="4"/>`, 100)+`</svg>`)
	})
	mux.HandleFunc("GET /strong", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if httpx.NoneMatchFails(r.Header.Get("If-None-Match"), `"v1"`) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		page("Strong")(w, r)
	})
	mux.HandleFunc("GET /notes.txt", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "notes.txt", time.Time{}, strings.NewReader(strings.Repeat("0123456789", 400)))
	})
	return mux
}

// compressionGateway returns a server of a gateway in front of compressionUpstream and
// compressionUI, and a client that leaves answers as they come (no transparent gzip).
// streamRead releases the rest of the upstream's stream (nil: never).
func compressionGateway(t *testing.T, streamRead <-chan struct{}) (*httptest.Server, *http.Client) {
	up := compressionUpstream(t, streamRead)
	h := newHarness(t, setup{ui: compressionUI(t), resolver: func(s discovery.Static) {
		s[discovery.Events] = []string{up.URL}
		s[discovery.Notifications] = []string{up.URL}
	}})
	srv := httptest.NewServer(h.gw.Handler())
	t.Cleanup(srv.Close)
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr}
}

// fetch sends method path with the headers (name, value pairs) and returns the answer with
// its body read as it came.
func fetch(t *testing.T, c *http.Client, base, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
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

// decode undoes the Content-Encoding of an answer, failing the test on any other than
// gzip, zstd or none.
func decode(t *testing.T, resp *http.Response, b []byte) []byte {
	t.Helper()
	switch ce := resp.Header.Get("Content-Encoding"); ce {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	default:
		t.Fatalf("Content-Encoding %q", ce)
		return nil
	}
}

// varies reports whether resp's Vary names Accept-Encoding.
func varies(resp *http.Response) bool {
	return regexp.MustCompile(`(?i)(^|,)\s*accept-encoding\s*(,|$)`).MatchString(strings.Join(resp.Header.Values("Vary"), ","))
}

// TestCompressesWhatGains asks the gateway for pages, a search, an event page, a static
// file, an SVG, a list of events and a calendar feed with every Accept-Encoding a client
// sends: each comes back compressed with the coding asked for (zstd when both are, but for a
// static file, compressed at start-up, which is sent in the smaller of its forms), decodes
// to the bytes of the uncompressed answer, and varies with Accept-Encoding, also when not
// compressed.
func TestCompressesWhatGains(t *testing.T) {
	srv, c := compressionGateway(t, nil)
	paths := []string{"/", "/?q=jazz", "/events/0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", "/static/app.css", "/static/app.js",
		"/logo.svg", "/api/v1/events?limit=20", "/api/v1/calendars/AAAAAAAAAAAAAAAAAAAAAAAA", "/api/v1/openapi.json"}
	for _, path := range paths {
		plain, identity := fetch(t, c, srv.URL, "GET", path)
		if plain.StatusCode != http.StatusOK || plain.Header.Get("Content-Encoding") != "" || !varies(plain) {
			t.Errorf("GET %s without Accept-Encoding: %d, Content-Encoding %q, Vary %q", path, plain.StatusCode,
				plain.Header.Get("Content-Encoding"), plain.Header.Values("Vary"))
			continue
		}
		if len(identity) < httpx.CompressMinSize {
			t.Fatalf("GET %s: %d bytes, too few for the test", path, len(identity))
		}
		both := "zstd"
		if strings.HasPrefix(path, "/static/") {
			// A static file is sent in the smaller of its compressed forms.
			_, gz := fetch(t, c, srv.URL, "GET", path, "Accept-Encoding", "gzip")
			if _, zs := fetch(t, c, srv.URL, "GET", path, "Accept-Encoding", "zstd"); len(gz) < len(zs) {
				both = "gzip"
			}
		}
		for _, tt := range []struct{ accept, want string }{
			{"gzip", "gzip"},
			{"zstd", "zstd"},
			{"gzip, deflate, br, zstd", both},
			{"gzip;q=1, zstd;q=0.5", "gzip"},
			{"br", ""},
			{"gzip;q=0", ""},
		} {
			resp, b := fetch(t, c, srv.URL, "GET", path, "Accept-Encoding", tt.accept)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != tt.want || !varies(resp) {
				t.Errorf("GET %s, Accept-Encoding %q: %d, Content-Encoding %q, Vary %q; want %q", path, tt.accept, resp.StatusCode,
					resp.Header.Get("Content-Encoding"), resp.Header.Values("Vary"), tt.want)
				continue
			}
			if got := decode(t, resp, b); !bytes.Equal(got, identity) {
				t.Errorf("GET %s, Accept-Encoding %q: decodes to %d bytes that differ from the %d uncompressed ones", path, tt.accept, len(got), len(identity))
			}
			if tt.want != "" && len(b) >= len(identity) {
				t.Errorf("GET %s, Accept-Encoding %q: %d bytes compressed, %d not", path, tt.accept, len(b), len(identity))
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(b)) {
				t.Errorf("GET %s, Accept-Encoding %q: Content-Length %s for %d bytes", path, tt.accept, cl, len(b))
			}
		}
	}
}

// TestLeavesAsItIs checks what the gateway must not compress, however much the client
// accepts it: a tiny body, an image, a HEAD, a part of a range request, and a static file
// compressed already (which it must not compress twice).
func TestLeavesAsItIs(t *testing.T) {
	srv, c := compressionGateway(t, nil)
	const accept = "gzip, deflate, br, zstd"
	for _, path := range []string{"/tiny", "/photo.png", "/api/v1/events/0190c2b4-7a7e-7cc1-8a1e-3b5f7e0e9d11", "/static/favicon.svg"} {
		_, identity := fetch(t, c, srv.URL, "GET", path)
		resp, b := fetch(t, c, srv.URL, "GET", path, "Accept-Encoding", accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, identity) {
			t.Errorf("GET %s: %d, Content-Encoding %q, %d bytes (%d without Accept-Encoding); want it as it is", path, resp.StatusCode,
				resp.Header.Get("Content-Encoding"), len(b), len(identity))
		}
	}

	for _, path := range []string{"/", "/static/app.css", "/api/v1/events?limit=20"} {
		get, _ := fetch(t, c, srv.URL, "GET", path)
		resp, b := fetch(t, c, srv.URL, "HEAD", path, "Accept-Encoding", accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" || len(b) != 0 ||
			resp.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d, Content-Encoding %q, Content-Type %q, %d bytes; want the uncompressed GET's header", path,
				resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"), len(b))
		}
	}

	resp, b := fetch(t, c, srv.URL, "GET", "/notes.txt", "Accept-Encoding", accept, "Range", "bytes=10-29")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Encoding") != "" || string(b) != "01234567890123456789" ||
		resp.Header.Get("Content-Range") != "bytes 10-29/4000" {
		t.Errorf("a range: %d, Content-Encoding %q, Content-Range %q, body %q", resp.StatusCode, resp.Header.Get("Content-Encoding"),
			resp.Header.Get("Content-Range"), b)
	}

	_, identity := fetch(t, c, srv.URL, "GET", "/static/app.css")
	for _, coding := range []string{"gzip", "zstd"} {
		resp, b := fetch(t, c, srv.URL, "GET", "/static/app.css", "Accept-Encoding", coding)
		if resp.Header.Get("Content-Encoding") != coding || !bytes.Equal(decode(t, resp, b), identity) {
			t.Errorf("/static/app.css, Accept-Encoding %s: Content-Encoding %q, or not the file once decoded (compressed twice?)",
				coding, resp.Header.Get("Content-Encoding"))
		}
		if resp.Header.Get("Content-Length") != fmt.Sprint(len(b)) {
			t.Errorf("/static/app.css, Accept-Encoding %s: Content-Length %q for %d bytes", coding, resp.Header.Get("Content-Length"), len(b))
		}
	}
}

// TestCompressedETags checks validators through the compressor: a weak ETag (the calendar
// feed's) is the same compressed or not and If-None-Match still gets 304 either way; a
// strong ETag is made weak on a compressed answer only, and both forms get 304; a static
// file's compressed forms carry its ETag made weak, and get 304 too.
func TestCompressedETags(t *testing.T) {
	srv, c := compressionGateway(t, nil)
	const accept = "gzip"
	for _, tt := range []struct {
		path                 string
		identity, compressed string // the ETags expected
	}{
		{"/api/v1/calendars/AAAAAAAAAAAAAAAAAAAAAAAA", feedETag, feedETag},
		{"/strong", `"v1"`, `W/"v1"`},
	} {
		plain, _ := fetch(t, c, srv.URL, "GET", tt.path)
		comp, _ := fetch(t, c, srv.URL, "GET", tt.path, "Accept-Encoding", accept)
		if plain.Header.Get("ETag") != tt.identity || comp.Header.Get("ETag") != tt.compressed || comp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: ETag %q uncompressed, %q %s; want %q and %q", tt.path, plain.Header.Get("ETag"), comp.Header.Get("ETag"),
				comp.Header.Get("Content-Encoding"), tt.identity, tt.compressed)
		}
		for _, etag := range []string{tt.identity, tt.compressed} {
			for _, ae := range []string{"", accept} {
				resp, b := fetch(t, c, srv.URL, "GET", tt.path, "Accept-Encoding", ae, "If-None-Match", etag)
				if resp.StatusCode != http.StatusNotModified || len(b) != 0 || resp.Header.Get("Content-Encoding") != "" || !varies(resp) {
					t.Errorf("%s, If-None-Match %s, Accept-Encoding %q: %d with %d bytes, Content-Encoding %q, Vary %q; want 304", tt.path,
						etag, ae, resp.StatusCode, len(b), resp.Header.Get("Content-Encoding"), resp.Header.Values("Vary"))
				}
			}
		}
	}

	plain, _ := fetch(t, c, srv.URL, "GET", "/static/app.css")
	comp, _ := fetch(t, c, srv.URL, "GET", "/static/app.css", "Accept-Encoding", "zstd")
	if etag := plain.Header.Get("ETag"); !strings.HasPrefix(etag, `"`) || comp.Header.Get("ETag") != "W/"+etag {
		t.Fatalf("/static/app.css: ETag %q, compressed %q", etag, comp.Header.Get("ETag"))
	}
	for _, ae := range []string{"", "gzip", "zstd"} {
		resp, b := fetch(t, c, srv.URL, "GET", "/static/app.css", "Accept-Encoding", ae, "If-None-Match", comp.Header.Get("ETag"))
		if resp.StatusCode != http.StatusNotModified || len(b) != 0 || !varies(resp) {
			t.Errorf("/static/app.css, If-None-Match its compressed ETag, Accept-Encoding %q: %d with %d bytes", ae, resp.StatusCode, len(b))
		}
	}
}

// TestCompressedStreamIsNotHeld reads a compressed stream through the gateway: the part the
// service flushed reaches the client, and decodes, before the service sends the rest (which
// it does only once the client has read that part), so the compressor holds nothing back.
func TestCompressedStreamIsNotHeld(t *testing.T) {
	streamRead := make(chan struct{})
	srv, c := compressionGateway(t, streamRead)
	c.Timeout = 20 * time.Second // a held stream fails the test instead of hanging it
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len(streamFirst))
	if _, err := io.ReadFull(zr, first); err != nil || string(first) != streamFirst {
		t.Fatalf("the first part: %v, %q", err, first)
	}
	close(streamRead)
	rest, err := io.ReadAll(zr)
	if err != nil || string(rest) != streamRest {
		t.Errorf("the rest: %v, %d bytes", err, len(rest))
	}
}
