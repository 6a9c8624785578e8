package app_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestStopDoesNotWaitForASpareConnection opens a connection to the auth service that never
// sends a request, as a client's spare connection, and checks that the system still stops
// gracefully within its 5 s shutdown timeout (net/http alone would wait 5 s for the request).
func TestStopDoesNotWaitForASpareConnection(t *testing.T) {
	t.Parallel()
	_, _, sys := startSystem(t)
	auth := sys.ServiceURLs["auth"]
	spare, err := net.Dial("tcp", strings.TrimPrefix(auth, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	// The listener accepts connections in order: once a later one is answered, the spare
	// one has been accepted too.
	resp, err := http.Get(auth + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := sys.Stop(); err != nil {
		t.Errorf("stop with a spare connection open: %v", err)
	}
}
