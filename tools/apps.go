package tools

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/apps"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// App-only tools: the incident table pages and counts through them; hosts
// keep them from the model, and clients without the extension neither list
// nor call them.
const (
	ViewIncidentsPage   = "incidents_view_page"
	ViewIncidentsCounts = "incidents_view_counts"
)

// summaryTop is how many incidents a shrunk list result names.
const summaryTop = 5

// Cache hints of the list results: the lists change only when the server
// restarts with another configuration.
const listTTLMs = 5 * 60 * 1000

// withApps binds list_incidents and update_incident to their views, adds the
// app-only tools and the view resources, and keeps app-only tools from
// clients that do not render views.
func withApps(s *server.MCPServer, svc *incidents.Service, log *slog.Logger, ts []server.ServerTool, update mcp.Tool) ([]server.ServerTool, mcp.Tool) {
	h := &handlers{svc: svc, log: log}
	for i := range ts {
		if ts[i].Tool.Name == ListIncidents {
			ts[i].Tool = apps.BindView(ts[i].Tool, apps.IncidentsURI)
			ts[i].Handler = h.listForViews
		}
	}
	ts = append(ts,
		server.ServerTool{Tool: apps.AppOnly(annotate(mcp.NewToolWithRawSchema(ViewIncidentsPage,
			"A page of the incident table: the arguments of list_incidents; the full page in structuredContent.",
			schema.InputSchema[ListArgs]()), "Incident table page", true, false, true, true), apps.IncidentsURI),
			Handler: h.viewPage},
		server.ServerTool{Tool: apps.AppOnly(annotate(mcp.NewToolWithRawSchema(ViewIncidentsCounts,
			"The incident table's counts by severity and status: the filter arguments of list_incidents.",
			schema.InputSchema[ListArgs]()), "Incident table counts", true, false, true, true), apps.IncidentsURI),
			Handler: h.viewCounts},
	)
	for _, o := range apps.ServerOptions() {
		o(s)
	}
	server.WithToolFilter(func(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
		if apps.ClientSupports(ctx) {
			return tools
		}
		return slices.DeleteFunc(tools, apps.IsAppOnly)
	})(s)
	s.AddResources(apps.Resources()...)
	return ts, apps.BindView(update, apps.ChangeURI)
}

// cacheHints are the ttlMs and cacheScope of the list results: private when
// what a caller sees depends on who they are.
func cacheHints(private bool) []server.ServerOption {
	scope := mcp.CacheScopePublic
	if private {
		scope = mcp.CacheScopePrivate
	}
	return []server.ServerOption{
		server.WithCacheHints(0, mcp.CacheScopePrivate),
		server.WithMethodCacheHints(mcp.MethodToolsList, listTTLMs, scope),
		server.WithMethodCacheHints(mcp.MethodPromptsList, listTTLMs, scope),
		server.WithMethodCacheHints(mcp.MethodResourcesList, listTTLMs, scope),
	}
}

// listForViews is list_incidents for a client that may render the table:
// there the model reads a summary and the view gets the page in _meta;
// elsewhere nothing changes.
func (h *handlers) listForViews(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	res, err := h.list(ctx, req)
	if err != nil || res == nil || res.IsError || !apps.ClientSupports(ctx) {
		return res, err
	}
	if explain, _ := req.GetArguments()["explain"].(bool); explain {
		return res, nil
	}
	return summarize(res), nil
}

// viewPage is one page for the table; the model never sees it.
func (h *handlers) viewPage(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := bind[ListArgs](req)
	if err != nil {
		return errorResult(err), nil
	}
	if args.CountBy != nil {
		return errorResult(schema.ArgError("count_by", "the table pages incidents; use %s for counts", ViewIncidentsCounts)), nil
	}
	return h.answer(ctx, args), nil
}

// viewCounts counts the table's matches by severity and status.
func (h *handlers) viewCounts(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := bind[ListArgs](req)
	if err != nil {
		return errorResult(err), nil
	}
	args.Cursor, args.PageSize, args.OrderBy, args.Explain = "", nil, "", false
	args.CountBy = []string{"severity", "status"}
	return h.answer(ctx, args), nil
}

// listSummary is what the model reads of a list the user sees as a table.
type listSummary struct {
	Returned   int            `json:"returned"`
	Total      *int           `json:"total,omitempty"`
	HasMore    bool           `json:"has_more"`
	NextCursor string         `json:"next_cursor,omitempty"`
	BySeverity map[string]int `json:"by_severity"`
	ByStatus   map[string]int `json:"by_status"`
	Top        []topIncident  `json:"top"`
	Shown      string         `json:"shown"`
}

type topIncident struct {
	ID       string          `json:"id"`
	Severity schema.Severity `json:"severity,omitempty"`
	Status   schema.Status   `json:"status,omitempty"`
	Title    string          `json:"title"`
}

const shownNote = "the user sees the whole page in the incident table; call get_incident for one incident"

// summarize shrinks a list result to counts, the most severe few and the
// cursor; the full page moves to _meta, which hosts give the view only.
func summarize(res *mcp.CallToolResult) *mcp.CallToolResult {
	r, ok := queryResultOf(res.StructuredContent)
	if !ok || r.Paging == nil { // a count is short already
		return res
	}
	incs := r.Incidents
	sum := listSummary{Total: r.Total, HasMore: r.HasMore, NextCursor: r.NextCursor}
	sum.Returned = len(incs)
	sum.BySeverity, sum.ByStatus = map[string]int{}, map[string]int{}
	for _, inc := range incs {
		sum.BySeverity[cmp.Or(string(inc.Severity), "unknown")]++
		sum.ByStatus[cmp.Or(string(inc.Status), "unknown")]++
	}
	top := slices.Clone(incs)
	slices.SortStableFunc(top, func(a, b schema.Incident) int { return cmp.Compare(b.Severity.Rank(), a.Severity.Rank()) })
	top = top[:min(summaryTop, len(top))]
	sum.Shown = shownNote

	var b strings.Builder
	b.WriteString(strconv.Itoa(len(incs)) + " incident(s) from ")
	writeSource(&b, &r.Query)
	writePaging(&b, sum.Total, sum.HasMore, sum.NextCursor)
	fmt.Fprintf(&b, "by severity: %s; by status: %s\n", countLine(sum.BySeverity), countLine(sum.ByStatus))
	if len(top) > 0 {
		fmt.Fprintf(&b, "most severe %d:\n", len(top))
	}
	for i := range top {
		sum.Top = append(sum.Top, topIncident{ID: top[i].ID, Severity: top[i].Severity, Status: top[i].Status, Title: top[i].Title})
		b.WriteString(incidentLine(&top[i]) + "\n")
	}
	for i := range r.Instances {
		if st := &r.Instances[i]; st.Status != incidents.StatusOK && st.Status != incidents.StatusDone {
			writeStatus(&b, st)
			b.WriteByte('\n')
		}
	}
	writeQuery(&b, r.Notes, r.Query.Now, r.Query.OrderBy, &r.Query.Filter, r.Query.Where)
	b.WriteString("\n(" + shownNote + ")")

	out := mcp.NewToolResultStructured(sum, b.String())
	out.Meta = mcp.NewMetaFromMap(map[string]any{apps.PageMetaKey: res.StructuredContent})
	return out
}

// countLine is "high=3 low=1", largest first.
func countLine(m map[string]int) string {
	keys := slices.SortedFunc(maps.Keys(m), func(x, y string) int {
		return cmp.Or(cmp.Compare(m[y], m[x]), strings.Compare(x, y))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
