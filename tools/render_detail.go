package tools

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// maxSectionText caps one comment's or evidence summary's text: a section
// of ten must stay readable within the call's answer.
const maxSectionText = 600

// capSections cleans and caps the vendor text of the included sections,
// as capText does the description.
func capSections(d *incidents.Detail) {
	if d.Comments != nil {
		for i := range d.Comments.Items {
			c := &d.Comments.Items[i]
			c.Text = truncate(clean(c.Text, false), maxSectionText)
		}
	}
	if d.Evidence != nil {
		for i := range d.Evidence.Items {
			e := &d.Evidence.Items[i]
			e.Summary = truncate(clean(e.Summary, true), maxSectionText)
		}
	}
}

// renderDetail is get_incident's text: the incident, its entities, then
// each included section, vendor text fenced.
func renderDetail(d *incidents.Detail) string {
	var b strings.Builder
	b.WriteString(renderIncident(d.Incident))
	// The devices, users and techniques are on their lines already; the
	// entities line adds what the evidence named besides.
	shown := schema.Entities(d.Incident)
	var parts []string
	for _, e := range d.Entities {
		if !slices.Contains(shown, e) {
			parts = append(parts, entityText(e))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, "\nentities: %s", strings.Join(parts, ", "))
	}
	if c := d.Comments; c != nil {
		sectionHead(&b, "comments", len(c.Items), c.HasMore, c.Unavailable)
		for _, it := range c.Items {
			fmt.Fprintf(&b, "\n- %s %s%s: %s", stamp(it.Time), fence(it.Author), finalMark(it.Final), fence(it.Text))
		}
	}
	if h := d.History; h != nil {
		sectionHead(&b, "history", len(h.Items), h.HasMore, h.Unavailable)
		for _, it := range h.Items {
			fmt.Fprintf(&b, "\n- %s %s", stamp(it.Time), fence(it.What))
			if it.Entity != "" {
				b.WriteString(" on " + fence(it.Entity))
			}
			if it.Author != "" {
				b.WriteString(" by " + fence(it.Author))
			}
			if len(it.Params) > 0 {
				keys := make([]string, 0, len(it.Params))
				for k := range it.Params {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				kv := make([]string, len(keys))
				for i, k := range keys {
					kv[i] = k + "=" + it.Params[k]
				}
				b.WriteString(" " + fence(strings.Join(kv, " ")))
			}
		}
	}
	if e := d.Evidence; e != nil {
		sectionHead(&b, "evidence", len(e.Items), e.HasMore, e.Unavailable)
		for _, it := range e.Items {
			fmt.Fprintf(&b, "\n- %s %s", it.Kind, stamp(it.Time))
			if it.Severity != "" {
				b.WriteString(" " + fence(it.Severity))
			}
			if it.Entity != nil {
				b.WriteString(" " + entityText(*it.Entity))
			}
			b.WriteString(": " + fence(it.Summary))
			if it.Link != "" {
				b.WriteString(" (" + fence(it.Link) + ")")
			}
		}
	}
	return b.String()
}

func sectionHead(b *strings.Builder, name string, n int, more bool, unavailable string) {
	switch {
	case unavailable != "":
		fmt.Fprintf(b, "\n%s: %s", name, unavailable)
	case n == 0:
		fmt.Fprintf(b, "\n%s: none", name)
	default:
		fmt.Fprintf(b, "\n%s (%d", name, n)
		if more {
			b.WriteString(", more: raise limit")
		}
		b.WriteString("):")
	}
}

func entityText(e schema.Entity) string {
	v := e.Name
	if v == "" {
		v = e.ID
	} else if e.ID != "" && e.ID != e.Name {
		v += " [" + e.ID + "]"
	}
	return e.Kind + "=" + fence(v)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func finalMark(final bool) string {
	if final {
		return " (final)"
	}
	return ""
}
