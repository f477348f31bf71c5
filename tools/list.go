package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/invopop/jsonschema"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// ListArgs are the arguments of list_incidents.
type ListArgs struct {
	Instance      Instances `json:"instance,omitempty" jsonschema_description:"Comma-separated names or '*' (default: all)."`
	Severity      []string  `json:"severity,omitempty" jsonschema_description:"Any of these severities."`
	MinSeverity   string    `json:"min_severity,omitempty" jsonschema_description:"This severity or above."`
	Status        []string  `json:"status,omitempty" jsonschema_description:"Any of these statuses."`
	CreatedAfter  string    `json:"created_after,omitempty" jsonschema_description:"Inclusive: RFC 3339, date, or age ('24h', '3d')."`
	CreatedBefore string    `json:"created_before,omitempty" jsonschema_description:"Exclusive."`
	UpdatedAfter  string    `json:"updated_after,omitempty" jsonschema_description:"Inclusive."`
	UpdatedBefore string    `json:"updated_before,omitempty" jsonschema_description:"Exclusive."`
	TitleContains string    `json:"title_contains,omitempty" jsonschema_description:"Literal text, any case."`
	Assignee      string    `json:"assignee,omitempty" jsonschema_description:"User id or 'unassigned'."`
	Tags          []string  `json:"tags,omitempty" jsonschema_description:"Any of these tags."`
	DeviceIDs     []string  `json:"device_ids,omitempty" jsonschema_description:"Any of these device ids."`
	UserIDs       []string  `json:"user_ids,omitempty" jsonschema_description:"Any of these user ids."`
	PolicyIDs     []string  `json:"policy_ids,omitempty" jsonschema_description:"Any of these policy ids."`
	IDs           []string  `json:"ids,omitempty" jsonschema_description:"Only these incident ids."`
	Tenant        string    `json:"tenant,omitempty" jsonschema_description:"This tenant id."`
	Where         string    `json:"where,omitempty" jsonschema_description:"CEL, e.g. incident.severity >= HIGH && incident.created_at > now - duration('72h') && incident.title.icontains('x')"`
	OrderBy       string    `json:"order_by,omitempty" jsonschema_description:"'created_at|updated_at|severity asc|desc'; default created_at desc."`
	PageSize      *int      `json:"page_size,omitempty" jsonschema:"minimum=1,maximum=100" jsonschema_description:"Matches per page (20)."`
	Cursor        string    `json:"cursor,omitempty" jsonschema_description:"next_cursor, with the same arguments."`
	CountBy       []string  `json:"count_by,omitempty" jsonschema_description:"Count by these, not list."`
	Explain       bool      `json:"explain,omitempty" jsonschema_description:"Plan only; no vendor call."`
	RelatedTo     string    `json:"related_to,omitempty" jsonschema_description:"Incident id: incidents sharing its hosts, users, hashes, IPs or techniques."`
	RelatedWithin string    `json:"related_within,omitempty" jsonschema_description:"Window each side (3d)."`
	ChangedSince  string    `json:"changed_since,omitempty" jsonschema_description:"Watermark, or start time: changes since, oldest first, and the next watermark."`
}

func (a *ListArgs) filter() schema.Filter {
	return schema.Filter{
		Severity: a.Severity, MinSeverity: a.MinSeverity, Status: a.Status,
		CreatedAfter: a.CreatedAfter, CreatedBefore: a.CreatedBefore,
		UpdatedAfter: a.UpdatedAfter, UpdatedBefore: a.UpdatedBefore,
		TitleContains: a.TitleContains, Assignee: a.Assignee, Tags: a.Tags,
		DeviceIDs: a.DeviceIDs, UserIDs: a.UserIDs, PolicyIDs: a.PolicyIDs, IDs: a.IDs, Tenant: a.Tenant,
	}
}

// Instances is the instance argument: one name, names separated by commas,
// or (from earlier clients) a list of names.
type Instances []string

// InstanceHeader is the x-mcp-header of the instance argument: a gateway
// routes and meters on Mcp-Param-Instance without parsing the body, and
// the server refuses a request whose header and body disagree.
const InstanceHeader = "Instance"

// UnmarshalJSON accepts a string of comma-separated names or a list.
func (in *Instances) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*in = strings.Split(s, ",")
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return schema.ArgError("instance", "expected an instance name or a list of names")
	}
	*in = l
	return nil
}

// JSONSchema is a string, so that it can travel in a header: x-mcp-header
// annotates primitives only.
func (Instances) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Extras: map[string]any{"x-mcp-header": InstanceHeader}}
}

func listTool(svc *incidents.Service) mcp.Tool {
	return listToolFor(instanceNames(svc.Instances()))
}

// listToolFor describes the tool over the named instances.
func listToolFor(names string) mcp.Tool {
	desc := `Security incidents of instances ` + names + `, normalized. No 'instance' = all, asked at once, merged; 'instances' gives each one's status. Arguments AND, list values OR; each record is re-checked locally. Page with next_cursor; trust has_more. count_by: counts instead (exact false = lower bound).
Example: {"min_severity":"high","status":["open"],"created_after":"3d"}`
	return annotate(mcp.NewToolWithRawSchema(ListIncidents, desc, schema.InputSchema[ListArgs]()),
		"List incidents", true, false, true, true)
}

func instanceNames(ins []incidents.InstanceInfo) string {
	names := make([]string, len(ins))
	for i, in := range ins {
		names[i] = in.Name
	}
	return strings.Join(names, ", ")
}

func (h *handlers) list(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := bind[ListArgs](req)
	if err != nil {
		return errorResult(err), nil
	}
	return h.answer(ctx, args), nil
}

// answer asks the list question args put: related incidents, changes
// since a watermark, or a page or the counts of the matches.
func (h *handlers) answer(ctx context.Context, args *ListArgs) *mcp.CallToolResult {
	pageSize, err := args.pageSize()
	if err != nil {
		return errorResult(err)
	}
	if args.RelatedTo != "" || args.RelatedWithin != "" {
		return h.related(ctx, args, pageSize)
	}
	if args.ChangedSince != "" {
		return h.feed(ctx, args, pageSize)
	}
	if args.CountBy != nil && args.PageSize != nil {
		return errorResult(schema.ArgError("page_size", "counts are not paged: leave page_size out with count_by"))
	}
	res, err := h.svc.Query(ctx, incidents.QueryRequest{
		Instances: args.Instance, Filter: args.filter(), Where: args.Where, OrderBy: args.OrderBy,
		PageSize: pageSize, Cursor: args.Cursor, Explain: args.Explain, CountBy: args.CountBy,
	})
	if err != nil {
		return h.failure(ListIncidents, err)
	}
	for i := range res.Incidents {
		leanListRecord(&res.Incidents[i])
	}
	return mcp.NewToolResultStructured(encodable(res), renderQuery(res, args.Explain))
}

// pageSize is page_size, 0 when left out (the service's default); an
// explicit 0 is refused like any other size below 1.
func (a *ListArgs) pageSize() (int, error) {
	switch {
	case a.PageSize == nil:
		return 0, nil
	case *a.PageSize < 1:
		return 0, schema.ArgError("page_size", "must be between 1 and %d, got %d; leave it out for %d", incidents.MaxPageSize, *a.PageSize, incidents.DefaultPageSize)
	}
	return *a.PageSize, nil
}
