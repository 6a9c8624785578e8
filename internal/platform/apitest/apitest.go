// Package apitest builds the requests that tests send to EventPost's JSON API, from inside
// the process (internal/app, internal/web) or from outside it (deploy's container suite).
package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// NewRequest returns a request of method to url carrying body encoded as JSON (no body when
// body is nil), token as a bearer token (none when empty) and the headers in header, and
// the encoded body, for checking the exchange against the API's contract. It fails t when
// body does not encode or the request cannot be made.
func NewRequest(t testing.TB, method, url, token string, body any, header map[string]string) (*http.Request, []byte) {
	t.Helper()
	var (
		rd      io.Reader
		encoded []byte
	)
	if body != nil {
		var err error
		if encoded, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(encoded)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req, encoded
}
