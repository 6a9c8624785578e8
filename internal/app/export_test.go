package app

import "github.com/eventpost/eventpost/internal/platform/svcauth"

// ServiceToken returns a service token of the gateway's for a call to service on behalf of
// an anonymous client at 127.0.0.1, as the gateway signs one: what a benchmark needs to call
// a service straight, past the gateway.
func ServiceToken(sys *System, service string) (string, error) {
	return sys.gatewaySigner.Token(service, svcauth.Claims{ClientIP: "127.0.0.1"})
}
