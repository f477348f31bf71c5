package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Reader decodes a list body member by member into a driver's own record
// type, with no reflection and without a string per value: the text of
// every string value read goes into one buffer, and Text makes one string
// of it for the whole page. Decoding a 21-record ESET page with Decode
// allocated about 180 objects (a string per long value, a pointer per
// optional field, a growing slice per list); with a Reader a page costs a
// handful.
//
// It is as tolerant as Decode: names match case-insensitively (ignoring
// '_' and '-', as encoding/json's v2 engine does), invalid UTF-8 becomes
// U+FFFD, a duplicate name keeps its last value, and unknown names are
// skipped. A value of the wrong kind is an error; null reads as the zero
// value.
//
// Its methods record the first error and do nothing after it, so that a
// decoding loop checks Err once at the end. Get one with NewReader and
// give it back with Release.
type Reader struct {
	dec   *jsontext.Decoder
	own   jsontext.Decoder // dec, for a Reader of a whole body
	input bytes.Buffer     // the body, parsed in place
	err   error
	name  []byte // the current member's name, folded
	text  []byte // unquoted string values
	items []Span // elements of the string lists read
}

// Span is a string value a Reader read: a range of its Text.
type Span struct{ off, end int32 }

// In is the span's string within text, the Reader's Text.
func (s Span) In(text string) string { return text[s.off:s.end] }

// List is a list of strings a Reader read: a range of its items.
type List struct {
	off, end int32
	set      bool // an array was read, empty or not (null or nothing is nil)
}

// Len is the number of strings in the list.
func (l List) Len() int { return int(l.end - l.off) }

// In is the list's strings within items, the Reader's Strings: nil when
// no array was read, empty and not nil for an empty array, as Decode makes
// them. Its capacity ends with it: appending to it copies.
func (l List) In(items []string) []string {
	switch {
	case !l.set:
		return nil
	case l.off == l.end:
		return []string{}
	}
	return items[l.off:l.end:l.end]
}

var readers = sync.Pool{New: func() any { return new(Reader) }}

// NewReader returns a Reader positioned before body's first value. body
// must not change until the Reader is released.
func NewReader(body []byte) *Reader {
	r := readers.Get().(*Reader)
	r.input = *bytes.NewBuffer(body)
	r.own.Reset(&r.input, decodeOptions)
	r.dec = &r.own
	r.err, r.text, r.items = nil, r.text[:0], r.items[:0]
	return r
}

// ReaderOn returns a Reader of the value dec is positioned before, for a
// record type's UnmarshalJSONFrom: the records of Decode and DecodePrefix
// are then read without reflection, with one string for a record's text.
// dec must have been made with the options of Decode (DecodePrefix's is).
func ReaderOn(dec *jsontext.Decoder) *Reader {
	r := readers.Get().(*Reader)
	r.dec = dec
	r.err, r.text, r.items = nil, r.text[:0], r.items[:0]
	return r
}

// Release gives the Reader back for reuse. Strings from Text and Strings
// stay valid; nothing else from the Reader may be used afterwards.
func (r *Reader) Release() {
	if cap(r.text) > maxPooledText {
		r.text = nil
	}
	if r.dec == &r.own { // drop the body; a decoder of ReaderOn is its caller's
		r.input = bytes.Buffer{}
		r.own.Reset(&r.input)
	}
	r.dec = nil
	readers.Put(r)
}

// maxPooledText bounds the buffers a pooled Reader keeps.
const maxPooledText = 256 << 10

// Err is the first error met, or nil.
func (r *Reader) Err() error { return r.err }

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Text is the text of every string read so far, as one string; the Spans
// of the Reader are ranges of it. Each call makes a new string: call it
// once, after the last read.
func (r *Reader) Text() string { return string(r.text) }

// Strings is every string list element read so far, as strings of text
// (the Reader's Text); the Lists of the Reader are ranges of it.
func (r *Reader) Strings(text string) []string {
	if len(r.items) == 0 {
		return nil
	}
	out := make([]string, len(r.items))
	for i, s := range r.items {
		out[i] = s.In(text)
	}
	return out
}

// End checks that the body holds nothing after the value read, and returns
// the first error met.
func (r *Reader) End() error {
	if r.err == nil {
		if _, err := r.dec.ReadToken(); !errors.Is(err, io.EOF) {
			r.fail(errors.New("invalid data after the top-level JSON value"))
		}
	}
	return r.err
}

// open reads the start of a value of kind ('{' or '['); it is false for
// null (consumed) and for an error.
func (r *Reader) open(kind jsontext.Kind) bool {
	if r.err != nil {
		return false
	}
	switch k := r.dec.PeekKind(); k {
	case kind:
		if _, err := r.dec.ReadToken(); err != nil {
			r.fail(err)
			return false
		}
		return true
	case 'n':
		r.Skip()
		return false
	default:
		r.mismatch(k, kind)
		return false
	}
}

