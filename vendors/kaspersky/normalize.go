package kaspersky

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// The mapping tables between Kaspersky's vocabulary and the normalized one:
// the one place they live. Records say "open" where the list filter says
// "new", so statuses have a table per direction.
var (
	severityFromKaspersky = map[string]schema.Severity{
		"low":      schema.SeverityLow,
		"medium":   schema.SeverityMedium,
		"high":     schema.SeverityHigh,
		"critical": schema.SeverityCritical,
	}
	statusFromKaspersky = map[string]schema.Status{
		"open":       schema.StatusOpen,
		"new":        schema.StatusOpen, // the filter's word, tolerated in data too
		"inProgress": schema.StatusInProgress,
		"hold":       schema.StatusOnHold,
		"closed":     schema.StatusClosed,
	}
	// statusToFilter is the list filter's vocabulary; "resolved" has no
	// Kaspersky equivalent.
	statusToFilter = map[schema.Status]string{
		schema.StatusOpen:       "new",
		schema.StatusInProgress: "inProgress",
		schema.StatusOnHold:     "hold",
		schema.StatusClosed:     "closed",
	}
	resolutionFromKaspersky = map[string]schema.Resolution{
		"truePositive":  schema.ResolutionTruePositive,
		"falsePositive": schema.ResolutionFalsePositive,
		"lowPriority":   schema.ResolutionLowPriority,
		"merged":        schema.ResolutionMerged,
	}
	// resolutionToReason holds the close call's reasons. "merged" is set by
	// the console when it merges incidents, never through the API.
	resolutionToReason = map[schema.Resolution]string{
		schema.ResolutionTruePositive:  "truePositive",
		schema.ResolutionFalsePositive: "falsePositive",
		schema.ResolutionLowPriority:   "lowPriority",
	}
)

// Asset types in Assets[].Type.
const (
	assetHost = "host"
	assetUser = "user"
)

// wireIncident is the part of Kaspersky's incident record that lists
// normalize. It leaves out rules, observables, history and most of the asset
// inventory, so decoding a page does not build what nobody reads; Get decodes
// those into wireDetail.
type wireIncident struct {
	ID              int64       `json:"ID"`
	InternalID      string      `json:"InternalID"`
	TenantID        string      `json:"TenantID"`
	Name            string      `json:"Name"`
	Description     string      `json:"Description"`
	Assets          []wireAsset `json:"Assets"`
	AlertIDs        []string    `json:"AlertIDs"`
	Assignee        *wireRef    `json:"Assignee"`
	CreatedAt       vtime       `json:"CreatedAt"`
	UpdatedAt       vtime       `json:"UpdatedAt"`
	StatusChangedAt vtime       `json:"StatusChangedAt"`
	MITRETactics    []wireRef   `json:"MITRETactics"`
	MITRETechniques []wireRef   `json:"MITRETechniques"`
	Severity        string      `json:"Severity"`
	Status          string      `json:"Status"`
	Resolution      string      `json:"StatusResolution"`
	Priority        string      `json:"Priority"`
}

type wireRef struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

type wireAsset struct {
	ID       string    `json:"ID"`
	Name     string    `json:"Name"`
	Type     string    `json:"Type"`
	HostInfo *hostInfo `json:"HostInfo"`
	UserInfo *userInfo `json:"UserInfo"`
}

type hostInfo struct {
	DisplayName string `json:"DisplayName"`
}

type userInfo struct {
	DisplayName string `json:"displayName"` // UserInfo keys are lowerCamel
}

// wireDetail is what Get adds to wireIncident for Details.
type wireDetail struct {
	Rules []struct {
		ID         string `json:"ID"`
		Name       string `json:"Name"`
		Type       string `json:"Type"`
		Severity   string `json:"Severity"`
		Confidence string `json:"Confidence"`
		Custom     bool   `json:"Custom"`
	} `json:"Rules"`
	Observables []struct {
		Type    string `json:"Type"`
		Value   string `json:"Value"`
		Details string `json:"Details"`
	} `json:"Observables"`
	DetectionTechnologies []string `json:"DetectionTechnologies"`
	ExternalRef           string   `json:"ExternalRef"`
	SignOfCreation        string   `json:"SignOfCreation"`
	FirstEventTime        vtime    `json:"FirstEventTime"`
	LastEventTime         vtime    `json:"LastEventTime"`
	HistoryRecords        []struct {
		EntityID   string            `json:"entityID"`
		EntityKind string            `json:"entityKind"`
		Type       string            `json:"type"`
		CreatedAt  vtime             `json:"createdAt"`
		Params     map[string]string `json:"params"`
	} `json:"HistoryRecords"`
	Assets []struct {
		ID         string `json:"ID"`
		Type       string `json:"Type"`
		Name       string `json:"Name"`
		IsAttacker bool   `json:"IsAttacker"`
		IsVictim   bool   `json:"IsVictim"`
		HostInfo   *struct {
			IPAddress []string `json:"IpAddress"`
			FQDN      []string `json:"Fqdn"`
			OS        string   `json:"OS"`
		} `json:"HostInfo"`
		UserInfo *struct {
			Domain         string `json:"domain"`
			SamAccountName string `json:"samAccountName"`
			Mail           string `json:"mail"`
		} `json:"UserInfo"`
	} `json:"Assets"`
}

