package incidents_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

// TestDetailCommentReadsBack: a comment confirmed through the service's
// write path is the newest comment get_incident's comments section shows,
// and the history records the write.
func TestDetailCommentReadsBack(t *testing.T) {
	f := newWriteFixture(t)
	text := "contained; watching for recurrence"
	p := schema.Patch{Comment: &text}
	id, tok := f.confirm(t, incidents.ConfirmToken, p)
	if _, err := f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, p, incidents.Actor{Client: "test"}); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.Detail(t.Context(), incidents.DetailRequest{ID: id, Include: driver.AllSections})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Comments.Items); n == 0 || d.Comments.Items[n-1].Text != text || d.Comments.Items[n-1].Author != memdriver.Author {
		t.Fatalf("comments = %+v, want %q by %s last", d.Comments, text, memdriver.Author)
	}
	if n := len(d.History.Items); n < 2 || d.History.Items[n-1].What != "commented" {
		t.Errorf("history = %+v, want the comment last", d.History.Items)
	}
	if len(d.Evidence.Items) == 0 || len(d.Entities) == 0 {
		t.Errorf("evidence %+v, entities %+v: the incident's devices and users should be both", d.Evidence.Items, d.Entities)
	}
	if d.ID != id || d.Raw != nil {
		t.Errorf("incident id %q (want %q), raw %d bytes without include_raw", d.ID, id, len(d.Raw))
	}
}

// TestDetailBounds: a section holds at most limit items with has_more when
// it held back; a bad limit or section is refused naming the argument.
func TestDetailBounds(t *testing.T) {
	f := newWriteFixture(t)
	id := f.openID(t)
	for i := range 3 {
		text := strings.Repeat("x", i+1)
		p := schema.Patch{Comment: &text}
		_, tok := f.confirm(t, incidents.ConfirmToken, p)
		if _, err := f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, p, incidents.Actor{}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := f.svc.Detail(t.Context(), incidents.DetailRequest{ID: id, Include: []driver.Section{driver.SectionComments}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if c := d.Comments; len(c.Items) != 2 || !c.HasMore || c.Items[1].Text != "xxx" || d.History != nil || d.Evidence != nil {
		t.Errorf("limit 2 of 3 comments: %+v; history %v evidence %v (not asked)", c, d.History, d.Evidence)
	}
	for _, tc := range []struct {
		name string
		run  func() error
		arg  string
	}{
		{"limit 0 is the default, 51 too many", func() error {
			_, err := f.svc.Detail(t.Context(), incidents.DetailRequest{ID: id, Limit: 51})
			return err
		}, "limit"},
		{"unknown section", func() error { _, err := incidents.ParseSections([]string{"comments", "notes"}); return err }, "include"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if se, ok := err.(*schema.Error); !ok || se.Arg != tc.arg {
				t.Errorf("err = %v, want an argument error on %s", err, tc.arg)
			}
		})
	}
}

// bare is a driver without any section reader.
type bare struct{ driver.Driver }

// TestDetailUnavailable: a section the vendor does not keep, one a
// failure or a spent budget left unread says why, and the incident read
// is still answered.
func TestDetailUnavailable(t *testing.T) {
	d := memdriver.New(memdriver.Config{Incidents: memdriver.Generate(1, 5, now)})
	plain := bare{memdriver.New(memdriver.Config{Vendor: "plain", Incidents: memdriver.Generate(2, 5, now)})}
	svc, err := incidents.New([]*incidents.Instance{{Name: "mem", Driver: d}, {Name: "plain", Driver: plain},
		{Name: "broken", Driver: brokenComments{memdriver.New(memdriver.Config{Incidents: memdriver.Generate(4, 5, now)})}},
		{Name: "tight", Driver: memdriver.New(memdriver.Config{Incidents: memdriver.Generate(3, 5, now)}), Budget: incidents.Budget{Requests: 1}}},
		testSealer(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	all := driver.AllSections
	got, err := svc.Detail(t.Context(), incidents.DetailRequest{ID: "plain:inc-0001", Include: all})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Comments.Unavailable, "keeps no comments") || got.History.Unavailable == "" || got.Evidence.Unavailable == "" {
		t.Errorf("a driver without readers: %+v %+v %+v", got.Comments, got.History, got.Evidence)
	}
	got, err = svc.Detail(t.Context(), incidents.DetailRequest{ID: "tight:inc-0001", Include: all})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Comments.Unavailable, "budget") || !strings.Contains(got.History.Unavailable, "budget") {
		t.Errorf("a budget of one request spent on the incident: %+v %+v", got.Comments, got.History)
	}
	got, err = svc.Detail(t.Context(), incidents.DetailRequest{ID: "broken:inc-0001", Include: all})
	if err != nil {
		t.Fatalf("a failed section must not fail the call: %v", err)
	}
	if !strings.Contains(got.Comments.Unavailable, "unavailable") || got.Incident == nil || got.Title == "" || len(got.History.Items) == 0 {
		t.Errorf("comments failing: comments %+v, history %+v, incident %+v", got.Comments, got.History, got.Incident)
	}
}

// brokenComments is a memdriver whose comment read fails with a 503.
type brokenComments struct{ *memdriver.Driver }

func (brokenComments) Comments(context.Context, *schema.Incident, int) (*driver.Items[schema.Comment], error) {
	return nil, &driver.HTTPError{Method: http.MethodGet, Path: "/comments", Status: http.StatusServiceUnavailable}
}
