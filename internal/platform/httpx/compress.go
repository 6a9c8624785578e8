package httpx

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzhttp"
)

// CompressMinSize is the smallest body that is compressed, gzhttp's default (1 KiB): a
// smaller one fits in one packet either way, and would gain less than the cost.
const CompressMinSize = gzhttp.DefaultMinSize

// breachPadding is the most bytes of padding added to a compressed page of the web UI (see
// NewCompressor).
const breachPadding = 32

// NewCompressor returns the middleware that compresses answers for the clients that accept
// it (Accept-Encoding): zstd when the client offers it (it is preferred on equal weights),
// else gzip, through github.com/klauspost/compress/gzhttp. It compresses:
//
//   - only bodies of CompressMinSize bytes or more, of a Compressible content type, for a
//     method other than HEAD, without Content-Range (a part of a range request is sent as
//     it is) and without a Content-Encoding of their own (a file compressed already, as the
//     web UI's static files are);
//   - so a 304 or a 204, which have no body, go as they are.
//
// Every answer it passes carries Vary: Accept-Encoding, whether compressed this time or
// not, so that a cache never gives a compressed answer to a client that did not ask for it.
// A compressed answer's strong ETag is made weak (W/"…"), as nginx does: the compressed
// bytes differ from the identity ones, which a strong ETag would deny, while a weak one
// still names the same content, so If-None-Match (a weak comparison, RFC 9110 §13.1.2)
// matches across both and a handler checking it needs no change; an ETag already weak
// (the calendar feed's) is kept. Flushes go through, so a streamed answer is not held.
//
// ui reports the paths of the web UI (nil: none). Its pages hold a CSRF token and can
// echo what a URL says (a search), which BREACH could read from compressed sizes; they get
// 1 to 32 bytes of padding chosen from a hash of their content ("Heal the Breach",
// gzhttp.RandomJitter), so that a guess changes the size by more than it gains. The API
// answers need none: what is personal there is only sent to requests carrying an access
// token, which a foreign page cannot make a browser add.
func NewCompressor(ui func(path string) bool) (func(http.Handler) http.Handler, error) {
	api, err := gzhttp.NewWrapper(gzhttp.MinSize(CompressMinSize), gzhttp.ContentTypeFilter(Compressible))
	if err != nil {
		return nil, fmt.Errorf("compressor: %w", err)
	}
	pages, err := gzhttp.NewWrapper(gzhttp.MinSize(CompressMinSize), gzhttp.ContentTypeFilter(Compressible),
		gzhttp.RandomJitter(breachPadding, 0, false))
	if err != nil {
		return nil, fmt.Errorf("compressor: %w", err)
	}
	return func(next http.Handler) http.Handler {
		toAPI, toPages := api(next), pages(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodHead && r.Header.Get("Accept-Encoding") != "" {
				w = &weakETagWriter{ResponseWriter: w}
			}
			if ui != nil && ui(r.URL.Path) {
				toPages(w, r)
				return
			}
			toAPI(w, r)
		})
	}, nil
}

// Compressible reports whether a body of content type ct gains from compression: text
// (HTML, CSS, JavaScript, iCalendar, plain text, XML), JSON (problem+json, JSON-LD…) and
// other XML (SVG, sitemaps, feeds). Images other than SVG, audio, video, fonts and archives
// are compressed already; an empty ct is taken for text.
func Compressible(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case mt == "", strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/javascript", "application/xml", "application/x-ndjson":
		return true
	}
	return false
}

// PreferredEncoding returns the content coding of offered (such as "zstd", "gzip") that r
// accepts with the highest weight, the first of offered on equal weights, or "" when r
// accepts none of them or is a HEAD (which NewCompressor's answers never compress either).
// "*" in Accept-Encoding is not taken for any of them, as gzhttp does not.
func PreferredEncoding(r *http.Request, offered ...string) string {
	ae := r.Header.Get("Accept-Encoding")
	if ae == "" || r.Method == http.MethodHead {
		return ""
	}
	best, bestQ := "", 0.0
	for _, coding := range offered {
		if q := codingWeight(ae, coding); q > bestQ {
			best, bestQ = coding, q
		}
	}
	return best
}

// codingWeight returns the weight (q) that the Accept-Encoding value ae gives coding, 0 when
// it does not list it or q is malformed.
func codingWeight(ae, coding string) float64 {
	for elem := range strings.SplitSeq(ae, ",") {
		name, params, _ := strings.Cut(elem, ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				var err error
				if q, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || q < 0 || q > 1 {
					return 0
				}
			}
		}
		return q
	}
	return 0
}

// weakETagWriter is the writer under gzhttp's: when the answer goes out with a
// Content-Encoding, its strong ETag is made weak (see NewCompressor).
type weakETagWriter struct {
	http.ResponseWriter
	sent bool
}

// WriteHeader checks the ETag before a final status goes out.
func (w *weakETagWriter) WriteHeader(code int) {
	if code >= 200 {
		w.weaken()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write checks the ETag before the first byte goes out.
func (w *weakETagWriter) Write(b []byte) (int, error) {
	w.weaken()
	return w.ResponseWriter.Write(b)
}

// FlushError checks the ETag before a flush sends the header.
func (w *weakETagWriter) FlushError() error {
	w.weaken()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *weakETagWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// weaken makes a strong ETag weak, once, when the answer is encoded.
func (w *weakETagWriter) weaken() {
	if w.sent {
		return
	}
	w.sent = true
	h := w.Header()
	if h.Get("Content-Encoding") == "" {
		return
	}
	if etag := h.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		h.Set("ETag", "W/"+etag)
	}
}
