package auth

import (
	"net/http"
	"strconv"
	"time"

	"github.com/eventpost/eventpost/internal/platform/authtoken"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/problem"
)

// AccountJSON is the public form of an account.
type AccountJSON struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	// EmailVerified says whether Email is confirmed.
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
}

func accountJSON(a Account) AccountJSON {
	return AccountJSON{
		ID: a.ID, Email: a.Email, DisplayName: a.DisplayName, EmailVerified: a.EmailVerified, CreatedAt: a.CreatedAt.UTC(),
	}
}

// Handler returns the service's HTTP handler: the public routes at their public paths, the
// JWK set, the internal revocation feed, and the operational endpoints.
func (s *Service) Handler() http.Handler { return s.handler }

func (s *Service) routes() http.Handler {
	fail := httpx.Problems(s.log, httpx.As(throttled), errorRules...)
	once := idempotency.New(s.store.IdempotencyKeys(), fail, idempotency.Config{Log: s.log, Now: s.clock, Registry: s.reg})
	return httpx.Routes(fail, map[string]httpx.Endpoint{
		"POST /api/v1/accounts":                       once.Endpoint(httpx.WithBody(s.handleSignUp)),
		"GET /api/v1/accounts/me":                     httpx.WithCaller(s.handleMe),
		"PATCH /api/v1/accounts/me":                   httpx.WithCallerBody(s.handlePatchMe),
		"DELETE /api/v1/accounts/me":                  httpx.WithCaller(s.handleDeleteMe),
		"POST /api/v1/accounts/confirm-email":         httpx.WithBody(s.handleConfirmEmail),
		"POST /api/v1/accounts/me/confirmation-email": httpx.WithCaller(s.handleResendConfirmation),
		"POST /api/v1/auth/token":                     httpx.WithBody(s.handleToken),
		"POST /api/v1/auth/refresh":                   httpx.WithBody(s.handleRefresh),
		"POST /api/v1/auth/logout":                    httpx.WithCallerBody(s.handleLogout),
		"POST /api/v1/auth/password-reset":            httpx.WithBody(s.handlePasswordReset),
		"POST /api/v1/auth/password-reset/confirm":    httpx.WithBody(s.handlePasswordResetConfirm),
		"GET /.well-known/jwks.json":                  s.handleJWKS,
		"GET " + authtoken.RevocationsPath:            s.handleRevocations,
	}, httpx.Options{
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
	{Err: ErrWrongPassword, Status: http.StatusUnauthorized},
	{Err: ErrNothingToConfirm, Status: http.StatusConflict},
	{Err: ErrAccountChanged, Status: http.StatusConflict},
	{Err: ErrAccountNotFound, Status: http.StatusNotFound},
}

// throttled is the 429 problem of a *ThrottledError.
func throttled(te *ThrottledError) error { return problem.TooManyRequests(te.Detail, te.RetryAfter) }

// setRevocation tells the gateway which revocation the response depends on.
func setRevocation(w http.ResponseWriter, seq int64) {
	if seq > 0 {
		w.Header().Set(httpx.HeaderRevocation, strconv.FormatInt(seq, 10))
	}
}

func (s *Service) handleSignUp(w http.ResponseWriter, r *http.Request, in SignUpInput) error {
	a, err := s.SignUp(r.Context(), in)
	return httpx.Created(w, "/api/v1/accounts/me", accountJSON(a), err)
}

func (s *Service) handleMe(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	a, err := s.Account(r.Context(), caller.AccountID)
	return httpx.Reply(w, http.StatusOK, accountJSON(a), err)
}

func (s *Service) handlePatchMe(w http.ResponseWriter, r *http.Request, caller httpx.Caller, in *AccountChanges) error {
	if in == nil { // the body is null
		return problem.New(http.StatusBadRequest, "the body must be a JSON object")
	}
	a, seq, err := s.ChangeAccount(r.Context(), caller, httpx.ClientIP(r), *in)
	if err == nil {
		setRevocation(w, seq)
	}
	return httpx.Reply(w, http.StatusOK, accountJSON(a), err)
}

// deleteBody is the body of DELETE /api/v1/accounts/me.
type deleteBody struct {
	CurrentPassword string `json:"current_password"`
}

func (s *Service) handleDeleteMe(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	var in deleteBody
	// A request without a body lacks the password (422) rather than being malformed.
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, &in); err != nil {
			return err
		}
	}
	seq, err := s.DeleteAccount(r.Context(), caller.AccountID, in.CurrentPassword, httpx.ClientIP(r))
	return noContent(w, seq, err)
}

