package drivertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// testSections: Info.Sections lists exactly the section readers the driver
// implements; every reader bounds what it returns by the limit, with
// HasMore when it held back, comments and history come oldest first, every
// item is filled in, and a comment written through Update reads back
// through CommentReader.
func testSections(t *testing.T, h Harness) {
	d, _ := h.MakeDriver(t)
	info := d.Info()
	for _, s := range driver.AllSections {
		if listed, reads := slices.Contains(info.Sections, s), driver.Reads(d, s); listed != reads {
			t.Errorf("section %s: Info.Sections lists it %v, the driver implements its reader %v", s, listed, reads)
		}
	}
	if len(info.Sections) == 0 {
		t.Skip("the driver reads no section")
	}
	listed, _, err := ListAll(t.Context(), d, driver.Query{Order: schema.DefaultOrder, PageSize: info.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	found := map[driver.Section]bool{}
	for i := 0; i < len(listed); i += max(1, len(listed)/25) {
		inc, err := d.Get(t.Context(), listed[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if cr, ok := d.(driver.CommentReader); ok {
			checkSection(t, "comments", inc, func(n int) (*driver.Items[schema.Comment], error) { return cr.Comments(t.Context(), inc, n) },
				func(c schema.Comment) (time.Time, string) { return c.Time, c.Text }, true, found, driver.SectionComments)
		}
		if hr, ok := d.(driver.HistoryReader); ok {
			checkSection(t, "history", inc, func(n int) (*driver.Items[schema.Change], error) { return hr.History(t.Context(), inc, n) },
				func(c schema.Change) (time.Time, string) { return c.Time, c.What }, true, found, driver.SectionHistory)
		}
		if er, ok := d.(driver.EvidenceReader); ok {
			checkSection(t, "evidence", inc, func(n int) (*driver.Items[schema.Evidence], error) { return er.Evidence(t.Context(), inc, n) },
				func(e schema.Evidence) (time.Time, string) {
					if e.Kind == "" {
						return e.Time, ""
					}
					return e.Time, e.Summary
				}, false, found, driver.SectionEvidence)
		}
	}
	for _, s := range info.Sections {
		if !found[s] && s != driver.SectionComments {
			t.Errorf("section %s: no sampled incident has any; the dataset should show it", s)
		}
	}
	if slices.Contains(info.Sections, driver.SectionComments) && slices.Contains(info.Updates, schema.PatchComment) {
		t.Run("comment reads back", func(t *testing.T) { testCommentReadBack(t, d, listed) })
	}
}

// checkSection reads one incident's section with a large limit and with
// limit 1, and checks the bound, HasMore, the order and that items are
// filled in (text non-empty).
func checkSection[T any](t *testing.T, name string, inc *schema.Incident, read func(n int) (*driver.Items[T], error), key func(T) (time.Time, string), ordered bool, found map[driver.Section]bool, s driver.Section) {
	t.Helper()
	all, err := read(50)
	if err != nil {
		t.Errorf("%s of %s: %v", name, inc.ID, err)
		return
	}
	if len(all.Items) > 50 {
		t.Errorf("%s of %s: %d items over the limit of 50", name, inc.ID, len(all.Items))
	}
	var prev time.Time
	for i, it := range all.Items {
		at, text := key(it)
		if text == "" {
			t.Errorf("%s of %s: item %d is empty: %+v", name, inc.ID, i, it)
		}
		if ordered && !at.IsZero() && at.Before(prev) {
			t.Errorf("%s of %s: item %d at %s comes after one at %s; want oldest first", name, inc.ID, i, at, prev)
		}
		if !at.IsZero() {
			prev = at
		}
	}
	if len(all.Items) > 0 {
		found[s] = true
	}
	one, err := read(1)
	if err != nil {
		t.Errorf("%s of %s with limit 1: %v", name, inc.ID, err)
		return
	}
	switch {
	case len(one.Items) > 1:
		t.Errorf("%s of %s with limit 1: %d items", name, inc.ID, len(one.Items))
	case len(all.Items) > 1 && !one.HasMore:
		t.Errorf("%s of %s with limit 1: %d items exist, HasMore false", name, inc.ID, len(all.Items))
	case len(all.Items) == 1 && one.HasMore && !all.HasMore:
		t.Errorf("%s of %s with limit 1: HasMore true but there is one item", name, inc.ID)
	}
}

// testCommentReadBack writes a comment with the first change CheckPatch
// accepts (a comment alone, or with a close where the vendor keeps comments
// only on closing) and reads it back, the newest comment.
func testCommentReadBack(t *testing.T, d driver.Driver, listed []schema.Incident) {
	info := d.Info()
	text := fmt.Sprintf("drivertest comment %d", time.Now().UnixNano())
	closed := schema.StatusClosed
	var patches []schema.Patch
	patches = append(patches, schema.Patch{Comment: &text})
	if len(info.Write.Resolutions) > 0 {
		r := info.Write.Resolutions[0]
		patches = append(patches, schema.Patch{Status: &closed, Resolution: &r, Comment: &text})
	}
	for _, inc := range listed {
		cur, err := d.Get(t.Context(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range patches {
			if d.CheckPatch(cur, p) != nil {
				continue
			}
			if _, err := d.Update(t.Context(), inc.ID, p); err != nil {
				t.Fatalf("Update(%s) with a comment: %v", inc.ID, err)
			}
			after, err := d.Get(t.Context(), inc.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.(driver.CommentReader).Comments(t.Context(), after, 5)
			if err != nil {
				t.Fatalf("Comments(%s): %v", inc.ID, err)
			}
			if n := len(got.Items); n == 0 || got.Items[n-1].Text != text {
				t.Fatalf("Comments(%s) after writing %q = %+v; want it as the newest", inc.ID, text, got.Items)
			}
			return
		}
	}
	t.Fatal("no incident took a comment, though Info.Updates has comment")
}