// listResponse is GET /incidents' answer but for its Incidents, which
// wire.DecodePrefix reads as wireIncident records. Total is a pointer so
// that an answer without it is told apart from a count of zero.
type listResponse struct {
	Total *int `json:"Total"`
}

// vtime reads the vendor's RFC 3339 timestamps. An empty, null or unreadable
// value is left zero (and so omitted) rather than failing the whole page: a
// missing StatusChangedAt must not hide a hundred incidents.
type vtime struct{ time.Time }

func (t *vtime) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if v, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
		t.Time = v.UTC()
	}
	return nil
}

// normalize maps a Kaspersky record onto the normalized model. Devices and
// users are only there when the request asked withAffected.
func normalize(w *wireIncident) schema.Incident {
	inc := schema.Incident{
		ID:              w.InternalID,
		Vendor:          Vendor,
		Tenant:          w.TenantID,
		Title:           w.Name,
		Description:     w.Description,
		Severity:        severityFromKaspersky[w.Severity],
		VendorSeverity:  w.Severity,
		Status:          statusFromKaspersky[w.Status],
		VendorStatus:    w.Status,
		Resolution:      resolutionFromKaspersky[w.Resolution],
		Priority:        w.Priority,
		CreatedAt:       w.CreatedAt.Time,
		UpdatedAt:       w.UpdatedAt.Time,
		StatusChangedAt: w.StatusChangedAt.Time,
		AlertIDs:        w.AlertIDs,
	}
	if w.ID != 0 {
		inc.Number = strconv.FormatInt(w.ID, 10)
	}
	if inc.Resolution == "" && w.Resolution != "" {
		inc.Resolution = schema.Resolution(w.Resolution) // kept verbatim
	}
	// One slice holds the assignee, devices and users, and one the MITRE
	// ids: a record cost a growing slice per list.
	hosts, users := 0, 0
	for i := range w.Assets {
		switch w.Assets[i].Type {
		case assetHost:
			hosts++
		case assetUser:
			users++
		}
	}
	assigned := w.Assignee != nil && (w.Assignee.ID != "" || w.Assignee.Name != "")
	refs := make([]schema.Ref, 0, b2i(assigned)+hosts+users)
	if assigned {
		refs = append(refs, schema.Ref{ID: w.Assignee.ID, Name: w.Assignee.Name})
		inc.Assignee = &refs[0]
	}
	inc.Devices, refs = assetRefs(w.Assets, assetHost, hosts, refs)
	inc.Users, _ = assetRefs(w.Assets, assetUser, users, refs)
	// The vendor always sends AlertIDs, so an empty list is a known zero.
	counts := &struct {
		c      schema.Counts
		alerts int64
	}{alerts: int64(len(w.AlertIDs))}
	counts.c.Alerts = &counts.alerts
	inc.Counts = &counts.c
	if nt, nq := len(w.MITRETactics), len(w.MITRETechniques); nt > 0 || nq > 0 {
		ids := make([]string, nt+nq)
		for i, t := range w.MITRETactics {
			ids[i] = t.ID
		}
		for i, t := range w.MITRETechniques {
			ids[nt+i] = t.ID
		}
		m := &schema.Mitre{}
		if nt > 0 {
			m.Tactics = ids[:nt:nt]
		}
		if nq > 0 {
			m.Techniques = ids[nt:]
		}
		inc.Mitre = m
	}
	return inc
}

// assetRefs appends the n assets of type typ to refs (which has room for
// them) and returns them as a list of their own, nil when n is 0: a host
// by its display name, a user by theirs, else by the asset's name.
func assetRefs(assets []wireAsset, typ string, n int, refs []schema.Ref) (list, rest []schema.Ref) {
	if n == 0 {
		return nil, refs
	}
	start := len(refs)
	for i := range assets {
		a := &assets[i]
		if a.Type != typ {
			continue
		}
		name := a.Name
		if a.HostInfo != nil && a.HostInfo.DisplayName != "" && typ == assetHost {
			name = a.HostInfo.DisplayName
		}
		if a.UserInfo != nil && a.UserInfo.DisplayName != "" && typ == assetUser {
			name = a.UserInfo.DisplayName
		}
		refs = append(refs, schema.Ref{ID: a.ID, Name: name})
	}
	return refs[start:len(refs):len(refs)], refs
}

