package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decoder reads the keys of one YAML mapping strictly: each key is taken by
// exactly one call, and Finish refuses the keys nobody took. The first error
// sticks; later calls do nothing.
type Decoder struct {
	node    *yaml.Node
	path    string
	src     *Source
	fields  map[string]*yaml.Node
	keyLine map[string]int
	known   []string
	err     error
	parsed  bool
}

func (d *Decoder) parse() {
	if d.parsed {
		return
	}
	d.parsed = true
	if d.node.Kind != yaml.MappingNode {
		d.fail(d.node.Line, d.path, "expected a mapping of keys to values")
		return
	}
	for i := 0; i+1 < len(d.node.Content); i += 2 {
		k, v := d.node.Content[i], d.node.Content[i+1]
		if _, dup := d.fields[k.Value]; dup {
			d.fail(k.Line, d.key(k.Value), "set twice")
			return
		}
		d.fields[k.Value], d.keyLine[k.Value] = v, k.Line
	}
}

func (d *Decoder) key(k string) string {
	if d.path == "" {
		return k
	}
	return d.path + "." + k
}

func (d *Decoder) fail(line int, key, msg string) {
	if d.err == nil {
		d.err = &Error{File: d.src.Path, Line: line, Key: key, Msg: msg}
	}
}

// errAt is an error at key's line, or the mapping's line when key is absent.
func (d *Decoder) errAt(key, msg string) error {
	d.parse()
	line := d.node.Line
	if l, ok := d.keyLine[key]; ok {
		line = l
	}
	return &Error{File: d.src.Path, Line: line, Key: d.key(key), Msg: msg}
}

// Errorf reports a problem with key's value; vendor rows use it for their
// own rules.
func (d *Decoder) Errorf(key, format string, args ...any) error {
	return d.errAt(key, fmt.Sprintf(format, args...))
}

// Has reports whether key is set.
func (d *Decoder) Has(key string) bool {
	d.parse()
	_, ok := d.fields[key]
	return ok
}

// take marks key known and returns its value node, or nil when absent.
func (d *Decoder) take(key string) *yaml.Node {
	d.parse()
	d.known = append(d.known, key)
	if d.err != nil {
		return nil
	}
	return d.fields[key]
}

func (d *Decoder) scalar(key string, n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.fail(n.Line, d.key(key), "expected "+what)
		return false
	}
	return true
}

// String reads a string value.
func (d *Decoder) String(key string, dst *string) {
	n := d.take(key)
	if n == nil || !d.scalar(key, n, "a string") {
		return
	}
	*dst = strings.TrimSpace(n.Value)
}

// Bool reads a boolean strictly: see ParseBool.
func (d *Decoder) Bool(key string, dst *bool) {
	n := d.take(key)
	if n == nil || !d.scalar(key, n, "true or false") {
		return
	}
	b, err := ParseBool(n.Value)
	if err != nil {
		d.fail(n.Line, d.key(key), err.Error())
		return
	}
	*dst = b
}

// Int reads a non-negative integer.
func (d *Decoder) Int(key string, dst *int) {
	n := d.take(key)
	if n == nil || !d.scalar(key, n, "a whole number") {
		return
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 0 {
		d.fail(n.Line, d.key(key), fmt.Sprintf("%q is not a whole number ≥ 0", n.Value))
		return
	}
	*dst = v
}

// Strings reads a list of non-empty strings (a single string is a list of one).
func (d *Decoder) Strings(key string, dst *[]string) {
	n := d.take(key)
	if n == nil {
		return
	}
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		d.fail(n.Line, d.key(key), "expected a list of strings")
		return
	}
	for _, it := range items {
		if !d.scalar(key, it, "a list of strings") {
			return
		}
		v := strings.TrimSpace(it.Value)
		if v == "" {
			d.fail(it.Line, d.key(key), "empty value in the list")
			return
		}
		*dst = append(*dst, v)
	}
}

// Struct decodes a nested mapping strictly into a struct whose fields carry
// yaml tags (strings, ints, durations, nested structs).
func (d *Decoder) Struct(key string, dst any) {
	n := d.take(key)
	if n == nil {
		return
	}
	sub := &Decoder{node: n, path: d.key(key), src: d.src, fields: map[string]*yaml.Node{}, keyLine: map[string]int{}}
	sub.parse()
	if sub.err == nil {
		if err := strictStruct(sub, dst); err != nil {
			sub.err = err
		}
	}
	if sub.err != nil && d.err == nil {
		d.err = sub.err
	}
}

