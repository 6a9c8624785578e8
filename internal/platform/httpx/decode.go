package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/eventpost/eventpost/internal/platform/problem"
)

// MaxBodyBytes is the largest request body the API accepts.
const MaxBodyBytes = 1 << 20

// Decode reads the JSON request body into v strictly: the body must be JSON (415), at most
// MaxBodyBytes (413), one well-formed value (400) without unknown fields (400), and of the
// right types (422). The errors it returns are *problem.Error.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return decodeError(err)
		}
		return problem.New(http.StatusBadRequest, "the body must hold a single JSON value")
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

// decodeError translates an encoding/json error into a client error.
func decodeError(err error) error {
	var (
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		tooLarge  *http.MaxBytesError
		unmarshal *json.InvalidUnmarshalError
		pe        *problem.Error
	)
	switch {
	case errors.As(err, &tooLarge):
		return problem.Newf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", MaxBodyBytes)
	case errors.As(err, &syntax):
		return problem.Newf(http.StatusBadRequest, "malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.EOF):
		return problem.New(http.StatusBadRequest, "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem.New(http.StatusBadRequest, "malformed JSON: the body ends too early")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return problem.Newf(http.StatusBadRequest, "the body must be a JSON %s", jsonKind(typeErr.Type.Kind().String()))
		}
		return problem.Validation(problem.FieldError{Field: field, Message: "must be " + jsonKind(typeErr.Type.Kind().String())})
	case errors.As(err, &unmarshal):
		return err // a programming error: v is not a pointer; reported as a 500
	case errors.As(err, &pe): // returned by a field's UnmarshalJSON
		return pe
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return problem.Newf(http.StatusBadRequest, "unknown field %s", name)
	}
	return problem.Newf(http.StatusBadRequest, "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return fmt.Sprintf("a valid %s", kind)
}
