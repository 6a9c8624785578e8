package api

import (
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestYAMLToJSON(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    string
		wantErr bool
	}{
		{"keys keep their order", "b: 1\na: 2\nc: 3\n", `{"b":1,"a":2,"c":3}`, false},
		{"status codes become string keys", "200: ok\n\"404\": gone\n", `{"200":"ok","404":"gone"}`, false},
		{"scalars", "s: text\ni: -12\nf: 1.5\nt: true\nn: null\ne: ~\nq: \"3\"\n",
			`{"s":"text","i":-12,"f":1.5,"t":true,"n":null,"e":null,"q":"3"}`, false},
		{"timestamps stay as written", "d: 2027-03-01\n", `{"d":"2027-03-01"}`, false},
		{"sequences and flow style", "a: [1, {b: c}]\n", `{"a":[1,{"b":"c"}]}`, false},
		{"aliases are expanded", "x: &v {k: 1}\ny: *v\n", `{"x":{"k":1},"y":{"k":1}}`, false},
		{"strings are escaped", "s: \"a\\\"b\\n<\"\n", `{"s":"a\"b\n\u003c"}`, false},
		{"infinity has no JSON form", "f: .inf\n", "", true},
		{"merge keys are refused", "x: &v {k: 1}\ny:\n  <<: *v\n", "", true},
		{"not YAML", "a: [\n", "", true},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := YAMLToJSON([]byte(tt.yaml))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("json (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONHoldsTheYAMLDocument(t *testing.T) {
	b, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON any
	if err := json.Unmarshal(b, &fromJSON); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	var fromYAML any
	if err := yaml.Unmarshal(YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normalize(fromYAML), fromJSON); diff != "" {
		t.Errorf("YAML (-) and JSON (+) differ:\n%s", diff)
	}
}

// normalize turns a value decoded from YAML into the shape json.Unmarshal gives.
func normalize(v any) any {
	switch n := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, c := range n {
			out[k] = normalize(c)
		}
		return out
	case []any:
		out := make([]any, len(n))
		for i, c := range n {
			out[i] = normalize(c)
		}
		return out
	case int:
		return float64(n)
	}
	return v
}

// FuzzYAMLToJSON checks that whatever YAMLToJSON renders is valid JSON.
func FuzzYAMLToJSON(f *testing.F) {
	f.Add([]byte("a: 1\nb: [x, {c: null}]\n"))
	f.Add([]byte("x: &v {k: 1}\ny: *v\n"))
	f.Add(YAML())
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := YAMLToJSON(src)
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, src)
		}
	})
}

// TestDocumentIsValidOpenAPI holds the document to the OpenAPI specification as kin-openapi
// reads it: every schema, reference, parameter and response must be well formed.
func TestDocumentIsValidOpenAPI(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(YAML())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	if doc.Paths.Len() == 0 {
		t.Fatal("the document has no paths")
	}
}
