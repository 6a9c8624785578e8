package httpx_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

var errGone = errors.New("the thing is gone")

type slowDown struct{ detail string }

func (e *slowDown) Error() string { return e.detail }

// endpointErrors is an ErrorWriter of a service with one rule and one typed error.
var endpointErrors = httpx.Problems(logging.Discard(), httpx.As(func(e *slowDown) error {
	return problem.New(http.StatusTooManyRequests, e.detail)
}), problem.Rule{Err: errGone, Status: http.StatusGone})

func TestEndpointErrorsAreAnsweredByTheirProblem(t *testing.T) {
	for name, tc := range map[string]struct {
		err    error
		status int
	}{
		"a rule's error":         {errGone, http.StatusGone},
		"a converted error":      {&slowDown{"wait"}, http.StatusTooManyRequests},
		"a problem":              {problem.New(http.StatusConflict, "taken"), http.StatusConflict},
		"no error (Reply's 200)": {nil, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			endpointErrors.Handle(func(w http.ResponseWriter, _ *http.Request) error {
				return httpx.Reply(w, http.StatusOK, map[string]string{"a": "b"}, tc.err)
			})(w, httptest.NewRequest(http.MethodGet, "/x", nil))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
		})
	}
}

func TestWithBodyDecodesOrAnswersTheDecodeError(t *testing.T) {
	type in struct {
		Name string `json:"name"`
	}
	h := endpointErrors.Handle(httpx.WithBody(func(w http.ResponseWriter, _ *http.Request, v in) error {
		return httpx.Created(w, "/things/"+v.Name, v, nil)
	}))
	r := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(`{"name":"x"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h(w, r)
	if w.Code != http.StatusCreated || w.Header().Get("Location") != "/things/x" {
		t.Fatalf("status %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	w = httptest.NewRecorder()
	h(w, httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(`{"name":"x"}`)))
	if w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d without a JSON Content-Type", w.Code)
	}
}

func TestWithCallerRefusesARequestWithoutOne(t *testing.T) {
	called := false
	w := httptest.NewRecorder()
	endpointErrors.Handle(httpx.WithCaller(func(w http.ResponseWriter, _ *http.Request, _ httpx.Caller) error {
		called = true
		return httpx.NoContent(w, nil)
	}))(w, httptest.NewRequest(http.MethodDelete, "/things/1", nil))
	if called || w.Code != http.StatusUnauthorized {
		t.Fatalf("called %v, status %d", called, w.Code)
	}
}
