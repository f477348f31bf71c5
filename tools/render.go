package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// renderQuery is the compact text of a list question's answer, written
// into one builder grown once: a summary line, one line per incident (or
// per counted dimension), one per instance of a fan-out or a count, the
// notes and the applied query, and for one instance the vendor's request.
// structuredContent carries the rest.
func renderQuery(res *incidents.QueryResult, explain bool) string {
	q := &res.Query
	// The native request is encoded first: its size is part of the text's.
	var native *jsonBuf
	if q.VendorPlan != nil {
		native = encodePlain(q.Native)
		defer native.release()
	}
	var b strings.Builder
	b.Grow(textRoom(res, native))
	switch {
	case res.Tally != nil:
		writeCounts(&b, res)
	case explain && q.VendorPlan != nil:
		b.WriteString("plan for ")
		writeSource(&b, q)
		b.WriteString(", not executed\n")
	case explain:
		b.WriteString("plan over ")
		writeSource(&b, q)
		b.WriteString(", not executed\n")
	default:
		b.WriteString(strconv.Itoa(len(res.Incidents)))
		b.WriteString(" incident(s) from ")
		writeSource(&b, q)
		writePaging(&b, res.Total, res.HasMore, res.NextCursor)
	}
	writeIncidents(&b, res.Incidents)
	for i := range res.Instances {
		writeStatus(&b, &res.Instances[i])
		b.WriteByte('\n')
	}
	order := q.OrderBy
	if res.Tally != nil {
		order = "" // counts have no order
	}
	writeQuery(&b, res.Notes, q.Now, order, &q.Filter, q.Where)
	if native == nil {
		return b.String()
	}
	b.WriteString("\nnative request: ")
	b.Write(native.text())
	if len(q.Pushed) > 0 {
		b.WriteString("\npushed to vendor: ")
		writeJoined(&b, q.Pushed, ", ")
		b.WriteString("; every record re-checked locally")
	}
	return b.String()
}

// writeSource names where a listing's incidents come from: "eset (eset)"
// for one instance, "a, b" for several.
func writeSource(b *strings.Builder, q *incidents.AppliedQuery) {
	if q.Instance == "" {
		writeJoined(b, q.Instances, ", ")
		return
	}
	b.WriteString(q.Instance)
	b.WriteString(" (")
	b.WriteString(q.Vendor)
	b.WriteByte(')')
}

// textRoom is about the length of renderQuery's text, to grow its builder
// once: the summary and the query's fixed parts, the incident lines, the
// instance lines, the notes, the applied arguments and the native request.
func textRoom(res *incidents.QueryResult, native *jsonBuf) int {
	n := 256 + lineRoom(res.Incidents) + len(res.Query.Where)
	if res.Paging != nil {
		n += len(res.NextCursor)
	}
	for i := range res.Instances {
		// The line, its counts and the instance's native request.
		n += 320 + len(res.Instances[i].Message)
	}
	for _, note := range res.Notes {
		n += len("note: \n") + len(note)
	}
	n += criteriaRoom(&res.Query.Filter)
	if native != nil {
		n += 64 + len(native.text())
		for _, p := range res.Query.Pushed {
			n += len(p) + 2
		}
	}
	if res.Tally != nil {
		for d, m := range res.Counts {
			n += len("by : \n") + len(d)
			for k := range m {
				n += len(k) + 8
			}
		}
	}
	return n
}

// writeJoined writes vals separated by sep, as strings.Join would return
// them.
func writeJoined[T ~string](b *strings.Builder, vals []T, sep string) {
	for i, v := range vals {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(string(v))
	}
}

// jsonBuf encodes a value as JSON without HTML escapes, reused across
// calls.
type jsonBuf struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonBufs = sync.Pool{New: func() any {
	j := &jsonBuf{}
	j.enc = json.NewEncoder(&j.buf)
	// A model should read ">=", not "\u003e=".
	j.enc.SetEscapeHTML(false)
	return j
}}

// encodePlain encodes v; the caller releases the buffer once it has used
// its text.
func encodePlain(v any) *jsonBuf {
	j := jsonBufs.Get().(*jsonBuf)
	j.buf.Reset()
	if err := j.enc.Encode(v); err != nil {
		j.buf.Reset()
		fmt.Fprint(&j.buf, v)
	}
	return j
}

// text is the encoded value without the encoder's newline.
func (j *jsonBuf) text() []byte { return bytes.TrimSuffix(j.buf.Bytes(), []byte("\n")) }

func (j *jsonBuf) release() {
	if j.buf.Cap() <= 64<<10 { // keep no outsized buffer alive
		jsonBufs.Put(j)
	}
}

// writePaging ends a list's summary line: the total when known, and how to
// go on.
func writePaging(b *strings.Builder, total *int, hasMore bool, cursor string) {
	if total != nil {
		b.WriteString(", ")
		b.WriteString(strconv.Itoa(*total))
		b.WriteString(" match in total")
	}
	if hasMore {
		b.WriteString("; more: call again with cursor=")
		b.WriteString(cursor)
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
		b.WriteString("note: ")
		b.WriteString(n)
		b.WriteByte('\n')
	}
	var stamp [len(time.RFC3339Nano) + 8]byte
	b.WriteString("query: now=")
	b.Write(now.AppendFormat(stamp[:0], time.RFC3339))
	if order != "" {
		b.WriteString(" order=")
		b.WriteString(order)
	}
	writeAppliedArgs(b, c)
	if where != "" {
		b.WriteString(" where=")
		b.WriteString(where)
	}
}

