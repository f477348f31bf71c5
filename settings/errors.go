package settings

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a configuration error at a key, line and column.
type Error struct {
	File   string
	Line   int
	Column int
	// Key is the path of the key at fault, e.g. "instances[1].password_file".
	Key  string
	Msg  string
	kind errorKind
}

// errorKind orders a file's errors the way a person fixes them: a
// misspelt key first (it explains a "missing" further down), then the
// values that are missing, then the rest.
type errorKind int

const (
	kindOther errorKind = iota
	kindUnknown
	kindMissing
)

// rank is the group an error is listed in.
func (k errorKind) rank() int {
	return map[errorKind]int{kindUnknown: 0, kindMissing: 1, kindOther: 2}[k]
}

func (e *Error) Error() string {
	loc := e.File
	switch {
	case e.Line > 0 && e.Column > 0:
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	case e.Line > 0:
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if loc == "" {
		return e.Key + ": " + e.Msg
	}
	return loc + ": " + e.Key + ": " + e.Msg
}

// Errors is every problem of one configuration, unknown keys first, then
// missing values, then the rest, each group in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	if len(es) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems in the configuration:\n  %s", len(es), strings.Join(lines, "\n  "))
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Problems is the list of one file's errors, shared by the decoders of its
// mappings, so that a person fixes them all in one pass.
type Problems struct {
	src  Source
	list []*Error
}

// NewProblems starts the list of the file src describes.
func NewProblems(src Source) *Problems {
	if src.Getenv == nil {
		src.Getenv = func(string) string { return "" }
	}
	return &Problems{src: src}
}

// Source is the file the problems are in.
func (p *Problems) Source() Source { return p.src }

// Decoder reads mapping n at path (e.g. "instances[0]"); its problems go
// to p.
func (p *Problems) Decoder(n *yaml.Node, path string) *Decoder {
	return &Decoder{node: n, path: path, src: &p.src, fields: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, all: p}
}

// Add records err once; an error not of this package becomes fallback
// with err's text as its message.
func (p *Problems) Add(err error, fallback *Error) {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		fallback.Msg = err.Error()
		e = fallback
	}
	if !slices.Contains(p.list, e) {
		p.list = append(p.list, e)
	}
}

// Len is how many problems are recorded.
func (p *Problems) Len() int { return len(p.list) }

// Err is every problem recorded, as Errors, or nil.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	out := Errors(slices.Clone(p.list))
	slices.SortStableFunc(out, func(a, b *Error) int {
		if a.kind != b.kind {
			return a.kind.rank() - b.kind.rank()
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return out
}
