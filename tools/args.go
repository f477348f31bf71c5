package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/schema"
)

// ListArgs are the arguments of list_incidents.
type ListArgs struct {
	Instance      string   `json:"instance,omitempty" jsonschema_description:"Which configured vendor instance to query (see the tool description). May be left out when only one is configured."`
	Severity      []string `json:"severity,omitempty" jsonschema:"enum=informational,enum=low,enum=medium,enum=high,enum=critical" jsonschema_description:"Keep incidents with ANY of these severities."`
	MinSeverity   string   `json:"min_severity,omitempty" jsonschema:"enum=informational,enum=low,enum=medium,enum=high,enum=critical" jsonschema_description:"Keep incidents at this severity or above (informational < low < medium < high < critical)."`
	Status        []string `json:"status,omitempty" jsonschema:"enum=open,enum=in_progress,enum=on_hold,enum=resolved,enum=closed" jsonschema_description:"Keep incidents in ANY of these statuses."`
	CreatedAfter  string   `json:"created_after,omitempty" jsonschema_description:"Created at or after this time (inclusive): RFC 3339 ('2026-11-01T08:00:00Z'), a date ('2026-11-01', UTC midnight) or an age before now ('90m', '24h', '3d', '2w')."`
	CreatedBefore string   `json:"created_before,omitempty" jsonschema_description:"Created before this time (exclusive); same formats as created_after."`
	UpdatedAfter  string   `json:"updated_after,omitempty" jsonschema_description:"Last updated at or after this time (inclusive); same formats as created_after."`
	UpdatedBefore string   `json:"updated_before,omitempty" jsonschema_description:"Last updated before this time (exclusive); same formats as created_after."`
	TitleContains string   `json:"title_contains,omitempty" jsonschema_description:"Keep incidents whose title contains this text, ignoring case. Literal text, not a pattern."`
	Assignee      string   `json:"assignee,omitempty" jsonschema_description:"Keep incidents assigned to this user id, or 'unassigned' for those nobody owns."`
	Tags          []string `json:"tags,omitempty" jsonschema_description:"Keep incidents carrying ANY of these tags (exact match)."`
	DeviceIDs     []string `json:"device_ids,omitempty" jsonschema_description:"Keep incidents involving ANY of these device ids (as get_incident shows them)."`
	UserIDs       []string `json:"user_ids,omitempty" jsonschema_description:"Keep incidents involving ANY of these user ids."`
	PolicyIDs     []string `json:"policy_ids,omitempty" jsonschema_description:"Keep incidents raised by ANY of these policy ids (vendors with policies)."`
	IDs           []string `json:"ids,omitempty" jsonschema_description:"Keep only these incident ids ('<instance>:<native id>')."`
	Tenant        string   `json:"tenant,omitempty" jsonschema_description:"Keep incidents of this tenant id (vendors with tenants)."`
	Where         string   `json:"where,omitempty" jsonschema_description:"Advanced: a CEL expression over 'incident' that must be true, ANDed with the other arguments. Example: incident.severity >= HIGH && 'ransomware' in incident.tags && incident.created_at > now - duration('72h'). Severity compares with INFORMATIONAL < LOW < MEDIUM < HIGH < CRITICAL; status with OPEN, IN_PROGRESS, ON_HOLD, RESOLVED, CLOSED; incident.title.icontains('x') matches ignoring case."`
	OrderBy       string   `json:"order_by,omitempty" jsonschema:"enum=created_at desc,enum=created_at asc,enum=updated_at desc,enum=updated_at asc,enum=severity desc,enum=severity asc" jsonschema_description:"Sort order; default 'created_at desc' (newest first). The result says if the vendor cannot sort this way."`
	PageSize      int      `json:"page_size,omitempty" jsonschema:"minimum=1,maximum=100,default=20" jsonschema_description:"How many matching incidents to return."`
	Cursor        string   `json:"cursor,omitempty" jsonschema_description:"next_cursor from the previous call, to get the next page. Repeat the same filter arguments with it."`
	Explain       bool     `json:"explain,omitempty" jsonschema_description:"Return the query plan (the native vendor request, what is checked locally, the absolute time window) without calling the vendor."`
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

// GetArgs are the arguments of get_incident.
type GetArgs struct {
	ID         string `json:"id" jsonschema:"required" jsonschema_description:"The incident id as list_incidents returns it: '<instance>:<native id>'."`
	IncludeRaw bool   `json:"include_raw,omitempty" jsonschema_description:"Also return the vendor's own record under 'raw'. Large; only when the normalized fields are not enough."`
}

// bind decodes a call's arguments into T, refusing unknown ones with the
// list of valid names.
func bind[T any](req mcp.CallToolRequest) (*T, error) {
	raw, err := json.Marshal(req.GetRawArguments())
	if err != nil {
		return nil, schema.ArgError("arguments", "unreadable arguments: %v", err)
	}
	out := new(T)
	if string(raw) == "null" {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		names := argNames[T]()
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, schema.ArgError(strings.Trim(field, `"`), "unknown argument; valid arguments are %s", strings.Join(names, ", "))
		}
		if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, schema.ArgError(ute.Field, "expected %s, got a JSON %s", ute.Type, ute.Value)
		}
		return nil, schema.ArgError("arguments", "%v; valid arguments are %s", err, strings.Join(names, ", "))
	}
	return out, nil
}

func argNames[T any]() []string {
	t := reflect.TypeFor[T]()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
