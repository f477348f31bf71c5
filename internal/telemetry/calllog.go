package telemetry

import (
	"context"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/caller"
)

// CallLog returns a tool handler middleware that logs one line per tool
// call with the caller, so every error's correlation id can be traced to
// who asked.
func CallLog(log *slog.Logger) server.ToolHandlerMiddleware {
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			start := time.Now()
			res, err := next(ctx, req)
			msg, level := "tool call", slog.LevelInfo
			switch {
			case err != nil:
				msg, level = "tool call failed", slog.LevelError
			case res != nil && res.IsError:
				msg = "tool call returned an error"
			}
			// A line the level drops costs nothing: its attributes (a
			// slice and boxed values) are built only for a line written.
			if !log.Enabled(ctx, level) {
				return res, err
			}
			attrs := []any{"tool", req.Params.Name, "duration", time.Since(start).Round(time.Millisecond)}
			if name := caller.Name(ctx); name != "" {
				attrs = append(attrs, "caller", name)
			}
			if id := sessionID(ctx); id != "" {
				attrs = append(attrs, "session", id)
			}
			switch {
			case err != nil:
				attrs = append(attrs, "err", err)
			case res != nil && res.IsError:
				code, ref := errorFields(res)
				attrs = append(attrs, "code", code)
				if ref != nil {
					// Only errors with a server-side cause carry a ref;
					// bad arguments do not, and "ref=<nil>" says nothing.
					attrs = append(attrs, "ref", ref)
				}
			}
			log.Log(ctx, level, msg, attrs...)
			return res, err
		}
	}
}

// ErrorResult is the structured result of a failed tool call: it names
// the error's code and, for an error with a cause in the server log, its
// correlation id.
type ErrorResult interface{ ToolError() (code, ref string) }

// errorFields are a failed call's code and ref, nil when its result does
// not say them.
func errorFields(r *mcp.CallToolResult) (code, ref any) {
	e, ok := r.StructuredContent.(ErrorResult)
	if !ok {
		return nil, nil
	}
	c, rf := e.ToolError()
	if rf == "" {
		return c, nil
	}
	return c, rf
}
