package validation_test

import (
	"errors"
	"testing"

	"github.com/eventpost/eventpost/internal/platform/validation"
)

func TestList(t *testing.T) {
	var l validation.List
	if err := l.Err(); err != nil {
		t.Fatalf("empty list: Err() = %v, want nil", err)
	}
	l.Add("title", "is required")
	l.Append(validation.FieldError{Field: "tags", Message: "too many"})
	var ve *validation.Error
	if !errors.As(l.Err(), &ve) || len(ve.Fields) != 2 || ve.Fields[1].Field != "tags" {
		t.Fatalf("Err() = %#v, want the two fields in order", l.Err())
	}
	if got, want := ve.Error(), "invalid title: is required; tags: too many"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
