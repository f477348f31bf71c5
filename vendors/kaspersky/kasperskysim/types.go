package kasperskysim

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Tenant is one entry of GET /xdr/api/v1/tenants, field names as the vendor sends them.
type Tenant struct {
	ID          string   `json:"ID"`
	Name        string   `json:"Name"`
	Description string   `json:"Description"`
	Removable   bool     `json:"Removable"`
	Subtenants  []string `json:"Subtenants"`
	IsRoot      bool     `json:"IsRoot"`
}

// Incident is the vendor's incident record in its wire shape (seed 002). Times are kept
// as time.Time for callers; on the wire they are RFC 3339 with exactly three fractional
// digits and a Z, as in the vendor's examples ("2024-01-16T09:56:29.939Z").
type Incident struct {
	ID                    int             `json:"ID"`
	InternalID            string          `json:"InternalID"`
	TenantID              string          `json:"TenantID"`
	Name                  string          `json:"Name"`
	Description           string          `json:"Description"`
	Assets                []Asset         `json:"Assets,omitempty"`
	AlertIDs              []string        `json:"AlertIDs"`
	Assignee              *Assignee       `json:"Assignee,omitempty"`
	CreatedAt             time.Time       `json:"CreatedAt"`
	UpdatedAt             time.Time       `json:"UpdatedAt"`
	StatusChangedAt       time.Time       `json:"StatusChangedAt"`
	FirstEventTime        time.Time       `json:"FirstEventTime"`
	LastEventTime         time.Time       `json:"LastEventTime"`
	DetectionTechnologies []string        `json:"DetectionTechnologies"`
	MITRETactics          []MITRERef      `json:"MITRETactics"`
	MITRETechniques       []MITRERef      `json:"MITRETechniques"`
	Observables           []Observable    `json:"Observables"`
	Rules                 []Rule          `json:"Rules"`
	Severity              string          `json:"Severity"`
	ExternalRef           string          `json:"ExternalRef"`
	Status                string          `json:"Status"`
	StatusResolution      string          `json:"StatusResolution,omitempty"`
	SignOfCreation        string          `json:"SignOfCreation"`
	Priority              string          `json:"Priority"`
	HistoryRecords        []HistoryRecord `json:"HistoryRecords,omitempty"`
}

// Assignee is the analyst an incident is assigned to; absent when unassigned.
type Assignee struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

// MITRERef is one MITRE ATT&CK tactic (TA0001) or technique (T1059.001) id.
type MITRERef struct {
	ID string `json:"ID"`
}

// Observable is one indicator attached to an incident (ip, md5, sha256, domain, url, ...).
type Observable struct {
	Details string `json:"Details"`
	Type    string `json:"Type"`
	Value   string `json:"Value"`
}

// Rule is a detection rule that fired for the incident's alerts.
type Rule struct {
	Confidence string `json:"Confidence"`
	Custom     bool   `json:"Custom"`
	ID         string `json:"ID"`
	Name       string `json:"Name"`
	Severity   string `json:"Severity"`
	Type       string `json:"Type"`
}

// Asset is one affected host or account (Type "host" with HostInfo, "user" with UserInfo);
// sent only with withAffected.
type Asset struct {
	Data       map[string]string `json:"Data"`
	ID         string            `json:"ID"`
	IsAttacker bool              `json:"IsAttacker"`
	IsVictim   bool              `json:"IsVictim"`
	KSCServer  string            `json:"KSCServer"`
	Name       string            `json:"Name"`
	Type       string            `json:"Type"`
	HostInfo   *HostInfo         `json:"HostInfo,omitempty"`
	UserInfo   *UserInfo         `json:"UserInfo,omitempty"`
}

// HostInfo is the asset-inventory record of a host. The numeric times are Unix
// milliseconds: the docs only say "number", and milliseconds is what the vendor's other
// APIs use (unverified).
type HostInfo struct {
	ID               string    `json:"ID"`
	TenantID         string    `json:"TenantID"`
	DisplayName      string    `json:"DisplayName"`
	AssetSource      string    `json:"AssetSource"`
	CreatedAt        int64     `json:"CreatedAt"`
	IsDeleted        bool      `json:"IsDeleted"`
	IpAddress        []string  `json:"IpAddress"`
	Fqdn             []string  `json:"Fqdn"`
	MacAddress       []string  `json:"MacAddress"`
	DirectCategories []string  `json:"DirectCategories"`
	Weight           string    `json:"Weight"`
	CiiCategory      string    `json:"CiiCategory"`
	OS               string    `json:"OS"`
	OSVersion        string    `json:"OSVersion"`
	Sources          []string  `json:"Sources"`
	LastVisible      int64     `json:"LastVisible"`
	Products         []Product `json:"Products"`
	KSC              *KSCInfo  `json:"KSC,omitempty"`
	KICS             *KICSInfo `json:"KICS,omitempty"`
}

