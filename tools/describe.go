package tools

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// DescribeArgs are the arguments of describe_instances (none).
type DescribeArgs struct{}

func describeTool() mcp.Tool {
	desc := "Each instance's vendor, native, local and never-matching filters, sorts, writable fields, limits and last contact."
	return annotate(mcp.NewToolWithRawSchema(DescribeInstances, desc, schema.InputSchema[DescribeArgs]()),
		"Describe instances", true, false, true, false)
}

func (h *handlers) describe(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if _, err := bind[DescribeArgs](req); err != nil {
		return errorResult(err), nil
	}
	caps := h.svc.Describe(ctx)
	if len(caps) == 0 {
		return mcp.NewToolResultStructured(&describeResult{Instances: caps}, "no instance is configured for this caller; ask the server's operator for access"), nil
	}
	var b strings.Builder
	for _, c := range caps {
		mode := "writable: " + strings.Join(c.Writable, ", ")
		if c.ReadOnly {
			mode = "read-only"
		} else if len(c.Writable) == 0 {
			mode = "no writes"
		}
		fmt.Fprintf(&b, "%s (%s): %s\n  native filters: %s\n  local filters: %s\n", c.Name, c.Vendor, mode, strings.Join(c.Native, ", "), strings.Join(c.Local, ", "))
		if c.Access != "" {
			fmt.Fprintf(&b, "  your access: %s\n", c.Access)
		}
		if w := c.Write; w != nil {
			if len(w.Resolutions) > 0 {
				rs := make([]string, len(w.Resolutions))
				for i, r := range w.Resolutions {
					rs[i] = string(r)
				}
				fmt.Fprintf(&b, "  resolutions: %s\n", strings.Join(rs, ", "))
			}
			if w.Assignee != "" {
				fmt.Fprintf(&b, "  assignee: %s\n", w.Assignee)
			}
			if w.Comment != "" {
				fmt.Fprintf(&b, "  comment: %s\n", w.Comment)
			}
		}
		for _, arg := range slices.Sorted(maps.Keys(c.Unsatisfiable)) {
			fmt.Fprintf(&b, "  never matches: %s\n", c.Unsatisfiable[arg])
		}
		fmt.Fprintf(&b, "  sorts: %s\n  rate limit: %s; budget: %s\n", strings.Join(c.Sorts, ", "), c.RateLimit, c.BudgetText)
		if c.LastContact != nil {
			fmt.Fprintf(&b, "  last answered: %s\n", c.LastContact.Format("2006-01-02T15:04:05Z"))
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "  note: %s\n", n)
		}
	}
	return mcp.NewToolResultStructured(&describeResult{Instances: caps}, strings.TrimRight(b.String(), "\n")), nil
}

// describeResult is describe_instances' structured result.
type describeResult struct {
	Instances []incidents.Capabilities `json:"instances"`
}
