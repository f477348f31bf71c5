package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// feedArgs are the list_incidents arguments changed_since takes with it.
var feedArgs = []string{"changed_since", "instance", "page_size"}

// feed answers list_incidents with changed_since.
func (h *handlers) feed(ctx context.Context, args *ListArgs, pageSize int) *mcp.CallToolResult {
	if other := setListArgs(args, feedArgs); len(other) > 0 {
		return errorResult(schema.ArgError(other[0], "changed_since takes only instance and page_size: drop %s (filter the changes yourself, or list without changed_since)", strings.Join(other, ", ")))
	}
	res, err := h.svc.Feed(ctx, incidents.FeedRequest{Instances: args.Instance, Since: args.ChangedSince, PageSize: pageSize})
	if err != nil {
		return h.failure(ListIncidents, err)
	}
	for i := range res.Incidents {
		leanListRecord(&res.Incidents[i])
	}
	return mcp.NewToolResultStructured(res, renderFeed(res))
}

// renderFeed is the text of a feed batch: one line per changed incident,
// oldest change first, then the watermark.
func renderFeed(res *incidents.FeedResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d changed incident(s), oldest change first, through %s", len(res.Incidents), res.Through.Format(time.RFC3339))
	if res.HasMore {
		b.WriteString("; more changes are waiting: call again now with the watermark")
	}
	b.WriteString("\n")
	for i := range res.Incidents {
		inc := &res.Incidents[i]
		fmt.Fprintf(&b, "updated %s | %s\n", inc.UpdatedAt.Format("2006-01-02T15:04:05.000Z"), incidentLine(inc))
	}
	for _, st := range res.Instances {
		if st.Status != incidents.StatusOK {
			fmt.Fprintf(&b, "instance %s: %s %s\n", st.Instance, st.Status, st.Message)
		}
	}
	for _, n := range res.Notes {
		b.WriteString("note: " + n + "\n")
	}
	b.WriteString("watermark: " + res.Watermark)
	return b.String()
}
