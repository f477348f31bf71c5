package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// renderList is the compact text of a list result: a summary line, one line
// per incident, and the applied query. structuredContent carries the rest.
func renderList(res *incidents.ListResult, explain bool) string {
	var b strings.Builder
	b.Grow(512 + lineRoom(res.Incidents)) // the summary, the query and the native request around the lines
	q := res.Query
	switch {
	case explain:
		fmt.Fprintf(&b, "plan for %s (%s), not executed\n", q.Instance, q.Vendor)
	default:
		fmt.Fprintf(&b, "%d incident(s) from %s (%s)", len(res.Incidents), q.Instance, q.Vendor)
		writePaging(&b, res.Total, res.HasMore, res.NextCursor)
	}
	writeIncidents(&b, res.Incidents)
	writeQuery(&b, res.Notes, q.Now, q.OrderBy, &q.Filter, q.Where)
	b.WriteString("\nnative request: ")
	// Without HTML escaping: a model should read ">=", not "\u003e=".
	var native bytes.Buffer
	enc := json.NewEncoder(&native)
	enc.SetEscapeHTML(false)
	enc.Encode(q.Native)
	b.Write(bytes.TrimSuffix(native.Bytes(), []byte("\n")))
	if len(q.Pushed) > 0 {
		fmt.Fprintf(&b, "\npushed to vendor: %s; every record re-checked locally", strings.Join(q.Pushed, ", "))
	}
	return b.String()
}

// writePaging ends a list's summary line: the total when known, and how to
// go on.
func writePaging(b *strings.Builder, total *int, hasMore bool, cursor string) {
	if total != nil {
		fmt.Fprintf(b, ", %d match in total", *total)
	}
	if hasMore {
		b.WriteString("; more: call again with cursor=" + cursor)
	} else {
		b.WriteString("; no more")
	}
	b.WriteString("\n")
}

func writeIncidents(b *strings.Builder, incs []schema.Incident) {
	b.Grow(lineRoom(incs))
	for i := range incs {
		writeIncident(b, &incs[i])
		b.WriteByte('\n')
	}
}

// writeQuery writes the notes and the query as the service applied it; an
// order of "" is left out (counts have none).
func writeQuery(b *strings.Builder, notes []string, now time.Time, order string, c *schema.Criteria, where string) {
	for _, n := range notes {
		b.WriteString("note: " + n + "\n")
	}
	b.WriteString("query: now=" + now.Format(time.RFC3339))
	if order != "" {
		b.WriteString(" order=" + order)
	}
	if args := appliedArgs(c); args != "" {
		b.WriteString(" " + args)
	}
	if where != "" {
		b.WriteString(" where=" + where)
	}
}

// appliedArgs echoes every structured argument as the service applied it:
// severities and statuses as sets, times absolute, ids and values verbatim.
func appliedArgs(c *schema.Criteria) string {
	var parts []string
	list := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+"="+strings.Join(vals, ","))
		}
	}
	str := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+strconv.Quote(v))
		}
	}
	at := func(name string, t time.Time) {
		if !t.IsZero() {
			parts = append(parts, name+"="+t.Format(time.RFC3339Nano))
		}
	}
	if c.Impossible {
		parts = append(parts, "impossible=true")
	}
	list("severity", stringsOf(c.Severities))
	list("status", stringsOf(c.Statuses))
	at("created_after", c.CreatedAfter)
	at("created_before", c.CreatedBefore)
	at("updated_after", c.UpdatedAfter)
	at("updated_before", c.UpdatedBefore)
	str("title_contains", c.TitleContains)
	if c.Unassigned {
		parts = append(parts, "assignee=unassigned")
	}
	str("assignee", c.Assignee)
	list("tags", c.Tags)
	list("device_ids", c.DeviceIDs)
	list("user_ids", c.UserIDs)
	list("policy_ids", c.PolicyIDs)
	list("ids", c.IDs)
	str("tenant", c.Tenant)
	return strings.Join(parts, " ")
}

func stringsOf[T ~string](vals []T) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}

// leanListRecord drops from a list record what the page already says, what
// only restates another field, and the long free text: the instance (in the
// id and the query echo), the vendor (in the query echo), vendor_severity
// and vendor_status when they mapped onto a normalized value, and the
// description (the bulk of a record; the title says what it is about).
// get_incident keeps them all.
func leanListRecord(inc *schema.Incident) {
	inc.Instance, inc.Vendor, inc.Description = "", "", ""
	if inc.Severity != "" {
		inc.VendorSeverity = ""
	}
	if inc.Status != "" {
		inc.VendorStatus = ""
	}
	inc.Title = truncate(inc.Title, maxTitleLen)
}