// writeAppliedArgs echoes every structured argument as the service applied
// it, each after a space: severities and statuses as sets, times absolute,
// ids and values verbatim.
func writeAppliedArgs(b *strings.Builder, c *schema.Criteria) {
	var scratch [64]byte
	list := func(name string, vals []string) {
		if len(vals) > 0 {
			b.WriteByte(' ')
			b.WriteString(name)
			b.WriteByte('=')
			writeJoined(b, vals, ",")
		}
	}
	str := func(name, v string) {
		if v != "" {
			b.WriteByte(' ')
			b.WriteString(name)
			b.WriteByte('=')
			b.Write(strconv.AppendQuote(scratch[:0], v))
		}
	}
	at := func(name string, t time.Time) {
		if !t.IsZero() {
			b.WriteByte(' ')
			b.WriteString(name)
			b.WriteByte('=')
			b.Write(t.AppendFormat(scratch[:0], time.RFC3339Nano))
		}
	}
	if c.Impossible {
		b.WriteString(" impossible=true")
	}
	if len(c.Severities) > 0 {
		b.WriteString(" severity=")
		writeJoined(b, c.Severities, ",")
	}
	if len(c.Statuses) > 0 {
		b.WriteString(" status=")
		writeJoined(b, c.Statuses, ",")
	}
	at("created_after", c.CreatedAfter)
	at("created_before", c.CreatedBefore)
	at("updated_after", c.UpdatedAfter)
	at("updated_before", c.UpdatedBefore)
	str("title_contains", c.TitleContains)
	if c.Unassigned {
		b.WriteString(" assignee=unassigned")
	}
	str("assignee", c.Assignee)
	list("tags", c.Tags)
	list("device_ids", c.DeviceIDs)
	list("user_ids", c.UserIDs)
	list("policy_ids", c.PolicyIDs)
	list("ids", c.IDs)
	str("tenant", c.Tenant)
}

// criteriaRoom is about what writeAppliedArgs writes: a name and its
// value for each argument set.
func criteriaRoom(c *schema.Criteria) int {
	const name = len(" updated_before=")
	n := 0
	for _, t := range []time.Time{c.CreatedAfter, c.CreatedBefore, c.UpdatedAfter, c.UpdatedBefore} {
		if !t.IsZero() {
			n += name + len(time.RFC3339Nano)
		}
	}
	for _, vals := range [][]string{c.Tags, c.DeviceIDs, c.UserIDs, c.PolicyIDs, c.IDs} {
		if len(vals) > 0 {
			n += name
		}
		for _, v := range vals {
			n += len(v) + 1
		}
	}
	n += 2*name + 16*(len(c.Severities)+len(c.Statuses))
	return n + 2*(len(c.TitleContains)+len(c.Assignee)+len(c.Tenant)) + 3*name
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
		writeFencedList(b, names)
	}
	if len(inc.Tags) > 0 {
		b.WriteString(" | tags=")
		writeFencedList(b, inc.Tags)
	}
}

// writeFenced writes fence(s).
func writeFenced(b *strings.Builder, s string) {
	b.WriteString(fenceOpen)
	b.WriteString(clean(s, true))
	b.WriteString(fenceClose)
}

// writeFencedList writes fence(strings.Join(vals, ",")): value by value
// when none needs cleaning (cleaning goes rune by rune, and a comma needs
// none), so that a page's lines join no strings of their own.
func writeFencedList(b *strings.Builder, vals []string) {
	for _, v := range vals {
		if clean(v, true) != v {
			writeFenced(b, strings.Join(vals, ","))
			return
		}
	}
	b.WriteString(fenceOpen)
	writeJoined(b, vals, ",")
	b.WriteString(fenceClose)
}

// lineRoom is about what the incidents' lines take, to grow a page's
// builder once: each line's fields as writeIncident writes them, unless
// cleaning changes them.
func lineRoom(incs []schema.Incident) int {
	const (
		fixed  = 4*len(" | ") + len("2006-01-02T15:04Z") + len("\n") // separators, created, newline
		fenced = len(fenceOpen) + len(fenceClose)
	)
	n := 0
	for i := range incs {
		inc := &incs[i]
		n += fixed + len(inc.ID) + max(len(inc.Severity), 1) + len(inc.Status) + fenced + min(len(inc.Title), 4*maxTitleInText)
		if inc.Assignee != nil {
			n += len(" | assignee=") + fenced + len(refName(*inc.Assignee))
		}
		if len(inc.Devices) > 0 {
			n += len(" | devices=") + fenced + len("+000")
			for _, d := range inc.Devices[:min(len(inc.Devices), 3)] {
				n += len(refName(d)) + 1
			}
		}
		if len(inc.Tags) > 0 {
			n += len(" | tags=") + fenced
		}
		for _, t := range inc.Tags {
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
