package events

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/ics"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// Handler returns the service's HTTP handler: the public routes at their public paths, plus
// health, readiness and metrics endpoints.
func (s *Service) Handler() http.Handler { return s.handler }

// routes builds the handler that Handler returns, once: it registers the request metrics.
func (s *Service) routes(v *svcauth.Verifier) http.Handler {
	mux := httpx.NewMux()
	mux.HandleFunc("GET /api/v1/events", s.handleSearch)
	mux.HandleFunc("POST /api/v1/events", s.handleCreate)
	mux.HandleFunc("GET /api/v1/events/{id}", s.handleGet)
	mux.HandleFunc("PATCH /api/v1/events/{id}", s.handlePatch)
	mux.HandleFunc("DELETE /api/v1/events/{id}", s.handleDelete)
	mux.HandleFunc("GET /api/v1/events/{id}/ics", s.handleCalendar)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, s.log, problem.ErrNotFound)
	})
	return httpx.Wrap(mux.ServeMux, httpx.Options{
		Log: s.log, Registry: s.reg, Verifier: v,
		Checks: []httpx.Check{httpx.DatabaseCheck(s.store.Ping)},
	})
}

// errorRules are the statuses the service's errors are reported with.
var errorRules = []problem.Rule{
	{Err: ErrNotFound, Status: http.StatusNotFound},
	{Err: ErrForbidden, Status: http.StatusForbidden},
	{Err: ErrConflict, Status: http.StatusConflict},
}

// writeError answers with the problem that err is: the one place where the service's errors
// become HTTP responses. Errors of the HTTP layer itself (httpx) are problems already.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if me, ok := errors.AsType[*MalformedError](err); ok {
		err = problem.New(http.StatusBadRequest, me.Detail)
	}
	problem.Write(w, r, s.log, problem.Map(err, errorRules...))
}

func (s *Service) handleSearch(w http.ResponseWriter, r *http.Request) {
	q, err := ParseSearchQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Search(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.CallerFrom(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in EventInput
	if err := httpx.Decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.Create(r.Context(), caller.AccountID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/events/"+e.ID)
	httpx.WriteJSON(w, http.StatusCreated, e)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	e, err := s.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, e)
}

func (s *Service) handlePatch(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.CallerFrom(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var patch map[string]json.RawMessage
	if err := httpx.Decode(w, r, &patch); err != nil {
		s.writeError(w, r, err)
		return
	}
	if patch == nil { // the body was null, which is no object
		problem.Write(w, r, s.log, problem.New(http.StatusBadRequest, "the body must be a JSON object"))
		return
	}
	e, err := s.Patch(r.Context(), caller.AccountID, r.PathValue("id"), patch)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, e)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.CallerFrom(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Delete(r.Context(), caller.AccountID, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleCalendar(w http.ResponseWriter, r *http.Request) {
	e, body, err := s.Calendar(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ics.ContentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "event-" + e.ID + ".ics"}))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
