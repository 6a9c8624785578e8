package httpx

import "strings"

// NoneMatchFails reports whether the If-None-Match header value ifNoneMatch names etag, the
// entity tag of the current representation, by the weak comparison RFC 9110 13.1.2 asks
// for: "*", or a list of entity tags one of which has etag's opaque tag, either of them
// weak (W/) or not. Then a GET is answered 304 Not Modified. A malformed list matches
// nothing past the point where it stops being one, so the client gets the full answer.
func NoneMatchFails(ifNoneMatch, etag string) bool {
	want := opaqueTag(etag)
	if want == "" {
		return false
	}
	s := ifNoneMatch
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return false
		}
		if s[0] == '*' {
			return true
		}
		s = strings.TrimPrefix(s, "W/")
		if s == "" || s[0] != '"' {
			return false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return false
		}
		if s[:end+2] == want {
			return true
		}
		s = s[end+2:]
	}
}

// opaqueTag returns etag without its weakness indicator: the quoted opaque tag; "" when
// etag is not an entity tag.
func opaqueTag(etag string) string {
	etag = strings.TrimPrefix(etag, "W/")
	if len(etag) < 2 || etag[0] != '"' || etag[len(etag)-1] != '"' || strings.Contains(etag[1:len(etag)-1], `"`) {
		return ""
	}
	return etag
}
