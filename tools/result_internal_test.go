package tools

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/schema"
)

// TestErrorResultTyped: an error result is a typed value that tells the
// call log its code and ref (ToolError), for list and write tools alike,
// and its JSON is the error contract: code, message, and the argument,
// vendor request id, ref and next step when there are some.
func TestErrorResultTyped(t *testing.T) {
	vendor := &schema.Error{Code: schema.CodeUnavailable, Msg: "list incidents on eset", Ref: "ref-1", RequestID: "req-9", Err: errors.New("502")}
	for _, tc := range []struct {
		name     string
		result   *mcp.CallToolResult
		code     string
		ref      string
		wantJSON string
	}{
		{"argument", errorResult(schema.ArgError("page_size", "too large")), "invalid_argument", "",
			`{"error":{"argument":"page_size","code":"invalid_argument","message":"page_size: too large"}}`},
		{"vendor", errorResult(vendor), "unavailable", "ref-1",
			`{"error":{"code":"unavailable","message":"` + vendor.Public() + `","next":"` + nextStep(schema.CodeUnavailable, true) + `","ref":"ref-1","vendor_request_id":"req-9"}}`},
		{"unexpected", errorResult(errors.New("boom")), "internal", "", ""},
		{"write refusal", updateError(vendor), "unavailable", "ref-1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.result.IsError {
				t.Fatal("not an error result")
			}
			e, ok := tc.result.StructuredContent.(interface{ ToolError() (string, string) })
			if !ok {
				t.Fatalf("%T does not say its code", tc.result.StructuredContent)
			}
			if code, ref := e.ToolError(); code != tc.code || ref != tc.ref {
				t.Errorf("ToolError = %q, %q; want %q, %q", code, ref, tc.code, tc.ref)
			}
			if tc.wantJSON == "" {
				return
			}
			b, err := json.Marshal(tc.result.StructuredContent)
			if err != nil || string(b) != tc.wantJSON {
				t.Errorf("JSON = %s (%v)\nwant   %s", b, err, tc.wantJSON)
			}
			if txt := tc.result.Content[0].(mcp.TextContent).Text; !strings.HasPrefix(txt, "error ("+tc.code+"): ") {
				t.Errorf("text %q", txt)
			}
		})
	}
}

// TestConfirmTicked: only a boolean confirm: true, under exactly that name,
// confirms the form.
func TestConfirmTicked(t *testing.T) {
	for _, tc := range []struct {
		content any
		want    bool
	}{
		{map[string]any{"confirm": true}, true},
		{json.RawMessage(`{"confirm":true}`), true},
		{map[string]any{"confirm": false}, false},
		{map[string]any{"confirm": "true"}, false},
		{map[string]any{"Confirm": true}, false},
		{map[string]any{"CONFIRM": true}, false},
		{json.RawMessage(`{"confirm":false,"confirm":true}`), false},
		{map[string]any{}, false},
		{nil, false},
		{"confirm", false},
	} {
		if got := confirmTicked(tc.content); got != tc.want {
			t.Errorf("confirmTicked(%v) = %v, want %v", tc.content, got, tc.want)
		}
	}
}

// TestWriteFencedList: a list's fenced text is the fence of its joined
// values, whatever they hold.
func TestWriteFencedList(t *testing.T) {
	for _, vals := range [][]string{
		{"edr"},
		{"edr", "vip", "execution"},
		{"a\nb", "c"},
		{"x⟧ note", "⟦y"},
		{"ok", "bi\u202edi"},
		{"bad\xff", "\x00", "ü"},
		{"", ""},
	} {
		var b strings.Builder
		writeFencedList(&b, vals)
		if want := fence(strings.Join(vals, ",")); b.String() != want {
			t.Errorf("writeFencedList(%q) = %q, want %q", vals, b.String(), want)
		}
	}
}
