package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"time"
)

// errLoggedOut is returned by an authenticated API call when the browser has no valid
// session: no tokens, or tokens the API no longer accepts.
var errLoggedOut = errors.New("not logged in")

// Cookie names, before the __Host- prefix that Secure cookies get.
const (
	cookieAccess  = "ep_access"
	cookieRefresh = "ep_refresh"
	cookieCSRF    = "ep_csrf"
	cookieFlash   = "ep_flash"
)

// stateKey is the context key of a request's *state.
type stateKey struct{}

// state is what the UI knows of one browser request: its session tokens (replaced when
// they are refreshed during the request), its CSRF token, and the account once loaded.
type state struct {
	w       http.ResponseWriter
	access  string
	refresh string
	// refreshed is set once the request has tried to refresh its tokens, so that it tries
	// at most once.
	refreshed bool
	csrf      string
	me        *account
	meLoaded  bool
}

// stateOf returns the state of r, set by the UI's middleware.
func stateOf(r *http.Request) *state {
	if st, ok := r.Context().Value(stateKey{}).(*state); ok {
		return st
	}
	return &state{}
}

// cookieName returns the name of a cookie as set: with the __Host- prefix when cookies are
// Secure, which binds it to this host, path / and HTTPS.
func (u *UI) cookieName(name string) string {
	if u.cfg.Secure {
		return "__Host-" + name
	}
	return name
}

