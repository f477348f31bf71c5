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
			attrs := []any{"tool", req.Params.Name, "duration", time.Since(start).Round(time.Millisecond)}
			if name := caller.Name(ctx); name != "" {
				attrs = append(attrs, "caller", name)
			}
			if id := sessionID(ctx); id != "" {
				attrs = append(attrs, "session", id)
			}
			switch {
			case err != nil:
				log.Error("tool call failed", append(attrs, "err", err)...)
			case res != nil && res.IsError:
				code, ref := errorFields(res)
				attrs = append(attrs, "code", code)
				if ref != nil {
					// Only errors with a server-side cause carry a ref;
					// bad arguments do not, and "ref=<nil>" says nothing.
					attrs = append(attrs, "ref", ref)
				}
				log.Info("tool call returned an error", attrs...)
			default:
				log.Info("tool call", attrs...)
			}
			return res, err
		}
	}
}

func errorFields(r *mcp.CallToolResult) (code, ref any) {
	if m, ok := r.StructuredContent.(map[string]any); ok {
		if e, ok := m["error"].(map[string]any); ok {
			return e["code"], e["ref"]
		}
	}
	return nil, nil
}
