package wire

import (
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
