package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Decode reads a vendor's JSON body into v in one pass: encoding/json
// scans the whole input to validate it and then again to decode it, which
// made decoding pages the largest cost of a list call. It is as tolerant
// as encoding/json: names match case-insensitively, invalid UTF-8 becomes
// U+FFFD, a duplicate name keeps its last value, unknown names are skipped,
// and UnmarshalJSON methods are honoured.
func Decode(body []byte, v any) error {
	return json.Unmarshal(body, v, decodeOptions)
}

var decodeOptions = json.JoinOptions(
	json.MatchCaseInsensitiveNames(true),
	jsontext.AllowInvalidUTF8(true),
	jsontext.AllowDuplicateNames(true),
)

// Prefix is the part of a list body DecodePrefix decoded, and the way to
// the rest.
type Prefix[T any] struct {
	// Records are the first records of the array.
	Records []T
	// Unread counts the records after them; -1 when enough ended the read
	// before they were counted.
	Unread int

	// rest is the body's text of the counted records: from the comma
	// after the last decoded record to the array's closing bracket.
	rest   []byte
	paused *jsontext.Decoder // positioned at the next record, when enough ended the read
}

// Rest decodes the records after Records, from the body already read: a
// scan that needs more than the prefix pays for no second request. It is
// called at most once.
func (p *Prefix[T]) Rest() ([]T, error) {
	if p.paused == nil {
		if p.Unread <= 0 {
			return nil, nil
		}
		// The rest was only counted: decode its text as an array of its own.
		text := bytes.TrimLeft(p.rest, " \t\r\n")
		out := make([]T, 0, p.Unread)
		if err := json.Unmarshal(append([]byte{'['}, text[1:]...), &out, decodeOptions); err != nil { // text[0] is the comma
			return nil, err
		}
		return out, nil
	}
	dec := p.paused
	p.paused = nil
	var out []T
	for dec.PeekKind() != ']' {
		var r T
		if err := json.UnmarshalDecode(dec, &r, decodeOptions); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if _, err := dec.ReadToken(); err != nil { // ']'
		return nil, err
	}
	return out, nil
}

// DecodePrefix reads a vendor's list body, a JSON object whose member named
// array holds the records, decoding only the first n records into T (all of
// them when n <= 0) and counting the rest without decoding them: a call that
// needs 21 records of Kaspersky's fixed 100 then pays for 21. The object's
// other members are decoded into envelope (a pointer to a struct, or nil) as
// they come, before or after the array.
//
// Once n records are decoded, enough (when not nil) is asked whether the
// members read so far tell the driver all it needs (a total that says how
// many records the page holds); when it says so, DecodePrefix stops reading
// and reports Unread as -1. Otherwise the whole body is checked to be one
// valid JSON object, as Decode does, and it is as tolerant as Decode.
func DecodePrefix[T any](body []byte, array string, n int, envelope any, enough func(decoded int) bool) (*Prefix[T], error) {
	p := &Prefix[T]{}
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), decodeOptions) // a Buffer is parsed in place, not copied
	if tok, err := dec.ReadToken(); err != nil {
		return nil, err
	} else if tok.Kind() != '{' {
		return nil, fmt.Errorf("want a JSON object, got %v", tok.Kind())
	}
	var member []byte
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String() // a token is valid only until the next read
		if !strings.EqualFold(name, array) || dec.PeekKind() != '[' {
			v, err := dec.ReadValue()
			if err != nil {
				return nil, err
			}
			if envelope == nil {
				continue
			}
			// One member at a time: decoding into a struct sets only the
			// fields present, so the envelope fills up as members come.
			member, _ = jsontext.AppendQuote(append(member[:0], '{'), name)
			member = append(append(append(member, ':'), v...), '}')
			if err := Decode(member, envelope); err != nil {
				return nil, err
			}
			continue
		}
		// A duplicate array member replaces the first, as in Decode.
		p.Records, p.Unread, p.rest = nil, 0, nil
		if n <= 0 { // the whole array in one call costs less than one a record
			if err := json.UnmarshalDecode(dec, &p.Records, decodeOptions); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := dec.ReadToken(); err != nil { // '['
			return nil, err
		}
		p.Records = make([]T, 0, n) // room for the prefix: growing it copied every record several times
		restAt := int64(-1)
		for dec.PeekKind() != ']' {
			if len(p.Records) >= n {
				if p.Unread == 0 {
					if enough != nil && enough(len(p.Records)) {
						p.Unread, p.paused = -1, dec
						return p, nil
					}
					restAt = dec.InputOffset()
				}
				if err := dec.SkipValue(); err != nil {
					return nil, err
				}
				p.Unread++
				continue
			}
			var r T
			if err := json.UnmarshalDecode(dec, &r, decodeOptions); err != nil {
				return nil, err
			}
			p.Records = append(p.Records, r)
		}
		if _, err := dec.ReadToken(); err != nil { // ']'
			return nil, err
		}
		if restAt >= 0 {
			p.rest = body[restAt:dec.InputOffset()]
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return nil, err
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid data after the top-level JSON object")
	}
	return p, nil
}
