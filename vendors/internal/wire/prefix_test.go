package wire

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

type listBody struct {
	Total *int     `json:"Total"`
	Items []record `json:"Items"`
	Note  string   `json:"note"`
}

// TestDecodePrefix: the first n records and the envelope are what Decode
// gives for the whole body, wherever the members are and however they are
// spelled; the records past n are counted, not decoded.
func TestDecodePrefix(t *testing.T) {
	bodies := map[string]string{
		"total first":   `{"Total":3,"Items":[{"ID":"1"},{"ID":"2","tags":["x"]},{"ID":"3"}]}`,
		"total after":   `{"Items":[{"ID":"1"},{"ID":"2"},{"ID":"3","extra":{"a":[1,{}]}}],"Total":3,"note":"n"}`,
		"case":          `{"items":[{"id":"1"},{"ID":"2"},{"ID":"3"}],"TOTAL":3}`,
		"duplicate":     `{"Items":[{"ID":"0"}],"Items":[{"ID":"1"},{"ID":"2"},{"ID":"3"}],"Total":3}`,
		"empty":         `{"Items":[],"Total":0}`,
		"null records":  `{"Items":null,"Total":0}`,
		"no records":    `{"Total":0}`,
		"invalid utf-8": "{\"Items\":[{\"name\":\"a\xffb\"},{\"ID\":\"2\"}]}",
		"whitespace":    " {\n \"Items\" : [ {\"ID\":\"1\"} ] } \n",
	}
	for name, body := range bodies {
		var whole listBody
		if err := Decode([]byte(body), &whole); err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		for _, n := range []int{0, 1, 2, 3, 5} {
			t.Run(name+"/"+strings.Repeat("n", n), func(t *testing.T) {
				var env listBody
				p, err := DecodePrefix[record]([]byte(body), "Items", n, &env, nil)
				if err != nil {
					t.Fatalf("DecodePrefix: %v", err)
				}
				got, unread := p.Records, p.Unread
				rest, err := p.Rest()
				if err != nil {
					t.Fatalf("Rest: %v", err)
				}
				if all := append(slices.Clip(got), rest...); len(all) != len(whole.Items) || (len(all) > 0 && !reflect.DeepEqual(all, whole.Items)) {
					t.Errorf("records and the rest = %+v, want %+v", all, whole.Items)
				}
				want := whole.Items
				if n > 0 && len(want) > n {
					want = want[:n]
				}
				if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
					t.Errorf("records = %+v, want %+v", got, want)
				}
				if unread != len(whole.Items)-len(want) {
					t.Errorf("unread = %d, want %d", unread, len(whole.Items)-len(want))
				}
				whole := whole
				whole.Items, env.Items = nil, nil
				if !reflect.DeepEqual(env, whole) {
					t.Errorf("envelope = %+v, want %+v", env, whole)
				}
			})
		}
	}
}

// TestDecodePrefixFails: a body Decode refuses is refused, even when the
// fault lies in a record that is only counted.
func TestDecodePrefixFails(t *testing.T) {
	for name, body := range map[string]string{
		"not an object":          `[{"ID":"1"}]`,
		"truncated":              `{"Items":[{"ID":"1"},{"ID":"2"`,
		"broken skipped record":  `{"Items":[{"ID":"1"},{"ID":"2",}],"Total":2}`,
		"wrong type":             `{"Items":[{"ID":1}]}`,
		"trailing":               `{"Items":[]} {`,
		"envelope of wrong type": `{"Items":[],"Total":"many"}`,
	} {
		t.Run(name, func(t *testing.T) {
			var env listBody
			if _, err := DecodePrefix[record]([]byte(body), "Items", 1, &env, nil); err == nil {
				t.Errorf("DecodePrefix(%s) succeeded", body)
			}
		})
	}
}

// TestDecodePrefixEnough: once n records are read, enough may end the read
// when what came before the array tells the rest; the records past n are then
// neither decoded nor checked.
func TestDecodePrefixEnough(t *testing.T) {
	for _, c := range []struct {
		name, body string
		unread     int
	}{
		{"total first", `{"Total":3,"Items":[{"ID":"1"},{"ID":"2"},{"ID":"3"}],!!! not read`, -1},
		{"total after", `{"Items":[{"ID":"1"},{"ID":"2"},{"ID":"3"}],"Total":3}`, 2},
		{"no total", `{"Items":[{"ID":"1"},{"ID":"2"},{"ID":"3"}]}`, 2},
		{"nothing left", `{"Total":1,"Items":[{"ID":"1"}]}`, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var env listBody
			asked := 0
			p, err := DecodePrefix[record]([]byte(c.body), "Items", 1, &env, func(decoded int) bool {
				asked++
				if decoded != 1 {
					t.Errorf("enough asked after %d records, want 1", decoded)
				}
				return env.Total != nil
			})
			if err != nil {
				t.Fatalf("DecodePrefix: %v", err)
			}
			got, unread := p.Records, p.Unread
			rest, err := p.Rest()
			if err != nil {
				t.Fatalf("Rest: %v", err)
			}
			if n := strings.Count(c.body, `"ID"`) - 1; len(rest) != n || (n > 0 && rest[n-1].ID != "3") {
				t.Errorf("the rest is %+v, want records 2 and 3", rest)
			}
			if len(got) != 1 || got[0].ID != "1" || unread != c.unread {
				t.Errorf("records %+v, unread %d; want record 1, unread %d", got, unread, c.unread)
			}
			if asked > 1 {
				t.Errorf("enough asked %d times", asked)
			}
		})
	}
}
