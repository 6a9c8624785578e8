// Package api holds the OpenAPI 3.1 document of the EventPost public API, kept in the
// repository as openapi.yaml and embedded in the binary. The gateway serves it as JSON and a
// test checks it against the gateway's routing table.
package api

import (
	"bytes"
	_ "embed" // for the embedded document
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var openapiYAML []byte

// YAML returns the OpenAPI document as written, in YAML.
func YAML() []byte {
	return bytes.Clone(openapiYAML)
}

// JSON returns the OpenAPI document rendered as JSON, with its keys in the order of the YAML.
func JSON() ([]byte, error) {
	return YAMLToJSON(openapiYAML)
}

// YAMLToJSON renders the single YAML document in src as compact JSON. Mapping keys become
// strings and keep their order; aliases are expanded. A value that JSON cannot represent,
// such as an infinite number, is an error.
func YAMLToJSON(src []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("yaml to json: want exactly one document")
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, doc.Content[0], 0); err != nil {
		return nil, fmt.Errorf("yaml to json: %w", err)
	}
	return buf.Bytes(), nil
}

// maxDepth bounds the nesting (and alias expansion) that writeJSON follows.
const maxDepth = 100

// writeJSON writes the JSON rendering of n to buf.
func writeJSON(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return errors.New("the document nests too deeply")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias, depth+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
			}
			if k.ShortTag() == "!!merge" {
				return fmt.Errorf("line %d: merge keys are not supported", k.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k.Value)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	}
	return fmt.Errorf("line %d: unexpected node kind %d", n.Line, n.Kind)
}

// writeScalar writes one scalar as the JSON value of its resolved YAML type.
func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	var v any
	switch n.ShortTag() {
	case "!!null":
		buf.WriteString("null")
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		v = b
	case "!!int":
		var i any
		if err := n.Decode(&i); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		v = i
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("line %d: %s has no JSON form", n.Line, n.Value)
		}
		v = f
	default: // !!str, !!timestamp, !!binary: keep the text as written
		writeString(buf, n.Value)
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	buf.Write(b)
	return nil
}

// writeString writes s as a JSON string.
func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	buf.Write(b)
}
