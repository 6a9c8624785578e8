package web

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/eventpost/eventpost/internal/platform/httpx"
)

// staticFiles serves the embedded static files under /static/. A URL that names a file's
// current version (as URL makes them) may be cached for a year; any other for five minutes.
//
// The files are compressed once, at start-up, with gzip and zstd at their best levels, and
// served compressed to a client that accepts it (the smaller form when it accepts both),
// with the Content-Length of what is sent:
// the gateway's compressor (httpx.NewCompressor) passes an answer that has a
// Content-Encoding as it is, so no request pays for compressing them.
type staticFiles struct {
	files map[string]staticFile // by name
}

// staticFile is one static file.
type staticFile struct {
	data        []byte
	contentType string
	version     string // short hash of data
	// encoded holds data compressed, by content coding ("zstd", "gzip"); empty for a file
	// that would not gain from it: one under httpx.CompressMinSize, or not
	// httpx.Compressible (an image but SVG).
	encoded map[string][]byte
	// codings are the keys of encoded, the smallest form first: the one sent to a client
	// that accepts several with the same weight. (For files of a few KB, gzip at its best
	// level can beat zstd at its best: app.css is 4,515 bytes gzipped, 4,657 with zstd.)
	codings []string
}

// newStaticFiles loads the files of the static folder of fsys, and compresses them.
func newStaticFiles(fsys fs.FS) (*staticFiles, error) {
	entries, err := fs.ReadDir(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("static files: zstd: %w", err)
	}
	defer zw.Close()
	s := &staticFiles{files: map[string]staticFile{}}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := fs.ReadFile(fsys, "static/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("static files: %w", err)
		}
		sum := sha256.Sum256(data)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = http.DetectContentType(data)
		}
		f := staticFile{data: data, contentType: ct, version: hex.EncodeToString(sum[:6]), encoded: map[string][]byte{}}
		if len(data) >= httpx.CompressMinSize && httpx.Compressible(ct) {
			gz, err := gzipBest(data)
			if err != nil {
				return nil, fmt.Errorf("static files: gzip %s: %w", e.Name(), err)
			}
			for coding, b := range map[string][]byte{"gzip": gz, "zstd": zw.EncodeAll(data, nil)} {
				if len(b) < len(data) {
					f.encoded[coding] = b
					f.codings = append(f.codings, coding)
				}
			}
			slices.SortFunc(f.codings, func(a, b string) int {
				return cmp.Or(cmp.Compare(len(f.encoded[a]), len(f.encoded[b])), strings.Compare(b, a)) // zstd first on equal sizes
			})
		}
		s.files[e.Name()] = f
	}
	return s, nil
}

// gzipBest returns data compressed with gzip at its best level.
func gzipBest(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	gw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := gw.Write(data); err != nil {
		return nil, err
	}
	if err := gw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// URL returns the URL of the static file name, naming its version so that it may be
// cached for long.
func (s *staticFiles) URL(name string) (string, error) {
	f, ok := s.files[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + name + "?v=" + f.version, nil
}

// serve answers a GET or HEAD of /static/<name>.
//
// A file that has compressed forms varies with Accept-Encoding (and says so, also when it
// is sent as it is). A compressed form is sent with the file's ETag made weak (W/"…"): it
// names the same content in other bytes, as the gateway's compressor has it for every
// compressed answer; If-None-Match, compared weakly, matches either. A HEAD is answered as
// an uncompressed GET would be, as the gateway's compressor does.
func (s *staticFiles) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	f, ok := s.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	body, etag, coding := f.data, `"`+f.version+`"`, ""
	if len(f.codings) > 0 {
		if !varyListsAcceptEncoding(h) {
			h.Add("Vary", "Accept-Encoding")
		}
		if coding = httpx.PreferredEncoding(r, f.codings...); coding != "" {
			body, etag = f.encoded[coding], "W/"+etag
		}
	}
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", etag)
	if r.URL.Query().Get("v") == f.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	if httpx.NoneMatchFails(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if coding != "" {
		h.Set("Content-Encoding", coding)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// varyListsAcceptEncoding reports whether h's Vary already names Accept-Encoding (or is
// "*"), as the gateway's compressor makes it.
func varyListsAcceptEncoding(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for field := range strings.SplitSeq(v, ",") {
			field = strings.TrimSpace(field)
			if field == "*" || strings.EqualFold(field, "Accept-Encoding") {
				return true
			}
		}
	}
	return false
}
