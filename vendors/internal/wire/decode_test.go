package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

type stamp struct{ s string }

func (s *stamp) UnmarshalJSON(b []byte) error {
	s.s = "seen:" + string(b)
	return nil
}

type record struct {
	ID    string   `json:"ID"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Count *int64   `json:"count"`
	When  stamp    `json:"when"`
}

// TestDecodeLikeEncodingJSON: Decode gives what encoding/json gives on the
// inputs vendors send, tolerant cases included, and fails where it fails.
func TestDecodeLikeEncodingJSON(t *testing.T) {
	for name, in := range map[string]string{
		"plain":          `{"ID":"1","name":"a","tags":["x"],"count":3,"when":"2026"}`,
		"case":           `{"id":"1","NAME":"a"}`,
		"unknown fields": `{"ID":"1","extra":{"deep":[1,2,{"x":null}]}}`,
		"nulls":          `{"ID":null,"tags":null,"count":null}`,
		"invalid utf-8":  "{\"name\":\"a\xffb\"}",
		"duplicate":      `{"name":"a","name":"b"}`,
		"escapes":        `{"name":"\u00e9\n\"q\""}`,
	} {
		t.Run(name, func(t *testing.T) {
			var want, got record
			if err := json.Unmarshal([]byte(in), &want); err != nil {
				t.Fatal(err)
			}
			if err := Decode([]byte(in), &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode = %+v, encoding/json = %+v", got, want)
			}
		})
	}
	for name, in := range map[string]string{
		"truncated":  `{"ID":"1","tags":["x"`,
		"wrong type": `{"ID":1}`,
		"trailing":   `{"ID":"1"} {`,
	} {
		t.Run("fails/"+name, func(t *testing.T) {
			var r record
			if err := Decode([]byte(in), &r); err == nil {
				t.Errorf("Decode(%s) succeeded", strings.TrimSpace(in))
			}
		})
	}
}