// writeIncident writes one incident on one line: id, severity, status,
// created, title, then what is known of owner, devices and tags. It writes
// into the page's builder rather than joining parts of its own.
func writeIncident(b *strings.Builder, inc *schema.Incident) {
	sev := string(inc.Severity)
	if sev == "" {
		sev = "?"
	}
	b.WriteString(inc.ID)
	b.WriteString(" | ")
	b.WriteString(sev)
	b.WriteString(" | ")
	b.WriteString(string(inc.Status))
	b.WriteString(" | ")
	var stamp [len("2006-01-02T15:04Z")]byte
	b.Write(inc.CreatedAt.AppendFormat(stamp[:0], "2006-01-02T15:04Z"))
	b.WriteString(" | ")
	writeFenced(b, truncate(inc.Title, maxTitleInText))
	if inc.Assignee != nil {
		b.WriteString(" | assignee=")
		writeFenced(b, refName(*inc.Assignee))
	}
	if len(inc.Devices) > 0 {
		names := make([]string, 0, 4)
		for i, d := range inc.Devices {
			if i == 3 {
				names = append(names, "+"+strconv.Itoa(len(inc.Devices)-3))
				break
			}
			names = append(names, refName(d))
		}
		b.WriteString(" | devices=")
		writeFenced(b, strings.Join(names, ","))
	}
	if len(inc.Tags) > 0 {
		b.WriteString(" | tags=")
		writeFenced(b, strings.Join(inc.Tags, ","))
	}
}

// writeFenced writes fence(s).
func writeFenced(b *strings.Builder, s string) {
	b.WriteString(fenceOpen)
	b.WriteString(clean(s, true))
	b.WriteString(fenceClose)
}

// lineRoom is about what one incident's line takes, to grow a page's
// builder once: ids, fixed fields and separators run to about 120 bytes,
// then the title and the tags.
func lineRoom(incs []schema.Incident) int {
	n := 0
	for i := range incs {
		n += 128 + min(len(incs[i].Title), 4*maxTitleInText)
		for _, t := range incs[i].Tags {
			n += len(t) + 1
		}
	}
	return n
}

func quoteTitle(t string) string {
	return fence(truncate(t, maxTitleInText))
}

func refName(r schema.Ref) string {
	if r.Name != "" {
		return r.Name
	}
	return r.ID
}

// renderIncident is the text of get_incident: the fields that matter, one
// per line, then details as compact JSON.
func renderIncident(inc *schema.Incident) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	line("id", inc.ID)
	line("title", quoteTitle(inc.Title))
	line("severity", string(inc.Severity)+vendorValue(inc.VendorSeverity))
	line("status", string(inc.Status)+vendorValue(inc.VendorStatus))
	line("resolution", string(inc.Resolution))
	line("priority", inc.Priority)
	line("tenant", inc.Tenant)
	if inc.Assignee != nil {
		line("assignee", fence(refName(*inc.Assignee)))
	}
	for _, t := range []struct {
		k string
		v time.Time
	}{{"created_at", inc.CreatedAt}, {"updated_at", inc.UpdatedAt}, {"status_changed_at", inc.StatusChangedAt}} {
		if !t.v.IsZero() {
			line(t.k, t.v.Format(time.RFC3339))
		}
	}
	line("tags", fenceList(inc.Tags))
	line("devices", fenceList(refList(inc.Devices)))
	line("users", fenceList(refList(inc.Users)))
	if inc.Policy != nil {
		line("policy", fence(refName(*inc.Policy)))
	}
	line("detection_ids", strings.Join(inc.DetectionIDs, ", "))
	line("alert_ids", strings.Join(inc.AlertIDs, ", "))
	if inc.Mitre != nil {
		line("mitre", strings.Join(append(append([]string{}, inc.Mitre.Tactics...), inc.Mitre.Techniques...), ", "))
	}
	if inc.Description != "" {
		fmt.Fprintf(&b, "description: %s\n", fence(inc.Description))
	}
	if len(inc.Details) > 0 {
		fmt.Fprintf(&b, "details: %s\n", fence(plainJSON(inc.Details)))
	}
	return strings.TrimRight(b.String(), "\n")
}

func vendorValue(v string) string {
	if v == "" {
		return ""
	}
	return " (" + v + ")"
}

// fenceList fences each vendor string of a list, empty for an empty list.
func fenceList(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fence(v)
	}
	return strings.Join(out, ", ")
}

func refList(rs []schema.Ref) []string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = refName(r)
		if r.Name != "" && r.ID != "" && r.ID != r.Name {
			names[i] += " [" + r.ID + "]"
		}
	}
	return names
}

// incidentLine is one incident's line as a string, for renderings that
// embed it in a longer line (feeds, related incidents, view summaries).
func incidentLine(inc *schema.Incident) string {
	var b strings.Builder
	writeIncident(&b, inc)
	return b.String()
}
