package oasvalidate_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/oasvalidate"
)

// doc is a tiny document: one resource that can be read and created.
const doc = `
openapi: 3.1.0
info: { title: tiny, version: "1" }
paths:
  /things/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: string } }
    get:
      responses:
        "200":
          description: The thing.
          headers:
            X-Request-ID: { $ref: "#/components/headers/XRequestID" }
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Thing" }
        "404":
          description: No such thing.
          headers:
            X-Request-ID: { $ref: "#/components/headers/XRequestID" }
          content:
            application/problem+json:
              schema: { type: object }
        "405":
          description: Not this method.
          headers:
            X-Request-ID: { $ref: "#/components/headers/XRequestID" }
            Allow: { required: true, schema: { type: string } }
          content:
            application/problem+json:
              schema: { type: object }
  /things/{id}/ics:
    parameters:
      - { name: id, in: path, required: true, schema: { type: string } }
    get:
      responses:
        "200":
          description: The thing as a calendar.
          headers:
            X-Request-ID: { $ref: "#/components/headers/XRequestID" }
          content:
            text/calendar:
              schema: { type: string }
  /things:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/Thing" }
      responses:
        "201":
          description: Created.
          headers:
            X-Request-ID: { $ref: "#/components/headers/XRequestID" }
            Location: { schema: { type: string } }
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Thing" }
        "204":
          description: Nothing to say.
          headers:
            X-Request-ID: { $ref: "#/components/headers/XRequestID" }
        "422":
          description: Bad thing.
          headers:
            X-Request-ID: { $ref: "#/components/headers/XRequestID" }
          content:
            application/problem+json:
              schema: { type: object }
components:
  headers:
    XRequestID:
      description: The request's ID.
      required: true
      schema: { type: string, minLength: 1 }
  schemas:
    Thing:
      type: object
      additionalProperties: false
      required: [name]
      properties:
        name: { type: string }
`

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestValidate(t *testing.T) {
	v := oasvalidate.New(t, []byte(doc))
	json := "application/json"
	problem := "application/problem+json"
	tests := []struct {
		name    string
		method  string
		path    string
		reqBody string
		status  int
		header  http.Header
		body    string
		wantErr string // "" when the exchange is allowed
	}{
		{"a documented answer", "GET", "/things/1", "", 200, header("Content-Type", json, "X-Request-ID", "r1"), `{"name":"a"}`, ""},
		{"a content type with parameters", "GET", "/things/1", "", 200, header("Content-Type", json+"; charset=utf-8", "X-Request-ID", "r1"), `{"name":"a"}`, ""},
		{"an undocumented status", "GET", "/things/1", "", 500, header("Content-Type", problem, "X-Request-ID", "r1"), `{}`, "status 500 is not documented"},
		{"an undocumented header", "GET", "/things/1", "", 200, header("Content-Type", json, "X-Request-ID", "r1", "Retry-After", "3"), `{"name":"a"}`, "header Retry-After is not documented"},
		{"a declared header", "POST", "/things", `{"name":"a"}`, 201, header("Content-Type", json, "X-Request-ID", "r1", "Location", "/things/1"), `{"name":"a"}`, ""},
		{"a required header missing", "GET", "/things/1", "", 200, header("Content-Type", json), `{"name":"a"}`, `"X-Request-ID" missing`},
		{"a body missing a required field", "GET", "/things/1", "", 200, header("Content-Type", json, "X-Request-ID", "r1"), `{}`, "doesn't match schema"},
		{"a body with an unknown field", "GET", "/things/1", "", 200, header("Content-Type", json, "X-Request-ID", "r1"), `{"name":"a","x":1}`, "doesn't match schema"},
		{"an undocumented content type", "GET", "/things/1", "", 404, header("Content-Type", json, "X-Request-ID", "r1"), `{}`, "content type application/json is not documented"},
		{"a body where none is documented", "POST", "/things", `{"name":"a"}`, 204, header("Content-Type", json, "X-Request-ID", "r1"), `{}`, "documents no body"},
		{"a bad request still has its answer checked", "POST", "/things", `{"nom":1}`, 422, header("Content-Type", problem, "X-Request-ID", "r1"), `{}`, ""},
		{"a bad request with an undocumented answer", "POST", "/things", `{"nom":1}`, 400, header("Content-Type", problem, "X-Request-ID", "r1"), `{}`, "status 400 is not documented"},
		{"HEAD is checked as GET, without a body", "HEAD", "/things/1", "", 200, header("Content-Type", json, "X-Request-ID", "r1"), ``, ""},
		{"HEAD with a body", "HEAD", "/things/1", "", 200, header("Content-Type", json, "X-Request-ID", "r1"), `{"name":"a"}`, "HEAD has a body"},
		{"HEAD without a required header", "HEAD", "/things/1", "", 200, header("Content-Type", json), ``, `"X-Request-ID" missing`},
		{"an unserved method answered 405", "DELETE", "/things/1", "", 405, header("Content-Type", problem, "X-Request-ID", "r1", "Allow", "GET, HEAD"), `{}`, ""},
		{"an unserved method answered 405 without Allow", "DELETE", "/things/1", "", 405, header("Content-Type", problem, "X-Request-ID", "r1"), `{}`, `"Allow" missing`},
		{"an unserved method answered otherwise", "DELETE", "/things/1", "", 204, header("X-Request-ID", "r1"), ``, "must be 405"},
		{"a calendar", "GET", "/things/1/ics", "", 200, header("Content-Type", "text/calendar; charset=utf-8; method=PUBLISH", "X-Request-ID", "r1"), "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", ""},
		{"a path outside the document", "GET", "/web/page", "", 200, header("Content-Type", "text/html"), `<p>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://127.0.0.1:9/"+strings.TrimPrefix(tt.path, "/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.reqBody != "" {
				req.Header.Set("Content-Type", json)
			}
			err = v.Validate(req, []byte(tt.reqBody), tt.status, tt.header, []byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("no error, want one containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckFailsTheTest(t *testing.T) {
	v := oasvalidate.New(t, []byte(doc))
	req, err := http.NewRequest("GET", "http://127.0.0.1:9/things/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := &http.Response{StatusCode: 500, Header: header("Content-Type", "application/problem+json", "X-Request-ID", "r1")}
	rec := &recorder{TB: t}
	v.Check(rec, req, nil, resp, []byte(`{}`))
	if !rec.failed {
		t.Error("an undocumented status did not fail the test")
	}
	ok := &recorder{TB: t}
	resp = &http.Response{StatusCode: 200, Header: header("Content-Type", "application/json", "X-Request-ID", "r1")}
	v.Check(ok, req, nil, resp, []byte(`{"name":"a"}`))
	if ok.failed {
		t.Error("a documented answer failed the test")
	}
}

func TestLoadRefusesAnInvalidDocument(t *testing.T) {
	bad := strings.Replace(doc, "schema: { type: string, minLength: 1 }", "schema: { type: strng, minLength: 1 }", 1)
	if _, err := oasvalidate.Load([]byte(bad)); err == nil {
		t.Error("an invalid document loaded")
	}
}

// recorder is a testing.TB that records a failure instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
