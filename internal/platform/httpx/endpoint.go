package httpx

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// Routes returns the handler a service serves its API with: a Mux with each pattern of
// routes ("GET /api/v1/things/{id}") served by its Endpoint, whose errors fail answers,
// every other path answered 404 problem+json, all wrapped by Wrap with o.
func Routes(fail ErrorWriter, routes map[string]Endpoint, o Options) http.Handler {
	mux := NewMux()
	for pattern, e := range routes {
		mux.HandleFunc(pattern, fail.Handle(e))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, o.Log, problem.ErrNotFound)
	})
	return Wrap(mux.ServeMux, o)
}

// An Endpoint answers a request, or returns the error to answer it with having written
// nothing.
type Endpoint func(w http.ResponseWriter, r *http.Request) error

// ErrorWriter answers a request with the problem that err is: a service's one place where
// its errors become HTTP responses.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// Problems returns the ErrorWriter of a service whose errors rules give the statuses of
// (problem.Map); convert, when not nil, first turns the service's other typed errors into
// problems. Errors of the HTTP layer itself (httpx) are problems already.
func Problems(log *slog.Logger, convert func(error) error, rules ...problem.Rule) ErrorWriter {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if convert != nil {
			err = convert(err)
		}
		problem.Write(w, r, log, problem.Map(err, rules...))
	}
}

// As returns the convert function of Problems that turns an error that is an E (errors.As)
// into the problem f makes of it, and leaves other errors as they are.
func As[E error](f func(E) error) func(error) error {
	return func(err error) error {
		if e, ok := errors.AsType[E](err); ok {
			return f(e)
		}
		return err
	}
}

// Handle returns the handler that runs e and answers its error with fail.
func (fail ErrorWriter) Handle(e Endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := e(w, r); err != nil {
			fail(w, r, err)
		}
	}
}

// WithCaller returns the endpoint that passes f the request's caller (CallerFrom), or
// returns the error of a request that has none.
func WithCaller(f func(w http.ResponseWriter, r *http.Request, c Caller) error) Endpoint {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := CallerFrom(r)
		if err != nil {
			return err
		}
		return f(w, r, c)
	}
}

// WithBody returns the endpoint that decodes the request's body into an In (Decode) and
// passes it to f, or returns the error of a body that does not decode.
func WithBody[In any](f func(w http.ResponseWriter, r *http.Request, in In) error) Endpoint {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in In
		if err := Decode(w, r, &in); err != nil {
			return err
		}
		return f(w, r, in)
	}
}

// WithCallerBody returns the endpoint that passes f the request's caller and its body
// decoded into an In, checking the caller first, as WithCaller and WithBody do.
func WithCallerBody[In any](f func(w http.ResponseWriter, r *http.Request, c Caller, in In) error) Endpoint {
	return WithCaller(func(w http.ResponseWriter, r *http.Request, c Caller) error {
		var in In
		if err := Decode(w, r, &in); err != nil {
			return err
		}
		return f(w, r, c, in)
	})
}

// Reply answers v as JSON with status, unless err is not nil: then it writes nothing and
// returns err, for an Endpoint to return.
func Reply(w http.ResponseWriter, status int, v any, err error) error {
	if err != nil {
		return err
	}
	WriteJSON(w, status, v)
	return nil
}

// Created answers 201 with v as JSON and a Location header, unless err is not nil: then it
// writes nothing and returns err.
func Created(w http.ResponseWriter, location string, v any, err error) error {
	if err != nil {
		return err
	}
	w.Header().Set("Location", location)
	WriteJSON(w, http.StatusCreated, v)
	return nil
}

// NoContent answers 204 unless err is not nil: then it writes nothing and returns err.
func NoContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
