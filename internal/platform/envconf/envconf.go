// Package envconf reads configuration structs from environment variables named by struct
// tags, and lists those variables: one mechanism for the configuration of every process and
// service, and one source for the list of variables the documentation gives.
//
// A field is read when it carries an env tag: `env:"NAME[,option]..."`, read from the
// variable prefix+NAME. The options are:
//
//   - file: the value may instead be given in the file named by NAME_FILE (setting both is
//     an error); the file's content, trimmed of surrounding white space, is the value.
//   - private: with file, the file must not be open to other users (mode 0600 or 0640).
//   - positive: a number or duration must be above zero.
//   - prefix: the field is a struct whose own tagged fields are read with NAME appended to
//     the prefix.
//   - absolute: NAME is the variable's whole name; neither the prefix given to Load nor a
//     prefix field's name is prepended (a setting of one component that the documentation
//     names without the component's part, such as EVENTPOST_DKIM_DOMAIN of the mailer).
//
// The supported field types are string, bool, the integer and floating-point kinds,
// time.Duration and every type whose pointer implements encoding.TextUnmarshaler. An unset
// (empty) variable leaves its field as it is, so a struct filled with its defaults first
// keeps them. A `default:"..."` tag describes, for Vars, a default that the field's zero
// value does not show (one computed at start).
package envconf

import (
	"encoding"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Var is one environment variable of a configuration struct.
type Var struct {
	// Name is the variable's name, prefix included.
	Name string
	// Default describes its default: the default tag, or the field's value in the struct
	// given to Vars ("" when it has none).
	Default string
	// File is set when the value may be given in the file named by Name+"_FILE" instead.
	File bool
}

// tag is a parsed env tag.
type tag struct {
	name                                      string
	file, private, positive, prefix, absolute bool
}

func parseTag(f reflect.StructField) (tag, bool) {
	s, ok := f.Tag.Lookup("env")
	if !ok || s == "-" {
		return tag{}, false
	}
	parts := strings.Split(s, ",")
	t := tag{name: parts[0]}
	for _, o := range parts[1:] {
		switch o {
		case "file":
			t.file = true
		case "private":
			t.private = true
		case "positive":
			t.positive = true
		case "prefix":
			t.prefix = true
		case "absolute":
			t.absolute = true
		default:
			panic(fmt.Sprintf("envconf: field %s: unknown option %q", f.Name, o))
		}
	}
	return t, true
}

// fields calls fn with every tagged field of the struct v (recursing into prefix fields), its
// variable's name and its tag.
func fields(v reflect.Value, prefix string, fn func(reflect.Value, reflect.StructField, string, tag) error) error {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		t, ok := parseTag(f)
		if !ok {
			continue
		}
		name := prefix + t.name
		if t.absolute {
			name = t.name
		}
		if t.prefix {
			if err := fields(v.Field(i), name, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(v.Field(i), f, name, t); err != nil {
			return err
		}
	}
	return nil
}

// Load sets the tagged fields of the struct dst points to from the variables getenv returns,
// named prefix plus each tag's name. It returns the first variable whose value does not parse.
func Load(getenv func(string) string, prefix string, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic("envconf: Load needs a pointer to a struct")
	}
	return fields(v.Elem(), prefix, func(fv reflect.Value, _ reflect.StructField, name string, t tag) error {
		s := getenv(name)
		if t.file {
			var err error
			if s, err = FileSetting(getenv, name, t.private); err != nil {
				return err
			}
		}
		if s == "" {
			return nil
		}
		return set(fv, name, s, t.positive)
	})
}

var durationType = reflect.TypeFor[time.Duration]()

// set parses s into the field v of the variable name.
func set(v reflect.Value, name, s string, positive bool) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	if ok, want := assign(v, s, positive); !ok {
		return fmt.Errorf("%s: want %s, got %q", name, want, s)
	}
	return nil
}

// assign parses s into v by v's kind; when s does not parse, or is not above zero though
// positive, it reports false and what it wants instead.
func assign(v reflect.Value, s string, positive bool) (ok bool, want string) {
	if v.Type() == durationType {
		return setDuration(v, s, positive), "a duration such as 15s"
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
		return true, ""
	case reflect.Bool:
		return setBool(v, s), "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return setInt(v, s, positive), integer(positive)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return setUint(v, s, positive), integer(positive)
	case reflect.Float32, reflect.Float64:
		return setFloat(v, s, positive), number(positive)
	}
	panic(fmt.Sprintf("envconf: unsupported type %s", v.Type()))
}

