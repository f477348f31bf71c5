package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/incident-mcp/incident-mcp/incidents"
)

// renderMany is the text of a list over several instances: a summary, one
// line per incident, one line per instance status, the applied query.
func renderMany(res *incidents.ManyResult, explain bool) string {
	var b strings.Builder
	q := res.Query
	if explain {
		fmt.Fprintf(&b, "plan over %s, not executed\n", strings.Join(q.Instances, ", "))
	} else {
		fmt.Fprintf(&b, "%d incident(s) from %s", len(res.Incidents), strings.Join(q.Instances, ", "))
		writePaging(&b, res.Total, res.HasMore, res.NextCursor)
	}
	writeIncidents(&b, res.Incidents)
	for _, st := range res.Instances {
		b.WriteString(statusLine(st) + "\n")
	}
	writeQuery(&b, res.Notes, q.Now, q.OrderBy, &q.Filter, q.Where)
	return b.String()
}

// plural is "1 request", "3 requests".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// plainJSON is v as compact JSON without HTML escapes: the text a model
// reads shows "create_time >= … &&", never \u003e or \u0026.
func plainJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimRight(b.String(), "\n")
}

func statusLine(st incidents.InstanceStatus) string {
	s := fmt.Sprintf("instance %s (%s): %s", st.Instance, st.Vendor, st.Status)
	if st.Message != "" {
		s += ": " + st.Message
	}
	if st.Status != incidents.StatusDone {
		s += fmt.Sprintf("; %d returned, %d records scanned in %s", st.Returned, st.Scan.Scanned, plural(st.Scan.Requests, "request"))
		if st.HasMore {
			s += ", more to read"
		}
	}
	if st.Native != nil {
		s += "; native request " + plainJSON(st.Native)
	}
	return s
}

// renderCount is the text of a count: the total (exact or a lower bound),
// each dimension's counts largest first (time buckets in date order, the
// empty ones too), each instance's scan.
func renderCount(res *incidents.CountResult) string {
	var b strings.Builder
	bound := "exactly"
	if !res.Exact {
		bound = "at least"
	}
	fmt.Fprintf(&b, "%s %d matching incident(s) over %s\n", bound, res.Total, strings.Join(res.Query.Instances, ", "))
	for _, dim := range slices.Sorted(maps.Keys(res.Counts)) {
		m := res.Counts[dim]
		keys := incidents.SortedCountKeys(m)
		if incidents.IsTimeDimension(dim) {
			keys = slices.Sorted(maps.Keys(m))
		}
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, m[k])
		}
		fmt.Fprintf(&b, "by %s: %s\n", dim, strings.Join(parts, " "))
	}
	for _, st := range res.Instances {
		b.WriteString(statusLine(st) + "\n")
	}
	writeQuery(&b, res.Notes, res.Query.Now, "", &res.Query.Filter, res.Query.Where)
	return b.String()
}
