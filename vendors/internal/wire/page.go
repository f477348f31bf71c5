package wire

import (
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// FillPage sets page's Incidents, Unread and Rest from a decoded prefix
// whose Unread is counted: norm maps one record, and wrap words an error
// decoding the rest as the driver's list words its own.
func FillPage[T any](page *driver.Page, p *Prefix[T], norm func(*T) schema.Incident, wrap func(error) error) {
	page.Incidents, page.Unread = Normalize(p.Records, norm), p.Unread
	if p.Unread <= 0 {
		return
	}
	page.Rest = func() ([]schema.Incident, error) {
		rest, err := p.Rest()
		if err != nil {
			return nil, wrap(err)
		}
		return Normalize(rest, norm), nil
	}
}

// Normalize maps records with norm.
func Normalize[T any](records []T, norm func(*T) schema.Incident) []schema.Incident {
	out := make([]schema.Incident, len(records))
	for i := range records {
		out[i] = norm(&records[i])
	}
	return out
}
