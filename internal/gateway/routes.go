package gateway

import (
	"net/http"

	"github.com/eventpost/eventpost/internal/platform/discovery"
)

// Auth says what a route asks of the caller's access token.
type Auth int

// The kinds of authentication a route asks for.
const (
	// AuthNone: the token is neither checked nor passed on as an identity.
	AuthNone Auth = iota
	// AuthOptional: without an Authorization header the request goes on anonymously; with
	// one, the token must be valid and its identity is passed on.
	AuthOptional
	// AuthRequired: the request needs a valid token.
	AuthRequired
)

// String names a for logs and test names.
func (a Auth) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthOptional:
		return "optional"
	case AuthRequired:
		return "required"
	}
	return "unknown"
}

// Route is one endpoint of the public API.
type Route struct {
	// Method is the HTTP method; a GET route also answers HEAD.
	Method string
	// Path is the path part of a ServeMux pattern, which is also the OpenAPI path template,
	// such as /api/v1/events/{id}.
	Path string
	// Service is the service that answers it (discovery.Gateway for the gateway itself).
	Service string
	// Auth is what the route asks of the caller's token.
	Auth Auth
}

// Pattern returns the ServeMux pattern of r, such as "GET /api/v1/events/{id}".
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// Routes returns the routing table: every endpoint of the public API, with the service that
// answers it and the authentication it asks for. It is the single source of the gateway's
// routing and authentication, and the OpenAPI document is checked against it.
func Routes() []Route {
	const (
		auth   = discovery.Auth
		events = discovery.Events
		notif  = discovery.Notifications
		gw     = discovery.Gateway
	)
	return []Route{
		{http.MethodPost, "/api/v1/accounts", auth, AuthNone},
		{http.MethodGet, "/api/v1/accounts/me", auth, AuthRequired},
		{http.MethodPatch, "/api/v1/accounts/me", auth, AuthRequired},
		{http.MethodDelete, "/api/v1/accounts/me", auth, AuthRequired},
		{http.MethodPost, "/api/v1/accounts/confirm-email", auth, AuthNone},
		{http.MethodPost, "/api/v1/accounts/me/confirmation-email", auth, AuthRequired},
		{http.MethodPost, "/api/v1/auth/token", auth, AuthNone},
		{http.MethodPost, "/api/v1/auth/refresh", auth, AuthNone},
		{http.MethodPost, "/api/v1/auth/logout", auth, AuthRequired},
		{http.MethodPost, "/api/v1/auth/password-reset", auth, AuthNone},
		{http.MethodPost, "/api/v1/auth/password-reset/confirm", auth, AuthNone},
		{http.MethodGet, "/.well-known/jwks.json", auth, AuthNone},

		{http.MethodGet, "/api/v1/events", events, AuthNone},
		{http.MethodPost, "/api/v1/events", events, AuthRequired},
		{http.MethodGet, "/api/v1/events/{id}", events, AuthNone},
		{http.MethodPatch, "/api/v1/events/{id}", events, AuthRequired},
		{http.MethodDelete, "/api/v1/events/{id}", events, AuthRequired},
		{http.MethodGet, "/api/v1/events/{id}/ics", events, AuthNone},
		{http.MethodPut, "/api/v1/events/{id}/attendance", events, AuthRequired},
		{http.MethodDelete, "/api/v1/events/{id}/attendance", events, AuthRequired},
		{http.MethodGet, "/api/v1/events/{id}/attendees", events, AuthRequired},
		{http.MethodGet, "/api/v1/accounts/me/attendance", events, AuthRequired},

		{http.MethodGet, "/api/v1/notifications", notif, AuthRequired},
		{http.MethodPost, "/api/v1/notifications", notif, AuthRequired},
		{http.MethodGet, "/api/v1/notifications/{id}", notif, AuthRequired},
		{http.MethodDelete, "/api/v1/notifications/{id}", notif, AuthRequired},
		{http.MethodGet, "/api/v1/consents/{token}", notif, AuthNone},
		{http.MethodPost, "/api/v1/consents/{token}", notif, AuthNone},
		{http.MethodPost, "/api/v1/unsubscribe/{token}", notif, AuthNone},
		{http.MethodGet, "/api/v1/accounts/me/calendar", notif, AuthRequired},
		{http.MethodPost, "/api/v1/accounts/me/calendar/rotate", notif, AuthRequired},
		{http.MethodGet, "/api/v1/calendars/{token}", notif, AuthNone},

		{http.MethodGet, "/api/v1/openapi.json", gw, AuthNone},
		{http.MethodGet, "/healthz", gw, AuthNone},
		{http.MethodGet, "/readyz", gw, AuthNone},
		{http.MethodGet, "/metrics", gw, AuthNone},
	}
}

// servedByWrap reports whether r is one of the operations endpoints that httpx.Wrap serves
// (and that are never rate limited).
func servedByWrap(r Route) bool {
	if r.Service != discovery.Gateway || r.Method != http.MethodGet {
		return false
	}
	switch r.Path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}