// cookieValue returns the value of the cookie name of r, or "".
func (u *UI) cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(u.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// setCookie sets the HttpOnly cookie name on w; maxAge < 0 deletes it.
func (u *UI) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, sameSite http.SameSite) {
	c := &http.Cookie{
		Name: u.cookieName(name), Value: value, Path: "/",
		HttpOnly: true, Secure: u.cfg.Secure, SameSite: sameSite,
	}
	switch {
	case maxAge < 0:
		c.Value, c.MaxAge = "", -1
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// setSession stores pair in the session cookies of the request's response.
func (u *UI) setSession(r *http.Request, pair tokenPair) {
	st := stateOf(r)
	ttl := time.Duration(pair.ExpiresIn) * time.Second
	if ttl <= 0 || ttl > 15*time.Minute {
		ttl = 15 * time.Minute
	}
	// The access cookie expires a little before the token, so that the browser stops sending
	// it in time and the next page refreshes the session up front instead of after a 401.
	if ttl > time.Minute {
		ttl -= 30 * time.Second
	}
	u.setCookie(st.w, cookieAccess, pair.AccessToken, ttl, http.SameSiteLaxMode)
	u.setCookie(st.w, cookieRefresh, pair.RefreshToken, u.cfg.SessionLifetime, http.SameSiteStrictMode)
	st.access, st.refresh = pair.AccessToken, pair.RefreshToken
	st.me, st.meLoaded = nil, false
}

// clearSession deletes the session cookies.
func (u *UI) clearSession(r *http.Request) {
	st := stateOf(r)
	u.setCookie(st.w, cookieAccess, "", -1, http.SameSiteLaxMode)
	u.setCookie(st.w, cookieRefresh, "", -1, http.SameSiteStrictMode)
	st.access, st.refresh = "", ""
	st.me, st.meLoaded = nil, true
}

// loggedIn reports whether the request carries a session, valid or not.
func loggedIn(r *http.Request) bool {
	st := stateOf(r)
	return st.access != "" || st.refresh != ""
}

// authCall makes an API call with the session's access token. With no access token it
// first refreshes the session; when the API answers 401 it refreshes the session once and
// retries. It returns errLoggedOut when there is no session or the session has ended, in
// which case the session cookies are deleted.
func (u *UI) authCall(r *http.Request, method, path string, body, out any) error {
	st := stateOf(r)
	if st.access == "" {
		if err := u.refreshSession(r); err != nil {
			return err
		}
	}
	err := u.call(r.Context(), method, path, st.access, body, out)
	if apiStatus(err) != http.StatusUnauthorized {
		return err
	}
	if st.refreshed || st.refresh == "" {
		u.clearSession(r)
		return errLoggedOut
	}
	if err := u.refreshSession(r); err != nil {
		return err
	}
	err = u.call(r.Context(), method, path, st.access, body, out)
	if apiStatus(err) == http.StatusUnauthorized {
		u.clearSession(r)
		return errLoggedOut
	}
	return err
}

// refreshSession exchanges the refresh cookie for new tokens and sets them as cookies. A
// refresh token the API refuses ends the session (errLoggedOut); any other failure leaves
// the cookies alone and is returned.
func (u *UI) refreshSession(r *http.Request) error {
	st := stateOf(r)
	if st.refreshed || st.refresh == "" {
		return errLoggedOut
	}
	st.refreshed = true
	pair, err := u.refresher.refresh(st.refresh, func() (tokenPair, error) {
		// The exchange outlives a browser that goes away meanwhile: once the API has rotated
		// the token, the new pair must reach the cookies of the requests waiting for it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 15*time.Second)
		defer cancel()
		var p tokenPair
		err := u.call(ctx, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": st.refresh}, &p)
		return p, err
	})
	switch s := apiStatus(err); {
	case err == nil:
		u.metrics.refreshes.WithLabelValues("ok").Inc()
		u.setSession(r, pair)
		return nil
	case s == http.StatusUnauthorized || s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		u.metrics.refreshes.WithLabelValues("refused").Inc()
		u.clearSession(r)
		return errLoggedOut
	default:
		u.metrics.refreshes.WithLabelValues("error").Inc()
		return err
	}
}

// me returns the account of the session, loading it once per request; nil when the
// browser is not logged in or the account cannot be loaded now.
func (u *UI) me(r *http.Request) *account {
	st := stateOf(r)
	if st.meLoaded {
		return st.me
	}
	st.meLoaded = true
	if !loggedIn(r) {
		return nil
	}
	var a account
	if err := u.authCall(r, http.MethodGet, "/api/v1/accounts/me", nil, &a); err != nil {
		if !errors.Is(err, errLoggedOut) {
			u.log.WarnContext(r.Context(), "load the account of a session", "err", err)
		}
		return nil
	}
	st.me = &a
	return st.me
}

// refresher makes sure that one refresh token is exchanged once even when several
// requests of the same browser present it at the same time (two tabs opened at once, say).
// Refresh tokens rotate and the API treats a second use as theft, ending the login, so the
// later requests are given the pair the first one obtained: while it is under way, and for
// a short grace period after it.
type refresher struct {
	grace time.Duration
	now   func() time.Time

	mu    sync.Mutex
	calls map[[sha256.Size]byte]*refreshCall
}

// refreshCall is one exchange of a refresh token.
type refreshCall struct {
	done chan struct{}
	pair tokenPair
	err  error
	at   time.Time // when it finished
}

func newRefresher(grace time.Duration, now func() time.Time) *refresher {
	return &refresher{grace: grace, now: now, calls: map[[sha256.Size]byte]*refreshCall{}}
}

// refresh returns the result of exchange for token, calling it only if no exchange of
// token is under way or finished successfully within the grace period.
func (f *refresher) refresh(token string, exchange func() (tokenPair, error)) (tokenPair, error) {
	key := sha256.Sum256([]byte(token))
	f.mu.Lock()
	now := f.now()
	for k, c := range f.calls {
		select {
		case <-c.done:
			if now.Sub(c.at) > f.grace {
				delete(f.calls, k)
			}
		default:
		}
	}
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.pair, c.err
	}
	c := &refreshCall{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()

	c.pair, c.err = exchange()
	f.mu.Lock()
	c.at = f.now()
	if c.err != nil {
		delete(f.calls, key) // a failure is not kept: the next request tries again
	}
	f.mu.Unlock()
	close(c.done)
	return c.pair, c.err
}

// contextWithState returns ctx carrying st.
func contextWithState(ctx context.Context, st *state) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}
