package tools

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// relatedArgs are the list_incidents arguments related_to takes with it.
var relatedArgs = []string{"related_to", "related_within", "instance", "page_size"}

// related answers list_incidents with related_to.
func (h *handlers) related(ctx context.Context, args *ListArgs, pageSize int) *mcp.CallToolResult {
	if args.RelatedTo == "" {
		return errorResult(schema.ArgError("related_within", "goes with related_to: name the incident to relate to"))
	}
	if other := setListArgs(args, relatedArgs); len(other) > 0 {
		return errorResult(schema.ArgError(other[0], "related_to takes only %s: drop %s, or list without related_to", strings.Join(relatedArgs[1:], ", "), strings.Join(other, ", ")))
	}
	var within time.Duration
	if args.RelatedWithin != "" {
		now := time.Now().UTC()
		t, err := schema.ParseTime(args.RelatedWithin, now)
		if err != nil || !t.Before(now) {
			return errorResult(schema.ArgError("related_within", "expected a duration such as '72h' or '3d', got %q", args.RelatedWithin))
		}
		within = now.Sub(t).Round(time.Second)
	}
	res, err := h.svc.Related(ctx, incidents.RelatedRequest{ID: args.RelatedTo, Instances: args.Instance, Within: within, PageSize: pageSize})
	if err != nil {
		return h.failure(ListIncidents, err)
	}
	for i := range res.Incidents {
		leanListRecord(&res.Incidents[i].Incident)
	}
	return mcp.NewToolResultStructured(res, renderRelated(res))
}

// setListArgs names the arguments set in args other than allowed.
func setListArgs(args *ListArgs, allowed []string) []string {
	v, t := reflect.ValueOf(args).Elem(), reflect.TypeFor[ListArgs]()
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if !v.Field(i).IsZero() && !slices.Contains(allowed, name) {
			out = append(out, name)
		}
	}
	return out
}

// renderRelated is the text of a related_to answer: the incident's
// entities, then one line per related incident with what it shares.
func renderRelated(res *incidents.RelatedResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d incident(s) related to %s, created %s to %s", len(res.Incidents), res.Of, res.From.Format(time.RFC3339), res.To.Format(time.RFC3339))
	if res.HasMore {
		b.WriteString("; more may relate (see notes)")
	}
	b.WriteString("\n")
	parts := make([]string, len(res.Entities))
	for i, e := range res.Entities {
		parts[i] = entityText(e)
	}
	fmt.Fprintf(&b, "its entities: %s\n", strings.Join(parts, ", "))
	for i := range res.Incidents {
		r := &res.Incidents[i]
		shared := make([]string, len(r.Shared))
		for j, e := range r.Shared {
			shared[j] = entityText(e)
		}
		fmt.Fprintf(&b, "%s | shares %s\n", incidentLine(&r.Incident), strings.Join(shared, ", "))
	}
	for _, st := range res.Instances {
		fmt.Fprintf(&b, "instance %s (%s): %s, %d scanned", st.Instance, st.Vendor, st.Status, st.Scan.Scanned)
		if st.Message != "" {
			b.WriteString(": " + st.Message)
		}
		b.WriteString("\n")
	}
	for _, n := range res.Notes {
		b.WriteString("note: " + n + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
