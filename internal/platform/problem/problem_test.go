package problem_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

func TestMap(t *testing.T) {
	errGone := errors.New("thing not found")
	rules := []problem.Rule{{Err: errGone, Status: http.StatusNotFound}}
	var invalid validation.List
	invalid.Add("title", "is required")
	invalid.Add("tags", "must hold at most 10 tags")
	other := errors.New("disk on fire")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"a rule's error, wrapped", fmt.Errorf("get thing: %w", errGone), problem.New(http.StatusNotFound, "thing not found")},
		{"invalid fields, wrapped", fmt.Errorf("create: %w", invalid.Err()), problem.Validation(
			problem.FieldError{Field: "title", Message: "is required"},
			problem.FieldError{Field: "tags", Message: "must hold at most 10 tags"},
		)},
		{"a problem already", problem.ErrUnauthorized, problem.ErrUnauthorized},
		{"anything else", other, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problem.Map(tt.err, rules...)
			pw, wantProblem := tt.want.(*problem.Error)
			pg, gotProblem := got.(*problem.Error)
			switch {
			case wantProblem && gotProblem:
				if diff := cmp.Diff(*pw, *pg); diff != "" {
					t.Errorf("Map(%v) mismatch (-want +got):\n%s", tt.err, diff)
				}
			case got != tt.want:
				t.Errorf("Map(%v) = %#v, want %#v", tt.err, got, tt.want)
			}
		})
	}
}

// A *validation.Error is answered exactly as a Validation problem with the same fields.
func TestWriteValidation(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/things", nil)
	want, got := httptest.NewRecorder(), httptest.NewRecorder()
	problem.Write(want, r, nil, problem.Validation(problem.FieldError{Field: "name", Message: "is required"}))
	problem.Write(got, r, nil, problem.Map(validation.New("name", "is required")))
	if want.Code != got.Code || want.Body.String() != got.Body.String() {
		t.Errorf("got %d %s, want %d %s", got.Code, got.Body, want.Code, want.Body)
	}
}

// TestEvery401CarriesAChallenge: a 401 gets WWW-Authenticate (RFC 9110 §15.5.2), the bearer
// challenge unless the caller set its own; other statuses get none.
func TestEvery401CarriesAChallenge(t *testing.T) {
	const own = `Bearer realm="eventpost", error="invalid_token"`
	for _, tt := range []struct {
		name string
		err  error
		set  string
		want string
	}{
		{"a 500", errors.New("the database is gone"), "", ""},
		{"ErrUnauthorized", problem.ErrUnauthorized, "", problem.Challenge},
		{"a mapped 401", problem.Map(errWrongPassword, problem.Rule{Err: errWrongPassword, Status: http.StatusUnauthorized}), "", problem.Challenge},
		{"a 401 with its own challenge", problem.ErrUnauthorized, own, own},
		{"a 403", problem.ErrForbidden, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if tt.set != "" {
				rec.Header().Set("WWW-Authenticate", tt.set)
			}
			problem.Write(rec, httptest.NewRequest(http.MethodPost, "/api/v1/auth/token", nil), nil, tt.err)
			if got := rec.Header().Values("WWW-Authenticate"); len(got) > 1 || rec.Header().Get("WWW-Authenticate") != tt.want {
				t.Errorf("%d WWW-Authenticate %q, want %q", rec.Code, got, tt.want)
			}
		})
	}
}

var errWrongPassword = errors.New("the password is wrong")

// A request cancelled by its client is recorded as 499 and logs no error, whatever error its
// cancellation caused; a cancellation that is not the request's own (a dependency's call
// gave up) remains a 500 that is logged.
func TestClientClosedRequest(t *testing.T) {
	interrupted := errors.New("search: interrupted (9)")
	for _, tt := range []struct {
		name       string
		clientGone bool
		err        error
		want       int
		wantLogged bool
	}{
		{"the client went away", true, fmt.Errorf("search: %w", context.Canceled), problem.StatusClientClosedRequest, false},
		{"the client went away during a query", true, interrupted, problem.StatusClientClosedRequest, false},
		{"the client is still there", false, fmt.Errorf("search: %w", context.Canceled), http.StatusInternalServerError, true},
		{"a failure with the client there", false, interrupted, http.StatusInternalServerError, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.clientGone {
				cancel()
			}
			r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/events?q=jazz", nil)
			var logs logtest.Buffer
			rec := httptest.NewRecorder()
			problem.Write(rec, r, slog.New(slog.NewJSONHandler(&logs, nil)), tt.err)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
			if logged := logs.Count(`"level":"ERROR"`) > 0; logged != tt.wantLogged {
				t.Errorf("error logged: %v, want %v (log %s)", logged, tt.wantLogged, logs.String())
			}
		})
	}
}
