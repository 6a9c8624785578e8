package web

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// form is the state of an HTML form as a page shows it: the values to fill in (what the
// person typed, kept when the form comes back with errors) and the error of each field.
type form struct {
	Values url.Values
	// Errors maps a field name to its error message.
	Errors map[string]string
	// order is the order the errors were added in, for the error summary.
	order []string
	// General is an error that belongs to no one field.
	General string
}

// newForm returns a form filled with values.
func newForm(values url.Values) *form {
	if values == nil {
		values = url.Values{}
	}
	return &form{Values: values, Errors: map[string]string{}}
}

// Get returns the value of the field name.
func (f *form) Get(name string) string {
	if f == nil {
		return ""
	}
	return f.Values.Get(name)
}

// Is reports whether the field name has the value value (for radio buttons, options and
// check boxes).
func (f *form) Is(name, value string) bool { return f.Get(name) == value }

// Err returns the error of the field name, or "".
func (f *form) Err(name string) string {
	if f == nil {
		return ""
	}
	return f.Errors[name]
}

// Fail records msg as the error of the field name, unless it has one already.
func (f *form) Fail(name, msg string) {
	if _, ok := f.Errors[name]; ok {
		return
	}
	f.Errors[name] = msg
	f.order = append(f.order, name)
}

// Failed reports whether the form has any error.
func (f *form) Failed() bool { return f != nil && (len(f.Errors) > 0 || f.General != "") }

// summaryItem is one line of a form's error summary: the message, linking to its field.
type summaryItem struct {
	Field   string
	Message string
}

// inPageOrder puts the field errors in the order of fields, the form's fields as the page
// shows them, so that the error summary reads like the form; errors of fields not in
// fields keep the order they were found in, after the others.
func (f *form) inPageOrder(fields []string) {
	if f == nil || len(fields) == 0 {
		return
	}
	rank := func(name string) int {
		if i := slices.Index(fields, name); i >= 0 {
			return i
		}
		return len(fields)
	}
	slices.SortStableFunc(f.order, func(a, b string) int { return rank(a) - rank(b) })
}

// Summary lists the field errors in the order they were found, or in the page's order
// once inPageOrder has run.
func (f *form) Summary() []summaryItem {
	if f == nil {
		return nil
	}
	items := make([]summaryItem, 0, len(f.order))
	for _, name := range f.order {
		items = append(items, summaryItem{Field: name, Message: f.Errors[name]})
	}
	return items
}

// DescribedBy returns the IDs that describe the input of the field name (for
// aria-describedby): its hint when hint is true, and its error when it has one.
func (f *form) DescribedBy(name string, hint bool) string {
	var ids []string
	if hint {
		ids = append(ids, "f-"+name+"-hint")
	}
	if f.Err(name) != "" {
		ids = append(ids, "f-"+name+"-error")
	}
	return strings.Join(ids, " ")
}

// formField is the form's field that shows the errors of one of the API's fields, and its
// name in messages.
type formField struct {
	name, label string
}

// formFields maps the API's field names to the form's fields.
type formFields map[string]formField

// applyAPIErrors records the field errors of a 422 answer on f, on the form's fields that
// fields names; errors of fields it does not know become the general error.
func (f *form) applyAPIErrors(errs []fieldError, fields formFields) {
	for _, fe := range errs {
		ff, ok := fields[fe.Field]
		if !ok {
			if f.General == "" {
				f.General = fe.Field + " " + fe.Message
			}
			continue
		}
		f.Fail(ff.name, ff.label+" "+fe.Message)
	}
	if !f.Failed() {
		f.General = "The form was not accepted. Check the values and try again."
	}
}

// fieldArgs is what the "input" template needs to draw one input with its label, hint
// and error.
type fieldArgs struct {
	Form                                    *form
	Name, Label, Type, Hint                 string
	Optional, Required                      bool
	Autocomplete, MaxLength, Step, Min, Max string
	Inputmode, List, Placeholder            string
	// TZDefault asks the page's script to fill in the browser's time zone when empty.
	TZDefault bool
}

// field returns the arguments of the "input" template for the field name of f, labelled
// label, of the input type typ, with options: "required", "optional", "tz-default", or
// "key=value" for hint, autocomplete, maxlength, step, min, max, inputmode, list and
// placeholder.
func field(f *form, name, label, typ string, options ...string) (fieldArgs, error) {
	a := fieldArgs{Form: f, Name: name, Label: label, Type: typ}
	for _, o := range options {
		key, value, _ := strings.Cut(o, "=")
		switch key {
		case "required":
			a.Required = true
		case "optional":
			a.Optional = true
		case "tz-default":
			a.TZDefault = true
		case "hint":
			a.Hint = value
		case "autocomplete":
			a.Autocomplete = value
		case "maxlength":
			a.MaxLength = value
		case "step":
			a.Step = value
		case "min":
			a.Min = value
		case "max":
			a.Max = value
		case "inputmode":
			a.Inputmode = value
		case "list":
			a.List = value
		case "placeholder":
			a.Placeholder = value
		default:
			return a, fmt.Errorf("field %s: unknown option %q", name, o)
		}
	}
	return a, nil
}