// Node hands over a mapping for a package that owns its shape to decode
// (the approval policy); nil when the key is absent.
func (d *Decoder) Node(key string, dst **yaml.Node) {
	n := d.take(key)
	if n == nil {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, d.key(key), "expected a mapping")
		return
	}
	*dst = n
}

// Nodes hands over a sequence's items for the caller to decode.
func (d *Decoder) Nodes(key string, dst *[]*yaml.Node) {
	n := d.take(key)
	if n == nil {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, d.key(key), "expected a list")
		return
	}
	*dst = n.Content
}

// URL reads an http(s) URL.
func (d *Decoder) URL(key string, dst *string) {
	var s string
	d.String(key, &s)
	if s == "" || d.err != nil {
		return
	}
	if err := checkURL(s, "https", "http"); err != nil {
		d.fail(d.keyLine[key], d.key(key), err.Error())
		return
	}
	*dst = s
}

// Path reads a file path that must exist; relative paths are taken from
// the configuration file's directory.
func (d *Decoder) Path(key string, dst *string) {
	var s string
	d.String(key, &s)
	if s == "" || d.err != nil {
		return
	}
	s = d.resolve(s)
	if _, err := os.Stat(s); err != nil {
		d.fail(d.keyLine[key], d.key(key), fmt.Sprintf("cannot read %s: %v", s, unwrapPath(err)))
		return
	}
	*dst = s
}

func (d *Decoder) resolve(p string) string {
	if filepath.IsAbs(p) || d.src.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(d.src.Path), p)
}

// Secret is a credential and where it came from.
type Secret struct {
	Value string
	// Source says where the value was read: "file /run/…", "env NAME" or
	// "inline"; it is what --check-config prints.
	Source string
}

// Secret reads a credential given by reference: <key>_file (a file holding
// it), <key>_env (an environment variable holding it), or inline <key>, which
// is accepted only when the configuration file is readable by its owner
// alone (mode 0600). Exactly one is required.
func (d *Decoder) Secret(key string) Secret {
	var inline, file, env string
	d.String(key, &inline)
	d.String(key+"_file", &file)
	d.String(key+"_env", &env)
	if d.err != nil {
		return Secret{}
	}
	set, last := 0, ""
	for i, v := range []string{inline, file, env} {
		if v != "" {
			set++
			last = key + []string{"", "_file", "_env"}[i]
		}
	}
	switch {
	case set == 0:
		d.err = d.errAt(key+"_file", fmt.Sprintf("missing credential: set %s_file (a file holding it) or %s_env (an environment variable holding it)", key, key))
		return Secret{}
	case set > 1:
		d.err = d.errAt(last, fmt.Sprintf("set only one of %s, %s_file and %s_env", key, key, key))
		return Secret{}
	}
	switch {
	case file != "":
		p := d.resolve(file)
		b, err := os.ReadFile(p)
		if err != nil {
			d.fail(d.keyLine[key+"_file"], d.key(key+"_file"), fmt.Sprintf("cannot read %s: %v", p, unwrapPath(err)))
			return Secret{}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			d.fail(d.keyLine[key+"_file"], d.key(key+"_file"), p+" is empty")
			return Secret{}
		}
		return Secret{Value: v, Source: "file " + p}
	case env != "":
		v := d.src.Getenv(env)
		if v == "" {
			d.fail(d.keyLine[key+"_env"], d.key(key+"_env"), fmt.Sprintf("environment variable %s is not set or empty", env))
			return Secret{}
		}
		return Secret{Value: v, Source: "env " + env}
	}
	if perm := d.src.Mode.Perm(); perm&0o077 != 0 {
		d.fail(d.keyLine[key], d.key(key), fmt.Sprintf("an inline secret in a file others can read (mode %#o): move it to %s_file or %s_env, or chmod 600 the configuration file", perm, key, key))
		return Secret{}
	}
	return Secret{Value: inline, Source: "inline"}
}

// Finish refuses keys that no call took.
func (d *Decoder) Finish() error {
	d.parse()
	if d.err != nil {
		return d.err
	}
	for _, k := range slices.Sorted(maps.Keys(d.fields)) {
		if !slices.Contains(d.known, k) {
			known := slices.Clone(d.known)
			slices.Sort(known)
			return &Error{File: d.src.Path, Line: d.keyLine[k], Key: d.key(k), Msg: "unknown key; valid keys here: " + strings.Join(slices.Compact(known), ", ")}
		}
	}
	return nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
