package driver

import (
	"context"

	"github.com/incident-mcp/incident-mcp/schema"
)

// Section names a part of an incident that get_incident can include beyond
// its summary. A driver reads a section when it implements the section's
// reader interface, and says so in Info.Sections: the service asks only
// what Info promises.
type Section string

// Sections.
const (
	// SectionComments: notes people wrote (CommentReader).
	SectionComments Section = "comments"
	// SectionHistory: the changes made to the incident (HistoryReader).
	SectionHistory Section = "history"
	// SectionEvidence: detections, alerts, indicators, affected assets,
	// events (EvidenceReader).
	SectionEvidence Section = "evidence"
)

// AllSections lists every section in the order get_incident shows them.
var AllSections = []Section{SectionComments, SectionHistory, SectionEvidence}

// Items is what a section reader returns: at most the limit asked, the
// newest last for comments and history (the order people read a thread
// in), and whether the vendor holds more than were returned.
type Items[T any] struct {
	Items   []T
	HasMore bool
	// Requests counts the vendor requests made to read them (0 when they
	// came from the incident already read).
	Requests  int
	RequestID string
}

// The section readers are OPTIONAL interfaces, in the go-cloud manner: a
// driver implements the ones its vendor's API can serve and lists them in
// Info.Sections. Each takes the incident as this driver's Get returned it,
// Raw included, so a vendor whose one record carries the section (a
// Kaspersky incident read withHistory) answers without another request;
// limit is at least 1. They return the driver's raw errors, like Get; an
// incident without any such item is an empty Items, not an error.
type (
	// CommentReader reads the comments of an incident, oldest first, the
	// newest limit of them. A comment written through Update reads back.
	CommentReader interface {
		Comments(ctx context.Context, inc *schema.Incident, limit int) (*Items[schema.Comment], error)
	}
	// HistoryReader reads the changes made to an incident, oldest first,
	// the newest limit of them.
	HistoryReader interface {
		History(ctx context.Context, inc *schema.Incident, limit int) (*Items[schema.Change], error)
	}
	// EvidenceReader reads what an incident is made of (detections,
	// alerts, indicators, assets, events), the first limit of them in the
	// vendor's order.
	EvidenceReader interface {
		Evidence(ctx context.Context, inc *schema.Incident, limit int) (*Items[schema.Evidence], error)
	}
)

// Reads reports whether d implements the reader of section s.
func Reads(d Driver, s Section) bool {
	switch s {
	case SectionComments:
		_, ok := d.(CommentReader)
		return ok
	case SectionHistory:
		_, ok := d.(HistoryReader)
		return ok
	case SectionEvidence:
		_, ok := d.(EvidenceReader)
		return ok
	}
	return false
}

// Tail keeps the last n of items, for readers that return the newest.
func Tail[T any](items []T, n int) ([]T, bool) {
	if len(items) <= n {
		return items, false
	}
	return items[len(items)-n:], true
}

// Head keeps the first n of items.
func Head[T any](items []T, n int) ([]T, bool) {
	if len(items) <= n {
		return items, false
	}
	return items[:n], true
}
