package auth

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// AccountJSON is the public form of an account.
type AccountJSON struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

func accountJSON(a Account) AccountJSON {
	return AccountJSON{ID: a.ID, Email: a.Email, DisplayName: a.DisplayName, CreatedAt: a.CreatedAt.UTC()}
}

// Handler returns the service's HTTP handler: the public routes at their public paths, the
// JWK set, the internal revocation feed, and the operational endpoints.
func (s *Service) Handler() http.Handler { return s.handler }

func (s *Service) routes() http.Handler {
	mux := httpx.NewMux()
	mux.HandleFunc("POST /api/v1/accounts", s.handleSignUp)
	mux.HandleFunc("GET /api/v1/accounts/me", s.handleMe)
	mux.HandleFunc("DELETE /api/v1/accounts/me", s.handleDeleteMe)
	mux.HandleFunc("POST /api/v1/auth/token", s.handleToken)
	mux.HandleFunc("POST /api/v1/auth/refresh", s.handleRefresh)
	mux.HandleFunc("POST /api/v1/auth/logout", s.handleLogout)
	mux.HandleFunc("POST /api/v1/auth/password-reset", s.handlePasswordReset)
	mux.HandleFunc("POST /api/v1/auth/password-reset/confirm", s.handlePasswordResetConfirm)
	mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
	mux.HandleFunc("GET "+authtoken.RevocationsPath, s.handleRevocations)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, s.log, problem.ErrNotFound)
	})
	return httpx.Wrap(mux.ServeMux, httpx.Options{
		Log: s.log, Registry: s.reg, Verifier: s.verify,
		Checks: []httpx.Check{httpx.DatabaseCheck(s.store.Ping)},
	})
}

// errorRules are the statuses the service's errors are reported with.
var errorRules = []problem.Rule{
	{Err: ErrInvalidCredentials, Status: http.StatusUnauthorized},
	{Err: ErrInvalidRefreshToken, Status: http.StatusUnauthorized},
	{Err: ErrRefreshTokenReused, Status: http.StatusUnauthorized},
	{Err: ErrNotYourRefreshToken, Status: http.StatusForbidden},
	{Err: ErrAccountGone, Status: http.StatusUnauthorized},
	{Err: ErrEmailTaken, Status: http.StatusConflict},
	{Err: ErrAccountNotFound, Status: http.StatusNotFound},
}

// fail answers with the problem that err is: the one place where the service's errors become
// HTTP responses. Errors of the HTTP layer itself (httpx) are problems already.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	if te, ok := errors.AsType[*ThrottledError](err); ok {
		err = problem.TooManyRequests(te.Detail, te.RetryAfter)
	}
	problem.Write(w, r, s.log, problem.Map(err, errorRules...))
}

// setRevocation tells the gateway which revocation the response depends on.
func setRevocation(w http.ResponseWriter, seq int64) {
	if seq > 0 {
		w.Header().Set(httpx.HeaderRevocation, strconv.FormatInt(seq, 10))
	}
}

func (s *Service) handleSignUp(w http.ResponseWriter, r *http.Request) {
	var in SignUpInput
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.SignUp(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/accounts/me")
	httpx.WriteJSON(w, http.StatusCreated, accountJSON(a))
}

func (s *Service) handleMe(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.CallerFrom(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.Account(r.Context(), caller.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, accountJSON(a))
}

func (s *Service) handleDeleteMe(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.CallerFrom(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seq, err := s.DeleteAccount(r.Context(), caller.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setRevocation(w, seq)
	w.WriteHeader(http.StatusNoContent)
}

// credentials is the body of POST /api/v1/auth/token.
type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// refreshBody is the body of POST /api/v1/auth/refresh and /api/v1/auth/logout.
type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

func writeTokens(w http.ResponseWriter, pair TokenPair) {
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, pair)
}

func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	pair, err := s.Login(r.Context(), in.Email, in.Password, httpx.ClientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeTokens(w, pair)
}

func (s *Service) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var in refreshBody
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	pair, seq, err := s.Refresh(r.Context(), in.RefreshToken)
	setRevocation(w, seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeTokens(w, pair)
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.CallerFrom(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in refreshBody
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	seq, err := s.Logout(r.Context(), caller, in.RefreshToken)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setRevocation(w, seq)
	w.WriteHeader(http.StatusNoContent)
}

// resetRequest is the body of POST /api/v1/auth/password-reset.
type resetRequest struct {
	Email string `json:"email"`
}

// resetConfirm is the body of POST /api/v1/auth/password-reset/confirm.
type resetConfirm struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *Service) handlePasswordReset(w http.ResponseWriter, r *http.Request) {
	var in resetRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.RequestPasswordReset(r.Context(), in.Email); err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, map[string]string{
		"status": "if an account has this address, a link to set a new password is on its way to it",
	})
}

func (s *Service) handlePasswordResetConfirm(w http.ResponseWriter, r *http.Request) {
	var in resetConfirm
	if err := httpx.Decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	seq, err := s.ResetPassword(r.Context(), in.Token, in.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setRevocation(w, seq)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleJWKS(w http.ResponseWriter, r *http.Request) {
	set, err := s.JWKS(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, set)
}

// maxWaitSeconds is the largest wait the revocation feed honours; larger values are capped.
const maxWaitSeconds = 30

func (s *Service) handleRevocations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []problem.FieldError
	after, err := queryInt(q.Get("after"))
	if err != nil {
		errs = append(errs, problem.FieldError{Field: "after", Message: "must be a non-negative integer"})
	}
	wait, err := queryInt(q.Get("wait"))
	if err != nil {
		errs = append(errs, problem.FieldError{Field: "wait", Message: "must be a non-negative integer number of seconds"})
	}
	if err := problem.Validation(errs...); err != nil {
		s.fail(w, r, err)
		return
	}
	feed, err := s.Revocations(r.Context(), after, time.Duration(min(wait, maxWaitSeconds))*time.Second)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, feed)
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}
