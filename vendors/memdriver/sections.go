package memdriver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

var (
	_ driver.CommentReader  = (*Driver)(nil)
	_ driver.HistoryReader  = (*Driver)(nil)
	_ driver.EvidenceReader = (*Driver)(nil)
)

// Author is who the store says wrote the comments and changes made
// through Update: the API user, as a vendor would name it.
const Author = "api-user"

// notes are what the store keeps of an incident beyond its record.
type notes struct {
	comments []schema.Comment
	history  []schema.Change
}

func (d *Driver) notesOf(id string) *notes {
	n := d.notes[id]
	if n == nil {
		n = &notes{}
		d.notes[id] = n
	}
	return n
}

// record notes a field change in the history; the caller holds d.mu and
// inc is the record before the change. The write stamps UpdatedAt after.
func (d *Driver) record(inc *schema.Incident, p schema.Patch) {
	names := make([]string, 0, 4)
	for _, f := range p.Fields() {
		names = append(names, string(f))
	}
	c := schema.Change{Time: later(inc.UpdatedAt), Author: Author, What: "updated", Params: map[string]string{"fields": strings.Join(names, ",")}}
	if p.Status != nil {
		c.Params["from"], c.Params["to"] = string(inc.Status), string(*p.Status)
	}
	n := d.notesOf(inc.ID)
	n.history = append(n.history, c)
}

// comment keeps a comment; the caller holds d.mu.
func (d *Driver) comment(inc *schema.Incident, text string) {
	at := later(inc.UpdatedAt)
	n := d.notesOf(inc.ID)
	n.comments = append(n.comments, schema.Comment{Author: Author, Time: at, Text: text})
	n.history = append(n.history, schema.Change{Time: at, Author: Author, What: "commented"})
}

// Comments implements driver.CommentReader: the comments written through
// Update, oldest first. It is one request.
func (d *Driver) Comments(ctx context.Context, inc *schema.Incident, limit int) (*driver.Items[schema.Comment], error) {
	if err := d.enter(ctx, false); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.index(inc.ID) < 0 {
		return nil, ErrNotFound
	}
	var all []schema.Comment
	if n := d.notes[inc.ID]; n != nil {
		all = slices.Clone(n.comments)
	}
	items, more := driver.Tail(all, limit)
	return &driver.Items[schema.Comment]{Items: items, HasMore: more, Requests: 1}, nil
}

// History implements driver.HistoryReader: the creation, then every write
// made through Update. It is one request.
func (d *Driver) History(ctx context.Context, inc *schema.Incident, limit int) (*driver.Items[schema.Change], error) {
	if err := d.enter(ctx, false); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i := d.index(inc.ID)
	if i < 0 {
		return nil, ErrNotFound
	}
	all := []schema.Change{{Time: d.records[i].CreatedAt, What: "created"}}
	if n := d.notes[inc.ID]; n != nil {
		all = append(all, n.history...)
	}
	items, more := driver.Tail(all, limit)
	return &driver.Items[schema.Change]{Items: items, HasMore: more, Requests: 1}, nil
}

// Evidence implements driver.EvidenceReader from the record already read:
// each device and user is an affected asset. No request.
func (d *Driver) Evidence(_ context.Context, inc *schema.Incident, limit int) (*driver.Items[schema.Evidence], error) {
	var all []schema.Evidence
	for _, e := range schema.Entities(inc) {
		if e.Kind == schema.EntityTechnique {
			continue
		}
		all = append(all, schema.Evidence{Kind: schema.EvidenceAsset, Time: inc.CreatedAt, Entity: &e,
			Summary: "affected " + e.Kind + " " + strings.TrimSpace(e.Name+" "+e.ID)})
	}
	items, more := driver.Head(all, limit)
	return &driver.Items[schema.Evidence]{Items: items, HasMore: more}, nil
}

// Stamp sets an incident's updated_at to t, as a vendor whose clock or
// commit lags would: t may be in the past, even before changes already
// listed. Tests of the change feed use it.
func (d *Driver) Stamp(id string, t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := d.index(id)
	if i < 0 {
		return fmt.Errorf("stamp %s: %w", id, ErrNotFound)
	}
	d.records[i].UpdatedAt = t.UTC()
	return nil
}