// maxHistory caps the history shown in Details: a long-lived incident can
// gather hundreds of records, and a model needs the recent ones.
const maxHistory = 50

// Detail types: what Get shows beyond the normalized fields.
type (
	ruleDetail struct {
		ID         string `json:"id,omitempty"`
		Name       string `json:"name"`
		Type       string `json:"type,omitempty"`
		Severity   string `json:"severity,omitempty"`
		Confidence string `json:"confidence,omitempty"`
		Custom     bool   `json:"custom,omitempty"`
	}
	observableDetail struct {
		Type    string `json:"type"`
		Value   string `json:"value"`
		Details string `json:"details,omitempty"`
	}
	historyDetail struct {
		At         time.Time         `json:"at,omitzero"`
		Type       string            `json:"type"`
		EntityKind string            `json:"entity_kind,omitempty"`
		EntityID   string            `json:"entity_id,omitempty"`
		Params     map[string]string `json:"params,omitempty"`
	}
	assetDetail struct {
		ID       string   `json:"id"`
		Type     string   `json:"type"`
		Name     string   `json:"name,omitempty"`
		Attacker bool     `json:"attacker,omitempty"`
		Victim   bool     `json:"victim,omitempty"`
		IPs      []string `json:"ip,omitempty"`
		FQDNs    []string `json:"fqdn,omitempty"`
		OS       string   `json:"os,omitempty"`
		Account  string   `json:"account,omitempty"`
		Mail     string   `json:"mail,omitempty"`
	}
)

// details builds the vendor extras Get returns: rules, observables,
// detection technologies, history, the assets' roles and the external
// reference. Normalized fields (priority, resolution, devices) are not
// repeated here.
func details(raw json.RawMessage) (map[string]any, error) {
	var w wireDetail
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
	d := map[string]any{}
	if len(w.Rules) > 0 {
		rules := make([]ruleDetail, len(w.Rules))
		for i, r := range w.Rules {
			rules[i] = ruleDetail{ID: r.ID, Name: r.Name, Type: r.Type, Severity: r.Severity, Confidence: r.Confidence, Custom: r.Custom}
		}
		d["rules"] = rules
	}
	if len(w.Observables) > 0 {
		obs := make([]observableDetail, len(w.Observables))
		for i, o := range w.Observables {
			obs[i] = observableDetail{Type: o.Type, Value: o.Value, Details: o.Details}
		}
		d["observables"] = obs
	}
	if len(w.DetectionTechnologies) > 0 {
		d["detection_technologies"] = w.DetectionTechnologies
	}
	if w.ExternalRef != "" {
		d["external_ref"] = w.ExternalRef
	}
	if w.SignOfCreation != "" {
		d["sign_of_creation"] = w.SignOfCreation
	}
	if !w.FirstEventTime.IsZero() {
		d["first_event_time"] = w.FirstEventTime.Time
	}
	if !w.LastEventTime.IsZero() {
		d["last_event_time"] = w.LastEventTime.Time
	}
	if n := len(w.HistoryRecords); n > 0 {
		recs := w.HistoryRecords[max(0, n-maxHistory):]
		hist := make([]historyDetail, len(recs))
		for i, h := range recs {
			hist[i] = historyDetail{At: h.CreatedAt.Time, Type: h.Type, EntityKind: h.EntityKind, EntityID: h.EntityID, Params: h.Params}
		}
		d["history"] = hist
		if n > maxHistory {
			d["history_omitted"] = n - maxHistory
		}
	}
	if len(w.Assets) > 0 {
		assets := make([]assetDetail, len(w.Assets))
		for i, a := range w.Assets {
			ad := assetDetail{ID: a.ID, Type: a.Type, Name: a.Name, Attacker: a.IsAttacker, Victim: a.IsVictim}
			if h := a.HostInfo; h != nil {
				ad.IPs, ad.FQDNs, ad.OS = h.IPAddress, h.FQDN, h.OS
			}
			if u := a.UserInfo; u != nil {
				if u.SamAccountName != "" {
					ad.Account = u.SamAccountName
					if u.Domain != "" {
						ad.Account = u.Domain + `\` + u.SamAccountName
					}
				}
				ad.Mail = u.Mail
			}
			assets[i] = ad
		}
		d["assets"] = assets
	}
	if len(d) == 0 {
		return nil, nil
	}
	return d, nil
}
