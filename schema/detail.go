package schema

import "time"

// Comment is one note people wrote on an incident (an ESET comment, a DLP
// close note), normalized where the vendors agree: who, when, what.
type Comment struct {
	Author string    `json:"author,omitempty"`
	Time   time.Time `json:"time,omitzero"`
	Text   string    `json:"text"`
	// Final marks the comment a close or reopen left.
	Final bool `json:"final,omitempty"`
}

// Change is one entry of an incident's history: what changed, when, by whom.
type Change struct {
	Time   time.Time `json:"time,omitzero"`
	Author string    `json:"author,omitempty"`
	// What is the vendor's kind of change ("statusChanged", "alertAdded").
	What string `json:"what"`
	// Entity is what changed, when not the incident itself ("alert 42").
	Entity string `json:"entity,omitempty"`
	// Params are the change's values (from, to, reason), vendor text.
	Params map[string]string `json:"params,omitempty"`
}

// Evidence kinds.
const (
	EvidenceDetection  = "detection"  // an EDR or antivirus detection (ESET)
	EvidenceAlert      = "alert"      // an alert linked to the incident (Kaspersky)
	EvidenceObservable = "observable" // an indicator: IP, hash, domain, URL
	EvidenceAsset      = "asset"      // an affected host or account
	EvidenceEvent      = "event"      // a data-flow event (DLP)
	EvidenceLineage    = "lineage"    // a step of the data's path (DLP)
)

// Evidence is one piece of what an incident is made of, normalized where the
// vendors agree: its kind, when it happened, what it is about (a host, a
// user, a file, an address), a one-line summary and the vendor's id or link
// to look it up.
type Evidence struct {
	Kind   string    `json:"kind"`
	Time   time.Time `json:"time,omitzero"`
	Entity *Entity   `json:"entity,omitempty"`
	// Also are the other entities it names (the user, a file hash, a
	// remote address).
	Also    []Entity `json:"also,omitempty"`
	Summary string   `json:"summary"`
	// Link is the vendor's id or address of the record ("detection
	// 5f0c…", "GET /v2/detections/5f0c…").
	Link string `json:"link,omitempty"`
	// Severity is the vendor's own word, when it gives one.
	Severity string `json:"severity,omitempty"`
}
