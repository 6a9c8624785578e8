package gateway

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/api"
)

// operationMethods are the keys of an OpenAPI path item that are operations.
var operationMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// loadDoc returns the OpenAPI document as generic JSON.
func loadDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the rendered document is not JSON: %v", err)
	}
	return doc
}

// operations returns every operation of doc by "METHOD /path".
func operations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("the document has no paths")
	}
	ops := map[string]map[string]any{}
	for path, item := range paths {
		for _, m := range operationMethods {
			if op, ok := item.(map[string]any)[m].(map[string]any); ok {
				ops[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return ops
}

// docAuth says what an operation's security asks, in the routing table's terms.
func docAuth(op map[string]any) Auth {
	sec, ok := op["security"].([]any)
	if !ok || len(sec) == 0 {
		return AuthNone
	}
	for _, req := range sec {
		if len(req.(map[string]any)) == 0 { // {}: anonymous is allowed
			return AuthOptional
		}
	}
	return AuthRequired
}

func TestOpenAPIDescribesExactlyTheRoutingTable(t *testing.T) {
	ops := operations(t, loadDoc(t))
	inDoc := map[string]string{}
	for key, op := range ops {
		inDoc[key] = docAuth(op).String()
	}
	inTable := map[string]string{}
	for _, rt := range Routes() {
		if _, dup := inTable[rt.Pattern()]; dup {
			t.Errorf("the table lists %s twice", rt.Pattern())
		}
		inTable[rt.Pattern()] = rt.Auth.String()
	}
	if diff := cmp.Diff(inTable, inDoc); diff != "" {
		t.Errorf("operations and their auth, routing table (-) vs OpenAPI document (+):\n%s", diff)
	}
}

func TestRoutingTableIsServable(t *testing.T) {
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		mux.HandleFunc(rt.Pattern(), func(http.ResponseWriter, *http.Request) {}) // panics on a bad or clashing pattern
		if strings.HasPrefix(rt.Path, "/internal/") {
			t.Errorf("%s: internal paths are never routed", rt.Pattern())
		}
	}
}

func TestOpenAPIIsWellFormed(t *testing.T) {
	doc := loadDoc(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info %v lacks a title or version", info)
	}

	t.Run("every $ref resolves", func(t *testing.T) {
		walk(doc, "#", func(at string, node map[string]any) {
			ref, ok := node["$ref"].(string)
			if !ok {
				return
			}
			if _, err := resolve(doc, ref); err != nil {
				t.Errorf("%s: $ref %s: %v", at, ref, err)
			}
		})
	})

	schemes, _ := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	statusKey := regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]XX|default)$`)
	seenIDs := map[string]string{}
	paths := doc["paths"].(map[string]any)
	for key, op := range operations(t, doc) {
		t.Run(key, func(t *testing.T) {
			if id, _ := op["operationId"].(string); id == "" {
				t.Error("no operationId")
			} else if other, dup := seenIDs[id]; dup {
				t.Errorf("operationId %s is also used by %s", id, other)
			} else {
				seenIDs[id] = key
			}
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Fatal("no responses")
			}
			success := false
			for code, resp := range responses {
				if !statusKey.MatchString(code) {
					t.Errorf("response key %q is not a status code", code)
				}
				if n, err := strconv.Atoi(code); err == nil && n < 400 {
					success = true
				}
				r := resp.(map[string]any)
				if ref, ok := r["$ref"].(string); ok {
					resolved, err := resolve(doc, ref)
					if err != nil {
						continue // reported by the $ref check
					}
					r = resolved.(map[string]any)
				}
				if d, _ := r["description"].(string); d == "" {
					t.Errorf("response %s has no description", code)
				}
			}
			if !success {
				t.Error("no success response")
			}
			for _, req := range asSlice(op["security"]) {
				for name := range req.(map[string]any) {
					if _, ok := schemes[name]; !ok {
						t.Errorf("security scheme %s is not declared", name)
					}
				}
			}
			// Every path template parameter is declared as a required path parameter.
			method, path, _ := strings.Cut(key, " ")
			_ = method
			declared := map[string]bool{}
			params := append(asSlice(paths[path].(map[string]any)["parameters"]), asSlice(op["parameters"])...)
			for _, p := range params {
				pm := p.(map[string]any)
				if ref, ok := pm["$ref"].(string); ok {
					resolved, err := resolve(doc, ref)
					if err != nil {
						continue
					}
					pm = resolved.(map[string]any)
				}
				if pm["in"] == "path" {
					if pm["required"] != true {
						t.Errorf("path parameter %v is not required", pm["name"])
					}
					declared[pm["name"].(string)] = true
				}
			}
			for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("path parameter %s is not declared", m[1])
				}
			}
		})
	}
}

func TestOpenAPIListsTheContractSchemas(t *testing.T) {
	schemas, _ := loadDoc(t)["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{
		"Account", "TokenPair", "Event", "EventInput", "EventList", "Notification",
		"NotificationInput", "NotificationList", "Problem", "JWKS",
	} {
		if _, ok := schemas[name]; !ok {
			t.Errorf("schema %s is missing", name)
		}
	}
	problemProps := schemas["Problem"].(map[string]any)["properties"].(map[string]any)
	for _, f := range []string{"type", "title", "status", "detail", "errors"} {
		if _, ok := problemProps[f]; !ok {
			t.Errorf("Problem has no %s", f)
		}
	}
}

func TestOpenAPIListsEverySearchParameter(t *testing.T) {
	op := operations(t, loadDoc(t))["GET /api/v1/events"]
	var got []string
	for _, p := range asSlice(op["parameters"]) {
		got = append(got, p.(map[string]any)["name"].(string))
	}
	slices.Sort(got)
	want := []string{"category", "cursor", "from", "limit", "near", "organizer_id", "q", "radius_km", "tag", "to"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("search parameters (-want +got):\n%s", diff)
	}
}

// walk calls f on every object of v, with its JSON pointer.
func walk(v any, at string, f func(at string, node map[string]any)) {
	switch n := v.(type) {
	case map[string]any:
		f(at, n)
		for k, c := range n {
			walk(c, at+"/"+escapePointer(k), f)
		}
	case []any:
		for i, c := range n {
			walk(c, at+"/"+strconv.Itoa(i), f)
		}
	}
}

// resolve returns what the local reference ref (#/a/b) points to in doc.
func resolve(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, errNotLocal
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, errDangling
		}
		if cur, ok = m[tok]; !ok {
			return nil, errDangling
		}
	}
	return cur, nil
}

var (
	errNotLocal = &refError{"not a local reference"}
	errDangling = &refError{"points nowhere"}
)

type refError struct{ msg string }

func (e *refError) Error() string { return e.msg }

// escapePointer escapes a key for a JSON pointer.
func escapePointer(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// asSlice returns v as a slice, or nil.
func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
