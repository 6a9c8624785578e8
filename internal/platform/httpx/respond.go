package httpx

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// requestWriter is the ResponseWriter that Middleware hands to the handler: its statusWriter,
// with the request and the logger, so that WriteJSON, which is given neither, can log a
// response it could not encode with the request's context (request ID, trace).
type requestWriter struct {
	*statusWriter
	req *http.Request
	log *slog.Logger
}

// writeJSONBody answers with status and body, a JSON document already encoded in full. Its
// Content-Length is known, and said: without it, a body past 2 KB would go out chunked, and
// the gateway's proxy, taking that for a stream, would flush (and its compressor cut the
// compressed stream) after every read.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// encodeFailed answers a request whose response v could not be encoded with a 500 problem,
// and logs err when w comes from Middleware. Nothing has been written yet; the Location the
// handler may have set for the resource it meant to show goes.
func encodeFailed(w http.ResponseWriter, v any, err error) {
	w.Header().Del("Location")
	r, log := &http.Request{URL: &url.URL{}}, (*slog.Logger)(nil)
	if rw := requestWriterOf(w); rw != nil {
		r, log = rw.req, rw.log
	}
	problem.Write(w, r, log, fmt.Errorf("encode %T response: %w", v, err))
}

// requestWriterOf returns the requestWriter that w is or wraps, or nil.
func requestWriterOf(w http.ResponseWriter) *requestWriter {
	for {
		if rw, ok := w.(*requestWriter); ok {
			return rw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// MaxQueryParams is the most parameters a query string may hold, empty ones included. No
// route takes more than a few; url.ParseQuery drops every parameter past its own limit
// (10,000, lowered with GODEBUG=urlmaxqueryparams).
const MaxQueryParams = 1000

// checkQuery returns a 400 problem for a query string that url.ParseQuery, and so
// r.URL.Query(), would not read whole: one with a malformed percent escape, with a
// semicolon, which Go no longer takes for a separator, or with more than MaxQueryParams
// parameters. Each would have parameters dropped without a word, and a search come back
// unfiltered. It reads raw once and allocates nothing when raw is well-formed.
func checkQuery(raw string) *problem.Error {
	if raw == "" {
		return nil
	}
	if strings.Count(raw, "&")+1 > MaxQueryParams {
		return problem.Newf(http.StatusBadRequest, "the query string holds more than %d parameters", MaxQueryParams)
	}
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return problem.Newf(http.StatusBadRequest,
					"the query string holds a malformed escape %q: %% must be followed by two hexadecimal digits", raw[i:min(i+3, len(raw))])
			}
			i += 2
		case ';':
			return problem.New(http.StatusBadRequest, "the query string holds a semicolon, which is not a separator: escape it as %3B")
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
