// Package problem carries the errors that the public API reports and writes them as RFC 9457
// application/problem+json responses. Services keep their domain errors free of HTTP (plain
// sentinel errors and *validation.Error); each service's handlers turn them into an *Error in
// one place with Map, and one function, Write, maps any error to a response.
package problem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/eventpost/eventpost/internal/platform/validation"
)

// ContentType is the media type of every error response.
const ContentType = "application/problem+json"

// FieldError names one invalid field of a request and says what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error that the API reports to the client with a given status.
type Error struct {
	Status     int
	Detail     string
	Fields     []FieldError
	RetryAfter time.Duration
	// Dependency names the unavailable dependency of a 503.
	Dependency string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	return http.StatusText(e.Status)
}

// Is reports whether target is an *Error with the same status and detail, so that
// errors.Is(err, ErrNotFound) matches a sentinel even when it was wrapped.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Detail == e.Detail
}

// New returns an error reported with status and detail. Use it to declare sentinels.
func New(status int, detail string) *Error {
	return &Error{Status: status, Detail: detail}
}

// Newf is New with a formatted detail.
func Newf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// Challenge is the WWW-Authenticate header of a 401 that sets none of its own (RFC 9110
// §15.5.2 requires one on every 401). Every 401 of the API belongs to its bearer-token scheme
// (RFC 6750), a failed log-in or refresh included: those exchange credentials for bearer
// tokens, and no other scheme would let the client in. It names no error: the request
// carried no access token, or one that the 401's own challenge says more about.
const Challenge = `Bearer realm="eventpost"`

// Generic errors shared by all services.
var (
	ErrUnauthorized = New(http.StatusUnauthorized, "missing, expired or revoked access token")
	ErrForbidden    = New(http.StatusForbidden, "this resource belongs to someone else")
	ErrNotFound     = New(http.StatusNotFound, "not found")
)

// Validation returns a 422 error listing the invalid fields; it returns nil when fields is empty,
// so that a validator can end with `return problem.Validation(errs...)`.
func Validation(fields ...FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Status: http.StatusUnprocessableEntity, Detail: "the request did not validate", Fields: fields}
}

// Rule says that an error matching Err (by errors.Is) is reported with Status, and Err's own
// text as the detail.
type Rule struct {
	Err    error
	Status int
}

// Map returns the *Error that err is reported as: that of the first rule err matches, or a
// 422 listing the fields of a *validation.Error. Any other error is returned as it is, for
// Write to report (an *Error as itself, anything else as a 500).
func Map(err error, rules ...Rule) error {
	for _, r := range rules {
		if errors.Is(err, r.Err) {
			return New(r.Status, r.Err.Error())
		}
	}
	var ve *validation.Error
	if errors.As(err, &ve) {
		fields := make([]FieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			fields[i] = FieldError(f)
		}
		return Validation(fields...)
	}
	return err
}

// TooManyRequests returns a 429 error that tells the client when to retry.
func TooManyRequests(detail string, retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Detail: detail, RetryAfter: retryAfter}
}

// Unavailable returns a 503 error naming the dependency that does not answer.
func Unavailable(dependency string, retryAfter time.Duration) *Error {
	return &Error{
		Status: http.StatusServiceUnavailable, Detail: dependency + " is unavailable",
		Dependency: dependency, RetryAfter: retryAfter,
	}
}

// body is the JSON shape of a problem response.
type body struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// StatusClientClosedRequest is the status recorded for a request whose client went away
// before the answer was ready (nginx's 499): not a fault of the server, so neither logged as
// an error nor counted as a 5xx. The client is gone and sees none of it.
const StatusClientClosedRequest = 499

// Write writes err as a problem response. An error that is not an *Error is logged and
// answered with a 500 that does not reveal it — unless r's own context was cancelled, the
// client having gone away (the error is then that cancellation, or a consequence of it such
// as an interrupted query): that is answered StatusClientClosedRequest and logged at debug
// level.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var pe *Error
	switch {
	case errors.As(err, &pe):
	case errors.Is(r.Context().Err(), context.Canceled):
		if log != nil {
			log.DebugContext(r.Context(), "the client went away", "err", err, "method", r.Method, "path", r.URL.Path)
		}
		pe = &Error{Status: StatusClientClosedRequest, Detail: "the client closed the request"}
	default:
		if log != nil {
			log.ErrorContext(r.Context(), "internal error", "err", err, "method", r.Method, "path", r.URL.Path)
		}
		pe = &Error{Status: http.StatusInternalServerError, Detail: "an internal error occurred; it has been logged"}
	}
	WriteError(w, r, pe)
}

// title is the title of a problem of status code.
func title(code int) string {
	if code == StatusClientClosedRequest {
		return "Client Closed Request"
	}
	return http.StatusText(code)
}

// WriteError writes pe as a problem response. A 401 carries WWW-Authenticate: the one the
// caller set, else Challenge.
func WriteError(w http.ResponseWriter, r *http.Request, pe *Error) {
	if pe.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", Challenge)
	}
	if pe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(pe.RetryAfter.Seconds()))))
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(pe.Status)
	b := body{
		Type:     "about:blank",
		Title:    title(pe.Status),
		Status:   pe.Status,
		Detail:   pe.Detail,
		Instance: r.URL.Path,
		Errors:   pe.Fields,
	}
	_ = json.NewEncoder(w).Encode(b)
}
