package events

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"

	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/problem"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// Handler returns the service's HTTP handler: the public routes at their public paths, plus
// health, readiness and metrics endpoints.
func (s *Service) Handler() http.Handler { return s.handler }

// routes builds the handler that Handler returns, once: it registers the request metrics.
func (s *Service) routes(v *svcauth.Verifier) http.Handler {
	fail := httpx.Problems(s.log, httpx.As(malformed), errorRules...)
	once := idempotency.New(s.store.IdempotencyKeys(), fail, idempotency.Config{Log: s.log, Now: s.now, Registry: s.reg})
	return httpx.Routes(fail, map[string]httpx.Endpoint{
		"GET /api/v1/events":          s.handleSearch,
		"POST /api/v1/events":         once.Endpoint(httpx.WithCallerBody(s.handleCreate)),
		"GET /api/v1/events/{id}":     s.handleGet,
		"PATCH /api/v1/events/{id}":   httpx.WithCallerBody(s.handlePatch),
		"DELETE /api/v1/events/{id}":  httpx.WithCaller(s.handleDelete),
		"GET /api/v1/events/{id}/ics": s.handleCalendar,

		"PUT /api/v1/events/{id}/attendance":    httpx.WithCallerBody(s.handleAttend),
		"DELETE /api/v1/events/{id}/attendance": httpx.WithCaller(s.handleLeave),
		"GET /api/v1/events/{id}/attendees":     httpx.WithCaller(s.handleAttendees),
		"GET /api/v1/accounts/me/attendance":    httpx.WithCaller(s.handleMyAttendance),
	}, httpx.Options{
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

// malformed is the 400 problem of a *MalformedError.
func malformed(me *MalformedError) error { return problem.New(http.StatusBadRequest, me.Detail) }

func (s *Service) handleSearch(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseSearchQuery(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := s.Search(r.Context(), q)
	return httpx.Reply(w, http.StatusOK, res, err)
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request, caller httpx.Caller, in EventInput) error {
	e, err := s.Create(r.Context(), caller.AccountID, in)
	return httpx.Created(w, "/api/v1/events/"+e.ID, e, err)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Get(r.Context(), r.PathValue("id"))
	return httpx.Reply(w, http.StatusOK, e, err)
}

func (s *Service) handlePatch(w http.ResponseWriter, r *http.Request, caller httpx.Caller, patch map[string]json.RawMessage) error {
	if patch == nil { // the body was null, which is no object
		return problem.New(http.StatusBadRequest, "the body must be a JSON object")
	}
	e, err := s.Patch(r.Context(), caller.AccountID, r.PathValue("id"), patch)
	return httpx.Reply(w, http.StatusOK, e, err)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	return httpx.NoContent(w, s.Delete(r.Context(), caller.AccountID, r.PathValue("id")))
}

func (s *Service) handleCalendar(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Calendar(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", c.Method.ContentType())
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "event-" + c.EventID + ".ics"}))
	w.Header().Set("Content-Length", strconv.Itoa(len(c.Body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(c.Body)
	return nil
}

func (s *Service) handleAttend(w http.ResponseWriter, r *http.Request, caller httpx.Caller, in AttendanceInput) error {
	a, err := s.SetAttendance(r.Context(), caller.AccountID, r.PathValue("id"), in)
	return httpx.Reply(w, http.StatusOK, a, err)
}

func (s *Service) handleLeave(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	return httpx.NoContent(w, s.RemoveAttendance(r.Context(), caller.AccountID, r.PathValue("id")))
}

func (s *Service) handleAttendees(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	q, err := ParsePageQuery(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.Attendees(r.Context(), caller.AccountID, r.PathValue("id"), q)
	return httpx.Reply(w, http.StatusOK, page, err)
}

func (s *Service) handleMyAttendance(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	q, err := ParsePageQuery(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.MyAttendance(r.Context(), caller.AccountID, q)
	return httpx.Reply(w, http.StatusOK, page, err)
}
