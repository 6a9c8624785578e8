package httpx

import "strings"

// secretBefore are the path segments that a secret follows: the token of a consent or
// unsubscribe link (/api/v1/consents/{token}, /api/v1/unsubscribe/{token} and the web pages
// /consent/{token}, /unsubscribe/{token}), and of a calendar feed (/api/v1/calendars/{token}).
// Whoever holds such a token can answer for the address or read the account's calendar, so
// it never reaches a log line or a trace.
var secretBefore = map[string]bool{"consent": true, "consents": true, "unsubscribe": true, "calendars": true}

// Redacted is the value that stands for a secret path segment in logs and traces.
const Redacted = "REDACTED"

// LoggedPath returns path as logs and traces show it: the segment after each of
// secretBefore replaced by Redacted.
func LoggedPath(path string) string {
	if !strings.Contains(path, "/consent") && !strings.Contains(path, "/unsubscribe/") && !strings.Contains(path, "/calendars/") {
		return path
	}
	segs := strings.Split(path, "/")
	for i := 1; i < len(segs); i++ {
		if secretBefore[segs[i-1]] && segs[i] != "" {
			segs[i] = Redacted
		}
	}
	return strings.Join(segs, "/")
}
