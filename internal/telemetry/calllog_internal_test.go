package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

type fakeError struct{ code, ref string }

func (f *fakeError) ToolError() (code, ref string) { return f.code, f.ref }

// TestCallLogErrorFields: the call log takes a failed call's code and ref
// from the typed result the tool attached; a ref is logged only when there
// is one, and a result that says nothing logs no code.
func TestCallLogErrorFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result *mcp.CallToolResult
		want   []string
		absent []string
	}{
		{"vendor failure", failed(&fakeError{code: "unavailable", ref: "r-123"}), []string{"code=unavailable", "ref=r-123"}, nil},
		{"bad argument", failed(&fakeError{code: "invalid_argument"}), []string{"code=invalid_argument"}, []string{"ref="}},
		{"untyped", failed(struct{ Error string }{"x"}), []string{"code=<nil>"}, []string{"ref="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			h := CallLog(slog.New(slog.NewTextHandler(&out, nil)))(func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return tc.result, nil
			})
			req := mcp.CallToolRequest{}
			req.Params.Name = "list_incidents"
			if _, err := h(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			line := out.String()
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("log %q lacks %q", line, w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(line, a) {
					t.Errorf("log %q has %q", line, a)
				}
			}
		})
	}
}

// TestCallLogDroppedLineAllocatesNothing: when the logger's level drops a
// call's line (bench-load runs at error), the middleware builds none of its
// attributes; at info it still writes the line.
func TestCallLogDroppedLineAllocatesNothing(t *testing.T) {
	res := mcp.NewToolResultText("ok")
	next := func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { return res, nil }
	req := mcp.CallToolRequest{}
	req.Params.Name = "list_incidents"
	ctx := t.Context()
	var dropped bytes.Buffer
	quiet := CallLog(slog.New(slog.NewTextHandler(&dropped, &slog.HandlerOptions{Level: slog.LevelError})))(next)
	if n := testing.AllocsPerRun(100, func() { _, _ = quiet(ctx, req) }); n != 0 || dropped.Len() > 0 {
		t.Errorf("a dropped line allocates %v objects a call, want 0; logged %q", n, dropped.String())
	}
	var out bytes.Buffer
	if _, err := CallLog(slog.New(slog.NewTextHandler(&out, nil)))(next)(ctx, req); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "msg=\"tool call\" tool=list_incidents") {
		t.Errorf("info line %q", out.String())
	}
}

func failed(structured any) *mcp.CallToolResult {
	r := mcp.NewToolResultStructured(structured, "error")
	r.IsError = true
	return r
}
