// Package settings is the toolkit that vendor settings and the
// configuration loader share to read settings strictly: a YAML Decoder that
// takes each key once and names the misspelt ones, credentials by
// reference (Secret), environment readers (Env) and errors at a file's key,
// line and column. It knows no vendor and no file layout.
package settings

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decoder reads the keys of one YAML mapping strictly: each key is taken by
// exactly one call, and Finish refuses the keys nobody took. Every problem
// goes to the file's list (a person fixes them all in one pass); err is the
// first of this mapping, which stops what depends on a value read wrong.
type Decoder struct {
	node    *yaml.Node
	path    string
	src     *Source
	fields  map[string]*yaml.Node
	keys    map[string]*yaml.Node
	known   []string
	refused []string // unknown keys already reported
	err     error
	parsed  bool
	// all collects the problems of the whole file, shared by its decoders.
	all *Problems
}

func (d *Decoder) parse() {
	if d.parsed {
		return
	}
	d.parsed = true
	if d.node.Kind != yaml.MappingNode {
		d.failAt(d.node, d.path, "expected a mapping of keys to values")
		return
	}
	for i := 0; i+1 < len(d.node.Content); i += 2 {
		k, v := d.node.Content[i], d.node.Content[i+1]
		if first, dup := d.keys[k.Value]; dup {
			d.failAt(k, d.key(k.Value), fmt.Sprintf("set twice (first on line %d)", first.Line))
			continue
		}
		d.fields[k.Value], d.keys[k.Value] = v, k
	}
}

func (d *Decoder) key(k string) string {
	if d.path == "" {
		return k
	}
	return d.path + "." + k
}

// failAt records a problem at node's position.
func (d *Decoder) failAt(n *yaml.Node, key, msg string) {
	d.record(&Error{File: d.src.Path, Line: n.Line, Column: n.Column, Key: key, Msg: msg})
}

func (d *Decoder) record(e *Error) {
	if d.err == nil {
		d.err = e
	}
	if d.all != nil {
		d.all.Add(e, nil)
	}
}

// failKey records a problem with key's value at the key's position.
func (d *Decoder) failKey(key, msg string) {
	d.record(d.errAt(key, msg).(*Error))
}

// errAt is an error at key's position, or the mapping's when key is absent.
func (d *Decoder) errAt(key, msg string) error {
	d.parse()
	n := d.node
	if k, ok := d.keys[key]; ok {
		n = k
	}
	return &Error{File: d.src.Path, Line: n.Line, Column: n.Column, Key: d.key(key), Msg: msg}
}

// missing is an error for a required key that is absent.
func (d *Decoder) missing(key, msg string) error {
	e := d.errAt(key, msg).(*Error)
	e.kind = kindMissing
	return e
}

// Errorf reports a problem with key's value; vendor rows use it for their
// own rules. A message starting "missing" marks a required key that is
// absent: those come right after the unknown keys.
func (d *Decoder) Errorf(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(msg, "missing") {
		return d.missing(key, msg)
	}
	return d.errAt(key, msg)
}

// Fail records a problem with key's value at the key's position (at the
// mapping's when key is absent); a message starting "missing" marks a
// required key that is absent, as with Errorf.
func (d *Decoder) Fail(key, msg string) {
	d.record(d.Errorf(key, "%s", msg).(*Error))
}

// Missing records that the required key is absent, whatever msg says.
func (d *Decoder) Missing(key, msg string) {
	d.record(d.missing(key, msg).(*Error))
}

// FailNode records a problem at node n, a value under key.
func (d *Decoder) FailNode(n *yaml.Node, key, msg string) {
	d.failAt(n, d.key(key), msg)
}

// Take marks key known and returns its value node, nil when absent: for
// the loader's own sections that are lists of strings or a single one.
func (d *Decoder) Take(key string) *yaml.Node { return d.take(key) }

// Scalar reports whether n, a value under key, is a plain scalar, and
// records a problem saying it should be what when not.
func (d *Decoder) Scalar(key string, n *yaml.Node, what string) bool { return d.scalar(key, n, what) }

// Err is the mapping's first problem, nil while there is none.
func (d *Decoder) Err() error { return d.err }

// FinishNear is Finish when the mapping's other keys cannot be known yet
// (they depend on a value that is missing): it refuses only the keys
// close to a known one, likely misspellings.
func (d *Decoder) FinishNear() error { return d.finish(true) }

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
	return d.fields[key]
}

