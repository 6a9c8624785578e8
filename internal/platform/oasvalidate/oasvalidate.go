// Package oasvalidate holds HTTP traffic to an OpenAPI document in tests: every exchange a test
// makes with the API is checked against the document, and a response the document does not
// allow fails the test.
//
// A response must have a documented status for its operation; its content type and body must
// match what the document declares for that status (no body when it declares none); every
// declared header must match its schema and a required one must be there; and the headers
// whose presence means something to a client (Location, Retry-After, WWW-Authenticate,
// Idempotent-Replayed, Allow) must be declared for that status when the response carries
// them. A HEAD request is checked as the GET of the same path, without a body. A method the
// path does not serve must be answered with the path's documented 405.
//
// A request that does not match the document is taken as one a test sends on purpose (bad
// input, a missing token): only its response is checked. Paths that are not in the document
// (web pages) are not checked at all.
package oasvalidate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// MeaningfulHeaders are the response headers that must be declared for the status of a
// response that carries them.
var MeaningfulHeaders = []string{"Location", "Retry-After", "WWW-Authenticate", "Idempotent-Replayed", "Allow"}

func init() {
	// iCalendar files are text; their body is checked against a string schema.
	openapi3filter.RegisterBodyDecoder("text/calendar", openapi3filter.PlainBodyDecoder)
}

// Validator checks exchanges against one OpenAPI document. It is safe for concurrent use.
type Validator struct {
	router routers.Router
}

// New loads the OpenAPI document docJSON (JSON or YAML) and fails t if it does not load or
// validate. The document's servers are ignored: requests are matched by path, whatever the
// address of the server under test.
func New(t testing.TB, docJSON []byte) *Validator {
	t.Helper()
	v, err := Load(docJSON)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Load is New without a test: it returns an error when the document does not load or validate.
func Load(doc []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := d.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not valid: %w", err)
	}
	d.Servers = nil // match any host
	r, err := gorillamux.NewRouter(d)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	return &Validator{router: r}, nil
}

// Check validates one exchange and fails t (without stopping it) when the response is not
// one the document allows. req is the request as sent, with its body in reqBody (the
// request's own Body is not read); resp is its response, with its body in respBody.
func (v *Validator) Check(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	if err := v.Validate(req, reqBody, resp.StatusCode, resp.Header, respBody); err != nil {
		t.Errorf("%s %s answered %d, which the OpenAPI document does not allow: %v\nresponse headers: %v\nresponse body: %s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, err, resp.Header, respBody)
	}
}

// Validate returns why the response (status, header, body) to req is not one the document
// allows, or nil when it is, or when the path of req is not in the document.
func (v *Validator) Validate(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	ctx := context.Background()
	routed := req.Clone(ctx)
	if req.Method == http.MethodHead {
		routed.Method = http.MethodGet
	}
	route, params, err := v.router.FindRoute(routed)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return nil
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return v.validateNotAllowed(routed, req.Method, status, header, body)
	case err != nil:
		return fmt.Errorf("route: %w", err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    routed,
		PathParams: params,
		Route:      route,
		Options:    requestOptions(),
	}
	if req.Method != http.MethodHead {
		routed.Body = io.NopCloser(bytes.NewReader(reqBody))
		// A request off the contract is a test's deliberate bad input: its answer is still checked.
		_ = openapi3filter.ValidateRequest(ctx, in)
	}
	return validateResponse(ctx, in, req.Method == http.MethodHead, status, header, body)
}

// requestOptions are the options of request validation: a bearer token must be present
// where the operation asks for one.
func requestOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if in.SecurityScheme.Type == "http" && strings.EqualFold(in.SecurityScheme.Scheme, "bearer") &&
				!strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
				return errors.New("no bearer token")
			}
			return nil
		},
	}
}

// validateNotAllowed checks the answer to method, which the path of req does not serve: the
// 405 documented for the path's operations.
func (v *Validator) validateNotAllowed(req *http.Request, method string, status int, header http.Header, body []byte) error {
	if status != http.StatusMethodNotAllowed {
		return fmt.Errorf("the path does not serve %s, so the answer must be 405, not %d", method, status)
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		other := req.Clone(context.Background())
		other.Method = m
		route, params, err := v.router.FindRoute(other)
		if err != nil {
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: other, PathParams: params, Route: route}
		return validateResponse(context.Background(), in, method == http.MethodHead, status, header, body)
	}
	return errors.New("no operation of the path is documented")
}

// validateResponse checks a response to the operation of in: its status, the headers that
// must be declared, and then what openapi3filter.ValidateResponse checks (declared headers
// and the body). head says the request was a HEAD, whose response has no body.
func validateResponse(ctx context.Context, in *openapi3filter.RequestValidationInput, head bool, status int, header http.Header, body []byte) error {
	ref := in.Route.Operation.Responses.Status(status)
	if ref == nil {
		ref = in.Route.Operation.Responses.Default()
	}
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not documented for %s %s", status, in.Route.Method, in.Route.Path)
	}
	declared := ref.Value.Headers
	for _, h := range MeaningfulHeaders {
		if _, sent := header[http.CanonicalHeaderKey(h)]; sent && !hasHeader(declared, h) {
			return fmt.Errorf("header %s is not documented for status %d", h, status)
		}
	}
	if head {
		if len(body) > 0 {
			return errors.New("a response to HEAD has a body")
		}
	} else if len(ref.Value.Content) == 0 && len(body) > 0 {
		return fmt.Errorf("status %d documents no body, but the response has one (%s)", status, header.Get("Content-Type"))
	} else if len(ref.Value.Content) > 0 {
		if err := checkContentType(ref.Value.Content, header.Get("Content-Type")); err != nil {
			return err
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: head},
	}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(ctx, out)
}

// checkContentType checks that the media type of ct is one of content's, exactly.
func checkContentType(content openapi3.Content, ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ct, err)
	}
	if _, ok := content[mt]; !ok {
		return fmt.Errorf("content type %s is not documented (documented: %s)", mt, strings.Join(keys(content), ", "))
	}
	return nil
}

// hasHeader reports whether headers declares name, in any case.
func hasHeader(headers openapi3.Headers, name string) bool {
	for k := range headers {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// keys returns the media types of content, sorted.
func keys(content openapi3.Content) []string {
	out := make([]string, 0, len(content))
	for k := range content {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