// confirmBody is the body of POST /api/v1/accounts/confirm-email.
type confirmBody struct {
	Token string `json:"token"`
}

func (s *Service) handleConfirmEmail(w http.ResponseWriter, r *http.Request, in confirmBody) error {
	return httpx.NoContent(w, s.ConfirmEmail(r.Context(), in.Token))
}

// ConfirmationSent is the answer to POST /api/v1/accounts/me/confirmation-email.
type ConfirmationSent struct {
	Status string `json:"status"`
	// Email is the address the link goes to.
	Email string `json:"email"`
}

func (s *Service) handleResendConfirmation(w http.ResponseWriter, r *http.Request, caller httpx.Caller) error {
	to, err := s.ResendConfirmation(r.Context(), caller.AccountID)
	return httpx.Reply(w, http.StatusAccepted, ConfirmationSent{
		Status: "a new confirmation link is on its way", Email: to,
	}, err)
}

// noContent answers 204 telling the gateway of revocation seq (setRevocation), unless err
// is not nil: then it writes nothing and returns err.
func noContent(w http.ResponseWriter, seq int64, err error) error {
	if err == nil {
		setRevocation(w, seq)
	}
	return httpx.NoContent(w, err)
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

// writeTokens answers pair, unless err is not nil: then it writes nothing and returns err.
func writeTokens(w http.ResponseWriter, pair TokenPair, err error) error {
	if err == nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	return httpx.Reply(w, http.StatusOK, pair, err)
}

func (s *Service) handleToken(w http.ResponseWriter, r *http.Request, in credentials) error {
	pair, err := s.Login(r.Context(), in.Email, in.Password, httpx.ClientIP(r))
	return writeTokens(w, pair, err)
}

func (s *Service) handleRefresh(w http.ResponseWriter, r *http.Request, in refreshBody) error {
	pair, seq, err := s.Refresh(r.Context(), in.RefreshToken)
	setRevocation(w, seq)
	return writeTokens(w, pair, err)
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request, caller httpx.Caller, in refreshBody) error {
	seq, err := s.Logout(r.Context(), caller, in.RefreshToken)
	return noContent(w, seq, err)
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

func (s *Service) handlePasswordReset(w http.ResponseWriter, r *http.Request, in resetRequest) error {
	return httpx.Reply(w, http.StatusAccepted, map[string]string{
		"status": "if an account has this address, a link to set a new password is on its way to it",
	}, s.RequestPasswordReset(r.Context(), in.Email))
}

func (s *Service) handlePasswordResetConfirm(w http.ResponseWriter, r *http.Request, in resetConfirm) error {
	seq, err := s.ResetPassword(r.Context(), in.Token, in.Password)
	return noContent(w, seq, err)
}

func (s *Service) handleJWKS(w http.ResponseWriter, r *http.Request) error {
	set, err := s.JWKS(r.Context())
	if err == nil {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	return httpx.Reply(w, http.StatusOK, set, err)
}

// maxWaitSeconds is the largest wait the revocation feed honours; larger values are capped.
const maxWaitSeconds = 30

func (s *Service) handleRevocations(w http.ResponseWriter, r *http.Request) error {
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
		return err
	}
	// The wait ends when the server starts shutting down, answering what the feed has; the
	// reads keep the request's context, so a read under way when the shutdown starts finishes.
	release, cancel := httpx.UntilShutdown(r)
	defer cancel()
	feed, err := s.Revocations(r.Context(), release.Done(), after, time.Duration(min(wait, maxWaitSeconds))*time.Second)
	if err == nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	return httpx.Reply(w, http.StatusOK, feed, err)
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