// Product is one Kaspersky application installed on a host.
type Product struct {
	ProductVersion string `json:"ProductVersion"`
	ProductName    string `json:"ProductName"`
}

// KSCInfo is the Kaspersky Security Center view of a managed host.
type KSCInfo struct {
	GroupID           int    `json:"GroupID"`
	GroupName         string `json:"GroupName"`
	StatusMask        []int  `json:"StatusMask"`
	StatusID          int    `json:"StatusID"`
	RtProtectionState int    `json:"RtProtectionState"`
	EncryptionState   int    `json:"EncryptionState"`
	AntiSpamStatus    int    `json:"AntiSpamStatus"`
	EmailAvStatus     int    `json:"EmailAvStatus"`
	DlpStatus         int    `json:"DlpStatus"`
	EdrStatus         int    `json:"EdrStatus"`
	LastAvBasesUpdate int64  `json:"LastAvBasesUpdate"`
	LastInfoUpdate    int64  `json:"LastInfoUpdate"`
	LastUpdate        int64  `json:"LastUpdate"`
	LastSystemStart   int64  `json:"LastSystemStart"`
	VirtualServerID   int    `json:"VirtualServerID"`
}

// KICSInfo is the Kaspersky Industrial CyberSecurity view of an OT device. The vendor
// spells these keys in lowerCamel, unlike the rest of HostInfo.
type KICSInfo struct {
	Status      string      `json:"status"`
	Risks       []KICSRisk  `json:"risks"`
	ServerIP    string      `json:"serverIP"`
	ConnectorID int         `json:"connectorID"`
	DeviceID    int         `json:"deviceID"`
	Hardware    KICSVersion `json:"hardware"`
	Software    KICSVersion `json:"software"`
}

// KICSRisk is one known vulnerability or risk of an OT device.
type KICSRisk struct {
	ID             int     `json:"ID"`
	Name           string  `json:"Name"`
	Category       string  `json:"Category"`
	Description    string  `json:"Description"`
	DescriptionURL string  `json:"DescriptionURL"`
	Severity       int     `json:"Severity"`
	Cvss           float64 `json:"Cvss"`
}

// KICSVersion names a device's hardware or software.
type KICSVersion struct {
	Model   string `json:"Model"`
	Version string `json:"Version"`
	Vendor  string `json:"Vendor"`
}

// UserInfo is the directory record of an account (Active Directory-like fields, keys in
// lowerCamel as the vendor sends them). Numeric times are Unix milliseconds (unverified).
type UserInfo struct {
	OsmpID                     string   `json:"osmpId"`
	TenantID                   string   `json:"tenantID"`
	TenantName                 string   `json:"tenantName"`
	Domain                     string   `json:"domain"`
	CN                         string   `json:"cn"`
	DisplayName                string   `json:"displayName"`
	DistinguishedName          string   `json:"distinguishedName"`
	Mail                       string   `json:"mail"`
	MailNickname               string   `json:"mailNickname"`
	Mobile                     string   `json:"mobile"`
	ObjectSID                  string   `json:"objectSID"`
	SamAccountName             string   `json:"samAccountName"`
	SamAccountType             string   `json:"samAccountType"`
	TelephoneNumber            string   `json:"telephoneNumber"`
	UserPrincipalName          string   `json:"userPrincipalName"`
	IsArchived                 bool     `json:"isArchived"`
	MemberOf                   []string `json:"memberOf"`
	Title                      string   `json:"title"`
	Division                   string   `json:"division"`
	Department                 string   `json:"department"`
	Manager                    string   `json:"manager"`
	Location                   string   `json:"location"`
	Company                    string   `json:"company"`
	StreetAddress              string   `json:"streetAddress"`
	PhysicalDeliveryOfficeName string   `json:"physicalDeliveryOfficeName"`
	ManagedObjects             []string `json:"managedObjects"`
	UserAccountControl         string   `json:"userAccountControl"`
	WhenCreated                int64    `json:"whenCreated"`
	WhenChanged                int64    `json:"whenChanged"`
	AccountExpires             int64    `json:"accountExpires"`
	BadPasswordTime            int64    `json:"badPasswordTime"`
}

// HistoryRecord is one change made to an incident or its alerts; sent only with
// withHistory. Keys are lowerCamel as in the vendor's example.
type HistoryRecord struct {
	EntityID   string            `json:"entityID"`
	EntityKind string            `json:"entityKind"`
	TenantID   string            `json:"tenantID"`
	Type       string            `json:"type"`
	CreatedAt  time.Time         `json:"createdAt"`
	Params     map[string]string `json:"params"`
}

