package httpx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// MaxBodyBytes is the largest request body the API accepts.
const MaxBodyBytes = 1 << 20

// MaxListLength is the most items any JSON array in a request body may hold. Every list the
// API takes has a smaller limit of its own, which the service checks; this one stops a body
// of a hundred thousand items before any of them is decoded.
const MaxListLength = 100

// MaxObjectMembers is the most members any JSON object in a request body may hold: more than
// any type the API decodes has fields, so that a body of a hundred thousand names that no
// type knows is refused before any of them is decoded.
const MaxObjectMembers = 100

// Decode reads the JSON request body into v strictly: the body must be JSON (415), at most
// MaxBodyBytes (413), and one well-formed value (400) in valid UTF-8 (400) whose objects
// have no member name twice and at most MaxObjectMembers members (400); its member names
// must match the names of v's fields exactly, case included (an unknown name is a 400), its
// arrays must hold at most MaxListLength items (422), and its values must be of the right
// types (422). Every limit is checked while the body is read, once, before anything is
// decoded. The errors it returns are *problem.Error, but for a v that is not a non-nil
// pointer.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return problem.Newf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", MaxBodyBytes)
		}
		return problem.New(http.StatusBadRequest, "the body could not be read")
	}
	return Unmarshal(data, v)
}

// Unmarshal decodes the JSON document data into v with the rules of Decode but for the
// media type and the size. A service that decodes JSON of a client's again, after a merge
// patch for instance, uses it to keep to the same rules.
func Unmarshal(data []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || reflect.ValueOf(v).IsNil() {
		return fmt.Errorf("httpx: cannot decode into %T, which is not a non-nil pointer", v) // a 500
	}
	if err := checkSyntax(data, t); err != nil {
		return err
	}
	err := json.Unmarshal(data, v,
		json.MatchCaseInsensitiveNames(false), json.RejectUnknownMembers(true),
		jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(false))
	if err != nil {
		return semanticError(err, t)
	}
	return nil
}

// requireJSON accepts application/json and any +json media type, such as
// application/merge-patch+json.
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return problem.New(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
	}
	return nil
}

// checkSyntax reads data token by token, in one pass and without decoding anything, and
// reports the first way in which it is not a single well-formed JSON value in UTF-8 with
// unique member names and short arrays. t is the type data is meant for, which names the
// fields in the errors.
func checkSyntax(data []byte, t reflect.Type) error {
	if !utf8.Valid(data) {
		return problem.New(http.StatusBadRequest, "the body is not valid UTF-8")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data),
		jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(false))
	for first := true; ; first = false {
		if _, err := dec.ReadToken(); err != nil {
			if first && errors.Is(err, io.EOF) {
				return problem.New(http.StatusBadRequest, "the body is empty")
			}
			return syntaxError(err, t)
		}
		depth := dec.StackDepth()
		if depth == 0 {
			break
		}
		switch kind, n := dec.StackIndex(depth); {
		case kind == '[' && n > MaxListLength:
			return problem.Validation(problem.FieldError{
				Field:   fieldName(t, dec.StackPointer().Parent()),
				Message: fmt.Sprintf("must hold at most %d items", MaxListLength),
			})
		case kind == '{' && n > 2*MaxObjectMembers: // n counts names and values
			if ptr := dec.StackPointer().Parent(); ptr != "" {
				return problem.Newf(http.StatusBadRequest, "field %q has more than %d members", fieldName(t, ptr), MaxObjectMembers)
			}
			return problem.Newf(http.StatusBadRequest, "the body has more than %d members", MaxObjectMembers)
		}
	}
	switch _, err := dec.ReadToken(); {
	case err == nil:
		return problem.New(http.StatusBadRequest, "the body must hold a single JSON value")
	case !errors.Is(err, io.EOF):
		return syntaxError(err, t)
	}
	return nil
}

// syntaxError translates an error of checkSyntax's decoder into a client error.
func syntaxError(err error, t reflect.Type) error {
	var syntax *jsontext.SyntacticError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return problem.New(http.StatusBadRequest, "malformed JSON: the body ends too early")
	case errors.As(err, &syntax) && errors.Is(syntax.Err, jsontext.ErrDuplicateName):
		return problem.Newf(http.StatusBadRequest, "field %q appears more than once", fieldName(t, syntax.JSONPointer))
	case errors.As(err, &syntax) && syntax.Err != nil:
		return problem.Newf(http.StatusBadRequest, "malformed JSON at byte %d: %s", syntax.ByteOffset, syntax.Err)
	}
	return problem.New(http.StatusBadRequest, "malformed JSON")
}

// semanticError translates an error of json.Unmarshal, over input that checkSyntax
// accepted, into a client error.
func semanticError(err error, t reflect.Type) error {
	var (
		semantic *json.SemanticError
		pe       *problem.Error
	)
	switch {
	case errors.As(err, &pe): // returned by a field's UnmarshalJSON
		return pe
	case !errors.As(err, &semantic):
		return syntaxError(err, t)
	case errors.Is(semantic.Err, json.ErrUnknownName):
		return problem.Newf(http.StatusBadRequest, "unknown field %q", fieldName(t, semantic.JSONPointer))
	}
	want := "a valid value"
	if semantic.GoType != nil {
		want = jsonKind(semantic.GoType.Kind())
	}
	field := fieldName(t, semantic.JSONPointer)
	if field == "" {
		return problem.Newf(http.StatusBadRequest, "the body must be %s", want)
	}
	if errors.Is(semantic.Err, strconv.ErrRange) {
		return problem.Validation(problem.FieldError{Field: field, Message: "is out of range"})
	}
	return problem.Validation(problem.FieldError{Field: field, Message: "must be " + want})
}

// fieldName turns a JSON pointer into the dotted name the API gives a field in its errors,
// such as "location.lat". It follows the pointer through t, the type decoded into, to leave
// out the indexes of array items: an item of tags is reported as "tags".
func fieldName(t reflect.Type, ptr jsontext.Pointer) string {
	var parts []string
	for tok := range ptr.Tokens() {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t != nil {
			switch t.Kind() {
			case reflect.Slice, reflect.Array:
				t = t.Elem()
				continue
			case reflect.Map:
				t = t.Elem()
			case reflect.Struct:
				t = memberType(t, tok)
			default:
				t = nil
			}
		}
		parts = append(parts, tok)
	}
	return strings.Join(parts, ".")
}

// memberType returns the type of the field of struct type t that the JSON member name
// decodes into, or nil when there is none.
func memberType(t reflect.Type, name string) reflect.Type {
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-":
		case tag == name, tag == "" && f.Name == name:
			return f.Type
		}
	}
	return nil
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind reflect.Kind) string {
	switch kind {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return fmt.Sprintf("a valid %s", kind)
}
