package httpx

import (
	"encoding/json"
	"fmt"
	"net/url"
)

// Target is the address and JSON body of one API request, as every driver
// builds them: base + path + encoded query, and in encoded as JSON (no body
// when in is nil).
func Target(method, base, path string, query url.Values, in any) (u string, body []byte, err error) {
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			return "", nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	u = base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u, body, nil
}
