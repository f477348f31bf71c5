package settings

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ParseBool reads a boolean strictly: true, false, 1, 0, yes or no, in any
// case. Anything else is an error, so that a typo never leaves a setting at
// its default silently.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean; use true, false, 1, 0, yes or no", s)
}

// Env reads the one-instance configuration from environment variables. A
// NAME_FILE variable names a file holding NAME's value (Docker and
// Kubernetes secrets).
type Env struct {
	Get func(string) string
}

// Secret reads NAME, or the file NAME_FILE names.
func (e Env) Secret(name string) (string, error) {
	if path := e.Get(name + "_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return e.Get(name), nil
}

// Bool reads NAME strictly (see ParseBool); unset is false.
func (e Env) Bool(name string) (bool, error) {
	v := e.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// ReadOnly reads <INSTANCE>_READ_ONLY, the per-instance switch that refuses
// writes, for an instance from the environment or the demo.
func (e Env) ReadOnly(instance string) (bool, error) {
	return e.Bool(strings.ToUpper(instance) + "_READ_ONLY")
}

// Count reads an optional positive whole number; unset is 0 (the default).
func (e Env) Count(name string) (int, error) {
	v := strings.TrimSpace(e.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive whole number", name, v)
	}
	return n, nil
}

// List reads a comma-separated list, dropping empty items.
func (e Env) List(name string) []string {
	var out []string
	for _, v := range strings.Split(e.Get(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// strictStruct decodes d's mapping into the struct dst points to, field by
// field by yaml tag, then refuses unknown keys.
func strictStruct(d *Decoder, dst any) {
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		fv := v.Field(i)
		if !d.Has(key) {
			d.take(key) // known, absent: keep the zero value
			continue
		}
		switch {
		case f.Type == durationType:
			var s string
			d.String(key, &s)
			if s == "" {
				continue
			}
			dur, err := time.ParseDuration(s)
			if err != nil || dur < 0 {
				d.failKey(key, fmt.Sprintf("%q is not a duration like 500ms, 20s or 1m", s))
				continue
			}
			fv.SetInt(int64(dur))
		case f.Type.Kind() == reflect.Int:
			var n int
			d.Int(key, &n)
			fv.SetInt(int64(n))
		case f.Type.Kind() == reflect.String:
			d.String(key, fv.Addr().Interface().(*string))
		case f.Type.Kind() == reflect.Bool:
			d.Bool(key, fv.Addr().Interface().(*bool))
		case f.Type.Kind() == reflect.Struct:
			d.Struct(key, fv.Addr().Interface())
		default:
			panic("config: unsupported field type " + f.Type.String())
		}
	}
	d.Finish()
}
