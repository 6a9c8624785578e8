package app

import "github.com/eventpost/eventpost/internal/platform/svcauth"

// ServiceToken returns a service token of the gateway's for a call to service with claims,
// as the gateway signs one: what a benchmark needs to call a service straight, past the
// gateway.
func ServiceToken(sys *System, service string, claims svcauth.Claims) (string, error) {
	return sys.gatewaySigner.Token(service, claims)
}