// msTime renders a time the way the vendor does: UTC, always three fractional digits.
// time.Time's own encoding drops trailing zeros ("…:29.93Z", "…:29Z"), which a client
// written against the real console might not expect.
type msTime time.Time

func (t msTime) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(`"2006-01-02T15:04:05.000Z"`))
	return time.Time(t).UTC().AppendFormat(b, `"2006-01-02T15:04:05.000Z07:00"`), nil
}

// MarshalJSON writes the vendor's timestamp format; everything else is the plain encoding.
func (in Incident) MarshalJSON() ([]byte, error) {
	type plain Incident // a defined type drops the method set, so no recursion
	return json.Marshal(struct {
		plain
		CreatedAt       msTime `json:"CreatedAt"`
		UpdatedAt       msTime `json:"UpdatedAt"`
		StatusChangedAt msTime `json:"StatusChangedAt"`
		FirstEventTime  msTime `json:"FirstEventTime"`
		LastEventTime   msTime `json:"LastEventTime"`
	}{plain(in), msTime(in.CreatedAt), msTime(in.UpdatedAt), msTime(in.StatusChangedAt),
		msTime(in.FirstEventTime), msTime(in.LastEventTime)})
}

// MarshalJSON writes the vendor's timestamp format; everything else is the plain encoding.
func (h HistoryRecord) MarshalJSON() ([]byte, error) {
	type plain HistoryRecord
	return json.Marshal(struct {
		plain
		CreatedAt msTime `json:"createdAt"`
	}{plain(h), msTime(h.CreatedAt)})
}

// copier deep-copies incidents. Many incidents name the same host or account, and the
// dataset stores each such record once; the memo keeps that sharing inside one copy
// instead of multiplying a 50 000-incident dataset's inventory records by ~4.
type copier struct {
	hosts map[*HostInfo]*HostInfo
	users map[*UserInfo]*UserInfo
}

func newCopier() *copier {
	return &copier{hosts: map[*HostInfo]*HostInfo{}, users: map[*UserInfo]*UserInfo{}}
}

func (c *copier) incident(in *Incident) Incident {
	out := *in
	out.AlertIDs = slices.Clone(in.AlertIDs)
	out.DetectionTechnologies = slices.Clone(in.DetectionTechnologies)
	out.MITRETactics = slices.Clone(in.MITRETactics)
	out.MITRETechniques = slices.Clone(in.MITRETechniques)
	out.Observables = slices.Clone(in.Observables)
	out.Rules = slices.Clone(in.Rules)
	if in.Assignee != nil {
		a := *in.Assignee
		out.Assignee = &a
	}
	if in.Assets != nil {
		out.Assets = make([]Asset, len(in.Assets))
		for i, a := range in.Assets {
			a.Data = maps.Clone(a.Data)
			a.HostInfo = c.host(a.HostInfo)
			a.UserInfo = c.user(a.UserInfo)
			out.Assets[i] = a
		}
	}
	if in.HistoryRecords != nil {
		out.HistoryRecords = make([]HistoryRecord, len(in.HistoryRecords))
		for i, h := range in.HistoryRecords {
			h.Params = maps.Clone(h.Params)
			out.HistoryRecords[i] = h
		}
	}
	return out
}

func (c *copier) host(h *HostInfo) *HostInfo {
	return copyOnce(c.hosts, h, func(cp *HostInfo) {
		cp.IpAddress = slices.Clone(h.IpAddress)
		cp.Fqdn = slices.Clone(h.Fqdn)
		cp.MacAddress = slices.Clone(h.MacAddress)
		cp.DirectCategories = slices.Clone(h.DirectCategories)
		cp.Sources = slices.Clone(h.Sources)
		cp.Products = slices.Clone(h.Products)
		if h.KSC != nil {
			k := *h.KSC
			k.StatusMask = slices.Clone(h.KSC.StatusMask)
			cp.KSC = &k
		}
		if h.KICS != nil {
			k := *h.KICS
			k.Risks = slices.Clone(h.KICS.Risks)
			cp.KICS = &k
		}
	})
}

func (c *copier) user(u *UserInfo) *UserInfo {
	return copyOnce(c.users, u, func(cp *UserInfo) {
		cp.MemberOf = slices.Clone(u.MemberOf)
		cp.ManagedObjects = slices.Clone(u.ManagedObjects)
	})
}

// copyOnce copies *p the first time it is met, deep finishing the copy's
// slices and pointers, and returns that same copy every later time: what
// several incidents share in the original they share in the copy.
func copyOnce[T any](seen map[*T]*T, p *T, deep func(cp *T)) *T {
	if p == nil {
		return nil
	}
	if cp, ok := seen[p]; ok {
		return cp
	}
	cp := *p
	deep(&cp)
	seen[p] = &cp
	return &cp
}