func setDuration(v reflect.Value, s string, positive bool) bool {
	d, err := time.ParseDuration(s)
	if err != nil || positive && d <= 0 {
		return false
	}
	v.SetInt(int64(d))
	return true
}

func setBool(v reflect.Value, s string) bool {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false
	}
	v.SetBool(b)
	return true
}

func setInt(v reflect.Value, s string, positive bool) bool {
	n, err := strconv.ParseInt(s, 10, v.Type().Bits())
	if err != nil || positive && n <= 0 {
		return false
	}
	v.SetInt(n)
	return true
}

func setUint(v reflect.Value, s string, positive bool) bool {
	n, err := strconv.ParseUint(s, 10, v.Type().Bits())
	if err != nil || positive && n == 0 {
		return false
	}
	v.SetUint(n)
	return true
}

func setFloat(v reflect.Value, s string, positive bool) bool {
	f, err := strconv.ParseFloat(s, v.Type().Bits())
	if err != nil || positive && f <= 0 {
		return false
	}
	v.SetFloat(f)
	return true
}

func integer(positive bool) string {
	if positive {
		return "a positive integer"
	}
	return "an integer"
}

func number(positive bool) string {
	if positive {
		return "a positive number"
	}
	return "a number"
}

// Vars lists the variables of the tagged fields of the struct defaults (a struct or a pointer
// to one), in field order, with the field's value in defaults as each one's default unless
// its default tag says otherwise.
func Vars(prefix string, defaults any) []Var {
	v := reflect.Indirect(reflect.ValueOf(defaults))
	var out []Var
	_ = fields(v, prefix, func(fv reflect.Value, f reflect.StructField, name string, t tag) error {
		def, ok := f.Tag.Lookup("default")
		if !ok && (fv.Kind() != reflect.String || fv.String() != "") {
			def = fmt.Sprint(fv.Interface())
		}
		out = append(out, Var{Name: name, Default: def, File: t.file})
		return nil
	})
	return out
}

// Names returns the names of vars, each followed by its _FILE form when it has one.
func Names(vars []Var) []string {
	var out []string
	for _, v := range vars {
		out = append(out, v.Name)
		if v.File {
			out = append(out, v.Name+"_FILE")
		}
	}
	return out
}

// FileSetting returns the value of the variable name, or the content of the file named by
// name_FILE. Setting both is an error. When private, so is a file that other users may read
// or write: a file holding a secret is private to its owner (and, for a mounted Kubernetes
// Secret, its group).
func FileSetting(getenv func(string) string, name string, private bool) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	if file == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("%s and %s_FILE are both set; set one", name, name)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	if private && fi.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("%s_FILE: %s is open to other users (mode %v); chmod 600 it", name, file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// WithDefaults returns cfg with every zero field taken from def: the one way a service
// completes a configuration that leaves settings unset (the environment cannot set a
// negative number where a positive one is wanted: Load refuses it). A struct field with
// exported fields of its own is completed field by field; any other field (time.Time
// among them) is taken whole when zero, and a slice or map when empty. Unexported fields
// are left as they are.
func WithDefaults[T any](cfg, def T) T {
	fillZero(reflect.ValueOf(&cfg).Elem(), reflect.ValueOf(def))
	return cfg
}

// fillZero sets the zero fields of v from def, which has v's type.
func fillZero(v, def reflect.Value) {
	if v.Kind() != reflect.Struct || !hasExportedFields(v.Type()) {
		if isUnset(v) {
			v.Set(def)
		}
		return
	}
	for i := range v.NumField() {
		if v.Type().Field(i).IsExported() {
			fillZero(v.Field(i), def.Field(i))
		}
	}
}

// hasExportedFields tells whether the struct type t has a field WithDefaults can set.
func hasExportedFields(t reflect.Type) bool {
	for i := range t.NumField() {
		if t.Field(i).IsExported() {
			return true
		}
	}
	return false
}

// isUnset tells whether the field v is unset: zero, or an empty slice or map.
func isUnset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}
