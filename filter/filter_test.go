package filter

import (
	"fmt"
	"github.com/incident-mcp/incident-mcp/schema"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestWhereErrors(t *testing.T) {
	inc := &schema.Incident{ID: "eset:abc", Title: "Ransomware on HOST", Severity: schema.SeverityHigh, Status: schema.StatusOpen, CreatedAt: benchNow}
	tests := []struct {
		name, where string
		compile     string // substring of the compile error, "" when it compiles
		match       string // substring of the Match error, "" when it matches cleanly
	}{
		{name: "constant regex", where: `incident.title.matches("^(?i)ransom")`},
		{name: "bad regex", where: `incident.title.matches("(unclosed")`, compile: "missing closing )"},
		{name: "regex from a field", where: `incident.title.matches(incident.description)`, compile: "must be a string literal"},
		{name: "global matches from a field", where: `matches(incident.title, incident.tenant + ".*")`, compile: "must be a string literal"},
		{name: "division by zero", where: `incident.counts.alerts / incident.counts.devices > 1`, match: "division by zero"},
		{name: "guarded division", where: `incident.counts.devices != 0 && incident.counts.alerts / incident.counts.devices > 1`},
		{name: "no arguments in where", where: `incident.title == arg_title`, compile: "undeclared reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(schema.Filter{}, tc.where, benchNow)
			if tc.compile != "" {
				if err == nil || schema.CodeOf(err) != schema.CodeInvalidArgument || !strings.Contains(err.Error(), tc.compile) || !strings.HasPrefix(err.Error(), "where: ") {
					t.Fatalf("Compile(%q) = %v, want an invalid_argument naming where with %q", tc.where, err, tc.compile)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Match(t.Context(), inc)
			if tc.match == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || schema.CodeOf(err) != schema.CodeInvalidArgument {
				t.Fatalf("Match = %v, want an invalid_argument error", err)
			}
			for _, want := range []string{tc.match, "eset:abc", "line 1, column", "where: "} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Match error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestCompileCachesWhere(t *testing.T) {
	where := `size(incident.tags) > 7 // cache test`
	a, err := Compile(schema.Filter{Status: []string{"open"}}, where, benchNow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile(schema.Filter{Severity: []string{"low"}}, "  "+where+"\n", benchNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a.where != b.where {
		t.Error("the same where text was compiled twice")
	}
	if a.now.args[varNow] == b.now.args[varNow] {
		t.Error("two calls share their bound now")
	}
}

func TestLRUEvicts(t *testing.T) {
	c := newLRU[int, int](2)
	c.put(1, 1)
	c.put(2, 2)
	c.get(1)
	c.put(3, 3)
	if _, ok := c.get(2); ok {
		t.Error("the least recently used entry survived")
	}
	for _, k := range []int{1, 3} {
		if v, ok := c.get(k); !ok || v != k {
			t.Errorf("get(%d) = %d, %v", k, v, ok)
		}
	}
}

func TestParseTimeEdges(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "2026-11-01t08:00:00z", want: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)},
		{in: "2026-11-01T08:00:00.5+01:00", want: time.Date(2026, 11, 1, 7, 0, 0, 5e8, time.UTC)},
		{in: "2026-11-01", want: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{in: "7d", want: now.AddDate(0, 0, -7)},
		{in: "1970-01-01T00:00:00Z", want: schema.MinTime},
		{in: "9999-12-31T00:00:00Z", want: schema.MaxTime},
		{in: "0001-01-01T00:00:00Z", err: "outside the times"},
		{in: "0000-01-01", err: "outside the times"},
		{in: "1969-12-31T23:59:59Z", err: "outside the times"},
		{in: "9999-12-31T23:59:59Z", err: "outside the times"},
		{in: "9999-12-30T23:00:00-05:00", err: "outside the times"},
		{in: "200000d", err: "reaches back before 1970-01-01"},
		{in: "999999w", err: "reaches back before 1970-01-01"},
		{in: "2969w", err: "reaches back"},
		{in: "2968w", want: now.Add(-2968 * 7 * 24 * time.Hour)},
		{in: "yesterday", err: "cannot read"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := schema.ParseTime(tc.in, now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTime(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestZeroBeforeIsRefused: the zero time must never pass for a bound; it is
// what Criteria uses for "unset".
func TestZeroBeforeIsRefused(t *testing.T) {
	_, err := Compile(schema.Filter{CreatedBefore: "0001-01-01T00:00:00Z"}, "", benchNow)
	if err == nil || !strings.HasPrefix(err.Error(), "created_before: ") {
		t.Fatalf("Compile = %v, want a created_before error", err)
	}
}

// TestRecheckAgreesWithCEL holds the Go re-check to the all-CEL reference
// over random records and random filters, edge values included (unknown
// severity and status, no assignee, zero times, non-ASCII titles). The
// equivalence suite in tools does the same over the simulators' datasets.
func TestRecheckAgreesWithCEL(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pickOf := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	titles := []string{"Ransomware on FIN-01", "ransomWARE", "Straße İstanbul KELVIN", "Ǆungla", "plain", ""}
	ids := []string{"a", "b", "c", ""}
	var recs []schema.Incident
	for i := range 300 {
		inc := schema.Incident{
			ID: fmt.Sprintf("x:%d", i), Title: titles[rng.IntN(len(titles))], Tenant: pickOf("t1", "t2", ""),
			Severity: schema.Severity(pickOf("", "informational", "low", "medium", "high", "critical")),
			Status:   schema.Status(pickOf("", "open", "in_progress", "on_hold", "resolved", "closed")),
		}
		if rng.IntN(4) > 0 {
			inc.CreatedAt = benchNow.Add(-time.Duration(rng.IntN(2000)) * time.Hour)
			inc.UpdatedAt = inc.CreatedAt.Add(time.Duration(rng.IntN(200)) * time.Hour)
		}
		if a := pickOf("u1", "u2", "", "none"); a != "none" {
			inc.Assignee = &schema.Ref{ID: a, Name: "N"}
		}
		if p := pickOf("p1", "p2", "none"); p != "none" {
			inc.Policy = &schema.Ref{ID: p}
		}
		for range rng.IntN(3) {
			inc.Tags = append(inc.Tags, pickOf("pii", "urgent", "x"))
			inc.Devices = append(inc.Devices, schema.Ref{ID: pickOf(ids...)})
			inc.Users = append(inc.Users, schema.Ref{ID: pickOf(ids...)})
		}
		recs = append(recs, inc)
	}
	sub := func(vals ...string) []string {
		var out []string
		for _, v := range vals {
			if rng.IntN(2) == 0 {
				out = append(out, v)
			}
		}
		return out
	}
	for i := range 300 {
		var f schema.Filter
		for range 1 + rng.IntN(4) {
			switch rng.IntN(13) {
			case 0:
				f.Severity = sub("informational", "low", "medium", "high", "critical")
			case 1:
				f.MinSeverity = pickOf("low", "medium", "high", "critical")
			case 2:
				f.Status = sub("open", "in_progress", "on_hold", "resolved", "closed")
			case 3:
				f.CreatedAfter = fmt.Sprintf("%dh", rng.IntN(2000))
			case 4:
				f.CreatedBefore = benchNow.Add(-time.Duration(rng.IntN(2000)) * time.Hour).Format(time.RFC3339)
			case 5:
				f.UpdatedAfter = fmt.Sprintf("%dh", rng.IntN(2000))
			case 6:
				f.UpdatedBefore = fmt.Sprintf("%dd", rng.IntN(80))
			case 7:
				f.TitleContains = pickOf("ransom", "RANSOM", "straße", "STRASSE", "i̇stanbul", "kelvin", "ǆ", "Ǆ", "on f")
			case 8:
				f.Assignee = pickOf("u1", "u2", "unassigned", "UNASSIGNED")
			case 9:
				f.Tags = sub("pii", "urgent", "nope")
			case 10:
				f.DeviceIDs, f.UserIDs = sub("a", "b"), sub("b", "c")
			case 11:
				f.PolicyIDs, f.Tenant = sub("p1", "p2"), pickOf("t1", "t2", "")
			case 12:
				f.IDs = sub("x:1", "x:7", "x:250", "y:1")
			}
		}
		p, err := Compile(f, "", benchNow)
		if err != nil {
			t.Fatalf("filter %d %+v: %v", i, f, err)
		}
		got, ref := p.Fields(), mustFields(t, p)
		if strings.Join(got, ",") != strings.Join(ref, ",") {
			t.Errorf("filter %+v: Fields %v, the reference reads %v", f, got, ref)
		}
		for j := range recs {
			a, errA := p.Match(t.Context(), &recs[j])
			b, errB := p.MatchCEL(t.Context(), &recs[j])
			if errA != nil || errB != nil || a != b {
				t.Fatalf("filter %+v on %+v: Go says %v (%v), CEL says %v (%v)", f, recs[j], a, errA, b, errB)
			}
		}
	}
}

func mustFields(t *testing.T, p *Program) []string {
	t.Helper()
	f, err := p.ReferenceFields()
	if err != nil {
		t.Fatal(err)
	}
	return f
}
