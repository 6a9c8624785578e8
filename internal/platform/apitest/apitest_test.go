package apitest_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/apitest"
)

func TestNewRequest(t *testing.T) {
	req, body := apitest.NewRequest(t, http.MethodPost, "http://x/api/v1/events", "tok",
		map[string]any{"title": "Jazz"}, map[string]string{"Idempotency-Key": "k1"})
	sent, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(sent) != `{"title":"Jazz"}` || string(body) != string(sent) {
		t.Errorf("body sent %q, returned %q; want the JSON of the body twice", sent, body)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer tok", "Idempotency-Key": "k1",
	} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	req, body = apitest.NewRequest(t, http.MethodGet, "http://x/api/v1/events", "", nil, nil)
	if req.Body != nil || body != nil || req.Header.Get("Content-Type") != "" || req.Header.Get("Authorization") != "" {
		t.Errorf("a request without body or token has body %v, %q and headers %v", req.Body, body, req.Header)
	}
}