func (d *Decoder) scalar(key string, n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.failAt(n, d.key(key), "expected "+what)
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
		d.failAt(n, d.key(key), err.Error())
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
		d.failAt(n, d.key(key), fmt.Sprintf("%q is not a whole number ≥ 0", n.Value))
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
		d.failAt(n, d.key(key), "expected a list of strings")
		return
	}
	for _, it := range items {
		if !d.scalar(key, it, "a list of strings") {
			return
		}
		v := strings.TrimSpace(it.Value)
		if v == "" {
			d.failAt(it, d.key(key), "empty value in the list")
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
	sub := &Decoder{node: n, path: d.key(key), src: d.src, fields: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, all: d.all}
	sub.parse()
	if sub.err == nil {
		strictStruct(sub, dst)
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
		d.failAt(n, d.key(key), "expected a mapping")
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
		d.failAt(n, d.key(key), "expected a list")
		return
	}
	*dst = n.Content
}

// URL reads an http(s) URL.
func (d *Decoder) URL(key string, dst *string) {
	var s string
	d.String(key, &s)
	if s == "" {
		return
	}
	if err := CheckURL(s, "https", "http"); err != nil {
		d.failKey(key, err.Error())
		return
	}
	*dst = s
}

// Path reads a file path that must exist; relative paths are taken from
// the configuration file's directory.
func (d *Decoder) Path(key string, dst *string) {
	var s string
	d.String(key, &s)
	if s == "" {
		return
	}
	s = d.resolve(s)
	if _, err := os.Stat(s); err != nil {
		d.failKey(key, fmt.Sprintf("cannot read %s: %v", s, unwrapPath(err)))
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

// Source is where a configuration comes from: its path (for messages and
// relative files), its file mode (inline secrets need 0600) and the
// environment (*_env references).
type Source struct {
	Path   string
	Mode   fs.FileMode
	Getenv func(string) string
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
	hadErr := d.err != nil
	d.String(key, &inline)
	d.String(key+"_file", &file)
	d.String(key+"_env", &env)
	if !hadErr && d.err != nil {
		return Secret{} // one of the three was not a string: said already
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
		d.record(d.missing(key+"_file", fmt.Sprintf("missing credential: set %s_file (a file holding it) or %s_env (an environment variable holding it)", key, key)).(*Error))
		return Secret{}
	case set > 1:
		d.failKey(last, fmt.Sprintf("set only one of %s, %s_file and %s_env", key, key, key))
		return Secret{}
	}
	switch {
	case file != "":
		p := d.resolve(file)
		b, err := os.ReadFile(p)
		if err != nil {
			d.failKey(key+"_file", fmt.Sprintf("cannot read %s: %v", p, unwrapPath(err)))
			return Secret{}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			d.failKey(key+"_file", p+" is empty")
			return Secret{}
		}
		return Secret{Value: v, Source: "file " + p}
	case env != "":
		v := d.src.Getenv(env)
		if v == "" {
			d.failKey(key+"_env", fmt.Sprintf("environment variable %s is not set or empty", env))
			return Secret{}
		}
		return Secret{Value: v, Source: "env " + env}
	}
	if perm := d.src.Mode.Perm(); perm&0o077 != 0 {
		d.failKey(key, fmt.Sprintf("an inline secret in a file others can read (mode %#o): move it to %s_file or %s_env, or chmod 600 the configuration file", perm, key, key))
		return Secret{}
	}
	return Secret{Value: inline, Source: "inline"}
}

// Finish refuses keys that no call took, each with the known key it most
// likely misspells. It returns the mapping's first error other than an
// unknown key: a misspelt key leaves the value it meant absent, and the
// caller goes on to say what is missing, in the same pass.
func (d *Decoder) Finish() error { return d.finish(false) }

// finish reports the keys nobody took; with onlyNear, only those close to
// a known key (when the rest of the keys cannot be known yet).
func (d *Decoder) finish(onlyNear bool) error {
	d.parse()
	known := slices.Compact(slices.Sorted(slices.Values(d.known)))
	first := d.err
	for _, k := range slices.Sorted(maps.Keys(d.fields)) {
		if slices.Contains(known, k) || slices.Contains(d.refused, k) || onlyNear && Closest(k, known) == "" {
			continue
		}
		d.refused = append(d.refused, k)
		msg := "unknown key; valid keys here: " + strings.Join(known, ", ")
		if near := Closest(k, known); near != "" {
			msg = fmt.Sprintf("unknown key; did you mean %s? (valid keys here: %s)", near, strings.Join(known, ", "))
		}
		e := d.errAt(k, msg).(*Error)
		e.kind = kindUnknown
		d.record(e)
	}
	if first != nil {
		return first
	}
	if d.all == nil {
		return d.err // a decoder of its own (tests): its first error
	}
	return nil
}

// Closest is the known key within a small edit distance of k, if any.
func Closest(k string, known []string) string {
	best, bestD := "", 3
	if len(k) <= 4 {
		bestD = 2
	}
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// CheckURL accepts an absolute URL with one of schemes and a host.
func CheckURL(s string, schemes ...string) error {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !slices.Contains(schemes, scheme) || rest == "" || strings.HasPrefix(rest, "/") || strings.ContainsAny(s, " \t\n") {
		return fmt.Errorf("%q is not a URL like %s://host", s, schemes[0])
	}
	return nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
