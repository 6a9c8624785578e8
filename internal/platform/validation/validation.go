// Package validation carries what is wrong with the fields of a request, for domain code that
// knows nothing of HTTP: a service returns an *Error naming every invalid field, and its
// handlers report it (problem.Map makes it a 422 listing the fields).
package validation

import "strings"

// FieldError names one invalid field and says what is wrong with it.
type FieldError struct {
	Field   string
	Message string
}

// Error is a request whose fields did not validate. Fields is never empty.
type Error struct {
	Fields []FieldError
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
	}
	return b.String()
}

// New returns the error of a single invalid field.
func New(field, message string) *Error {
	return &Error{Fields: []FieldError{{Field: field, Message: message}}}
}

// List collects invalid fields; its zero value is empty and ready to use.
type List struct {
	fields []FieldError
}

// Add records that field is invalid, saying why.
func (l *List) Add(field, message string) {
	l.fields = append(l.fields, FieldError{Field: field, Message: message})
}

// Append records the fields of errs, in order.
func (l *List) Append(errs ...FieldError) {
	l.fields = append(l.fields, errs...)
}

// Fields returns the fields recorded so far.
func (l *List) Fields() []FieldError { return l.fields }

// Err returns an *Error naming the recorded fields, or nil when there are none, so that a
// validator can end with `return l.Err()`.
func (l *List) Err() error {
	if len(l.fields) == 0 {
		return nil
	}
	return &Error{Fields: l.fields}
}
