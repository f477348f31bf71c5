package kaspersky

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// sections are what a Kaspersky incident record carries beyond its
// summary when read withHistory and withAffected, as Get reads it: its
// history (HistoryRecords), and as evidence its alerts (AlertIDs), its
// observables and its affected assets. Kaspersky's REST API has no
// comments.
var sections = []driver.Section{driver.SectionHistory, driver.SectionEvidence}

var (
	_ driver.HistoryReader  = (*Driver)(nil)
	_ driver.EvidenceReader = (*Driver)(nil)
)

// sectionWire is the part of the record the sections read.
type sectionWire struct {
	AlertIDs       []string `json:"AlertIDs"`
	CreatedAt      vtime    `json:"CreatedAt"`
	FirstEventTime vtime    `json:"FirstEventTime"`
	wireDetail
}

func readSections(inc *schema.Incident) (*sectionWire, error) {
	var w sectionWire
	if len(inc.Raw) == 0 {
		return nil, fmt.Errorf("kaspersky sections of %s: the incident was not read with Get", inc.ID)
	}
	if err := json.Unmarshal(inc.Raw, &w); err != nil {
		return nil, fmt.Errorf("kaspersky sections of %s: decode: %w", inc.ID, err)
	}
	return &w, nil
}

// History implements driver.HistoryReader from the record Get read
// withHistory: no request. Records come oldest first; the newest limit are
// kept. The author is the assignee a record names, when it names one
// (Kaspersky's history records carry no actor).
func (d *Driver) History(_ context.Context, inc *schema.Incident, limit int) (*driver.Items[schema.Change], error) {
	w, err := readSections(inc)
	if err != nil {
		return nil, err
	}
	all := make([]schema.Change, len(w.HistoryRecords))
	for i, h := range w.HistoryRecords {
		c := schema.Change{Time: h.CreatedAt.Time, What: h.Type, Params: h.Params}
		if h.EntityKind != "" && h.EntityKind != "Incident" {
			c.Entity = strings.ToLower(h.EntityKind) + " " + h.EntityID
		}
		all[i] = c
	}
	items, more := driver.Tail(all, limit)
	return &driver.Items[schema.Change]{Items: items, HasMore: more}, nil
}

// Evidence implements driver.EvidenceReader from the record Get read
// withAffected: the affected assets first (hosts, then accounts, as the
// vendor lists them), then the observables, then the linked alerts. No
// request. Alerts have no REST read in Kaspersky's documented API, so they
// are their ids and the incident's first event time.
func (d *Driver) Evidence(_ context.Context, inc *schema.Incident, limit int) (*driver.Items[schema.Evidence], error) {
	w, err := readSections(inc)
	if err != nil {
		return nil, err
	}
	at := cmp.Or(w.FirstEventTime.Time, w.CreatedAt.Time)
	var all []schema.Evidence
	for _, a := range w.Assets {
		e := schema.Evidence{Kind: schema.EvidenceAsset, Time: at, Link: "asset " + a.ID}
		role := "affected"
		switch {
		case a.IsAttacker && a.IsVictim:
			role = "attacker and victim"
		case a.IsAttacker:
			role = "attacker"
		case a.IsVictim:
			role = "victim"
		}
		switch a.Type {
		case assetHost:
			e.Entity = &schema.Entity{Kind: schema.EntityHost, ID: a.ID, Name: a.Name}
			e.Summary = fmt.Sprintf("host %s (%s)", a.Name, role)
			if h := a.HostInfo; h != nil {
				for _, ip := range h.IPAddress {
					e.Also = append(e.Also, schema.Entity{Kind: schema.EntityIP, ID: ip})
				}
				if len(h.IPAddress) > 0 {
					e.Summary += ", " + strings.Join(h.IPAddress, " ")
				}
				if h.OS != "" {
					e.Summary += ", " + h.OS
				}
			}
		case assetUser:
			e.Entity = &schema.Entity{Kind: schema.EntityUser, ID: a.ID, Name: a.Name}
			e.Summary = fmt.Sprintf("account %s (%s)", a.Name, role)
			if u := a.UserInfo; u != nil {
				if u.Mail != "" {
					e.Also = append(e.Also, schema.Entity{Kind: schema.EntityUser, Name: u.Mail})
					e.Summary += ", " + u.Mail
				}
				if u.SamAccountName != "" && u.Domain != "" {
					e.Summary += ", " + u.Domain + `\` + u.SamAccountName
				} else if u.SamAccountName != "" {
					e.Summary += ", " + u.SamAccountName
				}
			}
		default:
			e.Summary = fmt.Sprintf("%s %s (%s)", a.Type, a.Name, role)
		}
		all = append(all, e)
	}
	for _, o := range w.Observables {
		e := schema.Evidence{Kind: schema.EvidenceObservable, Time: at, Summary: o.Type + " " + o.Value}
		if o.Details != "" {
			e.Summary += ": " + o.Details
		}
		if kind := observableKind(o.Type); kind != "" {
			e.Entity = &schema.Entity{Kind: kind, ID: o.Value}
			if kind == schema.EntityUser {
				e.Entity = &schema.Entity{Kind: kind, Name: o.Value}
			}
		}
		all = append(all, e)
	}
	for _, id := range w.AlertIDs {
		all = append(all, schema.Evidence{Kind: schema.EvidenceAlert, Time: at, Summary: "alert " + id + " correlated into the incident", Link: "alert " + id})
	}
	items, more := driver.Head(all, limit)
	return &driver.Items[schema.Evidence]{Items: items, HasMore: more}, nil
}

// observableKind maps Kaspersky's observable types onto entity kinds.
func observableKind(t string) string {
	switch strings.ToLower(t) {
	case "ip":
		return schema.EntityIP
	case "md5", "sha1", "sha256":
		return schema.EntityHash
	case "username":
		return schema.EntityUser
	}
	return ""
}
