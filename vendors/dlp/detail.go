package dlp

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// sections are what a DLP incident record carries beyond its summary when
// read with include_details, as Get reads it: its close note (the one
// comment DLP keeps) and, as evidence, the event that raised it and the
// data's lineage. DLP keeps no history of changes.
var sections = []driver.Section{driver.SectionComments, driver.SectionEvidence}

var (
	_ driver.CommentReader  = (*Driver)(nil)
	_ driver.EvidenceReader = (*Driver)(nil)
)

func readRecord(inc *schema.Incident) (*wireIncident, error) {
	if len(inc.Raw) == 0 {
		return nil, fmt.Errorf("dlp sections of %s: the incident was not read with Get", inc.ID)
	}
	var w wireIncident
	if err := json.Unmarshal(inc.Raw, &w); err != nil {
		return nil, fmt.Errorf("dlp sections of %s: decode: %w", inc.ID, err)
	}
	return &w, nil
}

// Comments implements driver.CommentReader from the record Get read: the
// close note, written by the assignee when the incident was last updated
// (DLP records neither its author nor its time; these are the closest the
// record holds). No request.
func (d *Driver) Comments(_ context.Context, inc *schema.Incident, _ int) (*driver.Items[schema.Comment], error) {
	w, err := readRecord(inc)
	if err != nil {
		return nil, err
	}
	out := &driver.Items[schema.Comment]{Items: []schema.Comment{}}
	if strings.TrimSpace(w.CloseNote) != "" {
		at, _ := time.Parse(time.RFC3339, w.UpdatedAt)
		out.Items = append(out.Items, schema.Comment{Author: w.AssignedTo, Time: at.UTC(), Text: w.CloseNote, Final: true})
	}
	return out, nil
}

// Evidence implements driver.EvidenceReader from the record Get read with
// include_details: the event (action, file, destination, risk) on the
// incident's endpoint by its user, then each step of details.lineage. No
// request.
func (d *Driver) Evidence(_ context.Context, inc *schema.Incident, limit int) (*driver.Items[schema.Evidence], error) {
	w, err := readRecord(inc)
	if err != nil {
		return nil, err
	}
	created, _ := time.Parse(time.RFC3339, w.CreatedAt)
	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return s
	}
	user := schema.Entity{Kind: schema.EntityUser, ID: w.UserID, Name: w.UserName}
	var all []schema.Evidence
	if det := w.Details; len(det) > 0 {
		e := schema.Evidence{Kind: schema.EvidenceEvent, Time: created.UTC(), Link: "incident " + w.ID + " details",
			Entity: &schema.Entity{Kind: schema.EntityHost, ID: w.EndpointID, Name: w.EndpointName}, Also: []schema.Entity{user}}
		parts := []string{cmp.Or(str(det, "action"), "event") + " of " + cmp.Or(str(det, "file_name"), str(det, "file_path"), "a file")}
		if dest := str(det, "destination"); dest != "" {
			parts = append(parts, "to "+dest)
		}
		if app := str(det, "application"); app != "" {
			parts = append(parts, "with "+app)
		}
		parts = append(parts, "by "+w.UserName)
		if r, ok := det["risk_score"].(float64); ok {
			parts = append(parts, fmt.Sprintf("risk %.0f", r))
			e.Severity = fmt.Sprintf("risk %.0f", r)
		}
		if ct, ok := det["content_types"].([]any); ok && len(ct) > 0 {
			names := make([]string, 0, len(ct))
			for _, c := range ct {
				if s, ok := c.(string); ok {
					names = append(names, s)
				}
			}
			parts = append(parts, "content "+strings.Join(names, ","))
		}
		e.Summary = strings.Join(parts, " ")
		all = append(all, e)
		steps, _ := det["lineage"].([]any)
		for i, s := range steps {
			m, ok := s.(map[string]any)
			if !ok {
				continue
			}
			at, _ := time.Parse(time.RFC3339, str(m, "time"))
			le := schema.Evidence{Kind: schema.EvidenceLineage, Time: at.UTC(), Link: fmt.Sprintf("incident %s details.lineage[%d]", w.ID, i),
				Summary: strings.TrimSpace(cmp.Or(str(m, "event"), "step") + " " + str(m, "location") + " " + withPrefix("with ", str(m, "application")))}
			if ep := str(m, "endpoint"); ep != "" {
				le.Entity = &schema.Entity{Kind: schema.EntityHost, Name: ep}
			}
			if u := str(m, "user"); u != "" {
				le.Also = []schema.Entity{{Kind: schema.EntityUser, Name: u}}
			}
			all = append(all, le)
		}
	}
	items, more := driver.Head(all, limit)
	return &driver.Items[schema.Evidence]{Items: items, HasMore: more}, nil
}

func withPrefix(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