func (r *Reader) mismatch(got, want jsontext.Kind) {
	if got == 0 { // no value: the decoder has the error
		_, err := r.dec.ReadValue()
		r.fail(cmpErr(err, io.ErrUnexpectedEOF))
		return
	}
	r.fail(fmt.Errorf("want %v at %s, got %v", want, r.dec.StackPointer(), got))
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// Object reads the start of an object: true when one starts (then read its
// members with Next), false for null or an error.
func (r *Reader) Object() bool { return r.open('{') }

// Next reads the next member's name of the object being read: false at its
// end (consumed) or on an error. Read or Skip its value before calling Next
// again.
func (r *Reader) Next() bool {
	if r.err != nil {
		return false
	}
	if r.dec.PeekKind() == '}' {
		if _, err := r.dec.ReadToken(); err != nil {
			r.fail(err)
		}
		return false
	}
	v, err := r.dec.ReadValue()
	if err != nil {
		r.fail(err)
		return false
	}
	r.name = foldName(r.name[:0], v)
	return r.err == nil
}

// Is tells whether the current member's name matches name, which is in
// folded form: upper case, without '_' and '-' ("DISPLAYNAME" matches
// "displayName" and "display_name").
func (r *Reader) Is(name string) bool { return string(r.name) == name }

// Array reads the start of an array: true when one starts (then read its
// elements with More), false for null or an error.
func (r *Reader) Array() bool { return r.open('[') }

// More tells whether the array being read has another element: false at its
// end (consumed) or on an error.
func (r *Reader) More() bool {
	if r.err != nil {
		return false
	}
	if r.dec.PeekKind() == ']' {
		if _, err := r.dec.ReadToken(); err != nil {
			r.fail(err)
		}
		return false
	}
	return true
}

// Skip reads past the next value.
func (r *Reader) Skip() {
	if r.err == nil {
		if err := r.dec.SkipValue(); err != nil {
			r.fail(err)
		}
	}
}

// String reads a string (or null, the empty span) into the Reader's text.
func (r *Reader) String() Span {
	if r.err != nil {
		return Span{}
	}
	switch k := r.dec.PeekKind(); k {
	case '"':
		v, err := r.dec.ReadValue()
		if err != nil {
			r.fail(err)
			return Span{}
		}
		off := len(r.text)
		// The decoder has validated v; the only error left is invalid
		// UTF-8, which became U+FFFD as Decode makes it.
		r.text, _ = jsontext.AppendUnquote(r.text, v)
		return Span{int32(off), int32(len(r.text))}
	case 'n':
		r.Skip()
	default:
		r.mismatch(k, '"')
	}
	return Span{}
}

// StringList reads an array of strings (or null, the empty list).
func (r *Reader) StringList() List {
	off := len(r.items)
	if !r.Array() {
		return List{}
	}
	for r.More() {
		r.items = append(r.items, r.String())
	}
	return List{int32(off), int32(len(r.items)), true}
}

// Int reads an integer: ok is false for null. A number with a fraction or
// out of int64's range is an error, as it is for Decode into an int64.
func (r *Reader) Int() (n int64, ok bool) {
	if r.err != nil {
		return 0, false
	}
	switch k := r.dec.PeekKind(); k {
	case '0':
		v, err := r.dec.ReadValue()
		if err != nil {
			r.fail(err)
			return 0, false
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			r.fail(fmt.Errorf("cannot read %s at %s as an integer", v, r.dec.StackPointer()))
			return 0, false
		}
		return n, true
	case 'n':
		r.Skip()
	default:
		r.mismatch(k, '0')
	}
	return 0, false
}

// Raw reads the next value as it is written, whatever its kind; the bytes
// are valid until the next read.
func (r *Reader) Raw() []byte {
	if r.err != nil {
		return nil
	}
	v, err := r.dec.ReadValue()
	if err != nil {
		r.fail(err)
		return nil
	}
	return v
}

// foldName appends the unquoted name v in folded form: each letter upper
// case, '_' and '-' left out, as the v2 engine matches names
// case-insensitively.
func foldName(dst []byte, v []byte) []byte {
	if bytes.IndexByte(v, '\\') >= 0 {
		var buf [64]byte
		u, _ := jsontext.AppendUnquote(buf[:0], v)
		v = u
	} else {
		v = v[1 : len(v)-1]
	}
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c != '_' && c != '-' {
				if 'a' <= c && c <= 'z' {
					c -= 'a' - 'A'
				}
				dst = append(dst, c)
			}
			i++
			continue
		}
		ru, n := utf8.DecodeRune(v[i:])
		dst = utf8.AppendRune(dst, unicode.ToUpper(unicode.ToLower(ru)))
		i += n
	}
	return dst
}
