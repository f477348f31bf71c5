package tools

import (
	"bytes"
	"encoding/json"
	"time"
	"unsafe"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// The structuredContent of a list answer is its *incidents.QueryResult seen
// through listResult: the same memory and the same JSON, but its records'
// times are listStamps. encoding/json asks a time.Time field tagged
// omitzero whether it is zero by boxing the 24-byte value into an
// interface (one allocation per field, three per record); a listStamp
// answers through its address, which boxes nothing. Of an ESET page of 20
// that is 60 allocations a call. The encoding is byte for byte the same
// (TestListResultEncodesAsQueryResult); TestListResultLayout keeps the
// mirrors field for field identical to the types they view, which is what
// makes the pointer conversion in encodable sound.

// listStamp is a time.Time that says whether it is zero through its
// address. It encodes as time.Time does.
type listStamp time.Time

// IsZero reports whether the time is zero, as time.Time's does.
func (s *listStamp) IsZero() bool { return (*time.Time)(s).IsZero() }

// MarshalJSON is time.Time's encoding, in a slice of its own length:
// time.Time's is always 48 bytes, a whole-second stamp needs 24.
func (s *listStamp) MarshalJSON() ([]byte, error) {
	var buf [len(time.RFC3339Nano) + len(`""`)]byte
	b, err := (*time.Time)(s).AppendText(append(buf[:0], '"'))
	if err != nil {
		return (*time.Time)(s).MarshalJSON() // its error, worded as time.Time words it
	}
	return bytes.Clone(append(b, '"')), nil
}

// listIncident is schema.Incident, field for field, with listStamp times.
type listIncident struct {
	ID              string            `json:"id"`
	Instance        string            `json:"instance,omitempty"`
	Vendor          string            `json:"vendor,omitempty"`
	Tenant          string            `json:"tenant,omitempty"`
	Number          string            `json:"number,omitempty"`
	Title           string            `json:"title"`
	Description     string            `json:"description,omitempty"`
	Severity        schema.Severity   `json:"severity,omitempty"`
	VendorSeverity  string            `json:"vendor_severity,omitempty"`
	Status          schema.Status     `json:"status,omitempty"`
	VendorStatus    string            `json:"vendor_status,omitempty"`
	Resolution      schema.Resolution `json:"resolution,omitempty"`
	Priority        string            `json:"priority,omitempty"`
	Assignee        *schema.Ref       `json:"assignee,omitempty"`
	CreatedAt       listStamp         `json:"created_at,omitzero"`
	UpdatedAt       listStamp         `json:"updated_at,omitzero"`
	StatusChangedAt listStamp         `json:"status_changed_at,omitzero"`
	Tags            []string          `json:"tags,omitempty"`
	Devices         []schema.Ref      `json:"devices,omitempty"`
	Users           []schema.Ref      `json:"users,omitempty"`
	Policy          *schema.Ref       `json:"policy,omitempty"`
	Counts          *schema.Counts    `json:"counts,omitempty"`
	DetectionIDs    []string          `json:"detection_ids,omitempty"`
	AlertIDs        []string          `json:"alert_ids,omitempty"`
	Mitre           *schema.Mitre     `json:"mitre,omitempty"`
	Details         map[string]any    `json:"details,omitempty"`
	Raw             json.RawMessage   `json:"raw,omitempty"`
}

// listResult is incidents.QueryResult, field for field, with listIncident
// records.
type listResult struct {
	Incidents []listIncident `json:"incidents,omitzero"`
	*incidents.Paging
	Total *int `json:"total,omitempty"`
	*incidents.Tally
	Query     incidents.AppliedQuery     `json:"query"`
	Scan      *incidents.ScanStats       `json:"scan,omitempty"`
	Instances []incidents.InstanceStatus `json:"instances,omitempty"`
	Notes     []string                   `json:"notes,omitempty"`
}

// encodable is res as structuredContent: the same result, encoded without
// boxing its times. queryResultOf gives it back.
func encodable(res *incidents.QueryResult) *listResult {
	return (*listResult)(unsafe.Pointer(res)) //nolint:gosec // G103: same layout, kept by TestListResultLayout
}

// QueryResult is the result r views; telemetry reads list results
// through it (telemetry.ListResult).
func (r *listResult) QueryResult() *incidents.QueryResult {
	return (*incidents.QueryResult)(unsafe.Pointer(r)) //nolint:gosec // G103: see encodable
}

// queryResultOf is the list result that structuredContent sc carries, if
// it carries one.
func queryResultOf(sc any) (*incidents.QueryResult, bool) {
	switch r := sc.(type) {
	case *listResult:
		return r.QueryResult(), true
	case *incidents.QueryResult:
		return r, true
	}
	return nil, false
}
