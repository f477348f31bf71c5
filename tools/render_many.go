package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/incident-mcp/incident-mcp/incidents"
)

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

// writeStatus writes what one instance did for a call over several.
func writeStatus(b *strings.Builder, st *incidents.InstanceStatus) {
	fmt.Fprintf(b, "instance %s (%s): %s", st.Instance, st.Vendor, st.Status)
	if st.Message != "" {
		b.WriteString(": " + st.Message)
	}
	if st.Status != incidents.StatusDone {
		fmt.Fprintf(b, "; %d returned, %d records scanned in %s", st.Returned, st.Scan.Scanned, plural(st.Scan.Requests, "request"))
		if st.HasMore {
			b.WriteString(", more to read")
		}
	}
	if st.Native != nil {
		b.WriteString("; native request " + plainJSON(st.Native))
	}
}

// writeCounts writes a count's summary: the total (exact or a lower
// bound) and each dimension's counts largest first (time buckets in date
// order, the empty ones too).
func writeCounts(b *strings.Builder, res *incidents.QueryResult) {
	bound := "exactly"
	if !res.Exact {
		bound = "at least"
	}
	fmt.Fprintf(b, "%s %d matching incident(s) over %s\n", bound, *res.Total, strings.Join(res.Query.Instances, ", "))
	for _, dim := range slices.Sorted(maps.Keys(res.Counts)) {
		m := res.Counts[dim]
		keys := incidents.SortedCountKeys(m)
		if incidents.IsTimeDimension(dim) {
			keys = slices.Sorted(maps.Keys(m))
		}
		b.WriteString("by " + dim + ": ")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k + "=" + strconv.Itoa(m[k]))
		}
		b.WriteByte('\n')
	}
}
