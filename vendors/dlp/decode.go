package dlp

import (
	"github.com/go-json-experiment/json/jsontext"

	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// UnmarshalJSONFrom reads a list record without reflection, as the v2
// engine would read it into summaryWire's fields (wire.Reader's
// tolerance; details skipped whatever they hold), with one string for the
// record's text: decoding was most of a DLP call's allocations (about 25
// a record).
func (s *summaryWire) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	r := wire.ReaderOn(dec)
	defer r.Release()
	var f [len(summaryFields)]wire.Span // the string fields, in summaryFields' order
	var tags wire.List
	if r.Object() {
		for r.Next() {
			if r.Is("TAGS") {
				tags = r.StringList()
				continue
			}
			i := summaryField(r)
			if i < 0 {
				r.Skip() // details, and what the record does not know
				continue
			}
			f[i] = r.String()
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	text := r.Text()
	*s = summaryWire{wireIncident: wireIncident{
		ID: f[0].In(text), Title: f[1].In(text), Description: f[2].In(text), Severity: f[3].In(text), Status: f[4].In(text),
		PolicyID: f[5].In(text), PolicyName: f[6].In(text), EndpointID: f[7].In(text), EndpointName: f[8].In(text),
		UserID: f[9].In(text), UserName: f[10].In(text), CreatedAt: f[11].In(text), UpdatedAt: f[12].In(text),
		AssignedTo: f[13].In(text), CloseReason: f[14].In(text), CloseNote: f[15].In(text),
		Tags: tags.In(r.Strings(text)),
	}}
	return nil
}

// summaryFields are the folded names of wireIncident's string fields.
var summaryFields = [...]string{"ID", "TITLE", "DESCRIPTION", "SEVERITY", "STATUS", "POLICYID", "POLICYNAME",
	"ENDPOINTID", "ENDPOINTNAME", "USERID", "USERNAME", "CREATEDAT", "UPDATEDAT", "ASSIGNEDTO", "CLOSEREASON", "CLOSENOTE"}

// summaryField is the index in summaryFields of the current member, or -1.
func summaryField(r *wire.Reader) int {
	for i, name := range summaryFields {
		if r.Is(name) {
			return i
		}
	}
	return -1
}
