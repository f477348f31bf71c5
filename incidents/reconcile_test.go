package incidents_test

import (
	"encoding/json"
	"testing"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/schema"
)

// TestReconcile: each interrupted write (an intent without an outcome) is
// judged by re-reading its incident, and its verdict becomes its outcome.
func TestReconcile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		patch schema.Patch
		// vendor is what reached the vendor before the crash, if anything.
		vendor  *schema.Patch
		outcome string
	}{
		{"reached the vendor", schema.Patch{Title: ptr("renamed")}, &schema.Patch{Title: ptr("renamed")}, audit.Applied},
		{"never sent", schema.Patch{Title: ptr("renamed")}, nil, audit.NotApplied},
		{"half of it", schema.Patch{Title: ptr("renamed"), Severity: ptr(schema.SeverityCritical)}, &schema.Patch{Title: ptr("renamed")}, audit.Partial},
		{"changed since by someone else", schema.Patch{Title: ptr("renamed")}, &schema.Patch{Title: ptr("someone else's")}, audit.Unknown},
		{"a comment alone", schema.Patch{Comment: ptr("why")}, &schema.Patch{Comment: ptr("why")}, audit.Unknown},
		{"a tab the vendor keeps", schema.Patch{Title: ptr("tab\there")}, &schema.Patch{Title: ptr("tab\there")}, audit.Applied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newWriteFixture(t)
			id := f.openID(t)
			before, err := f.svc.Get(t.Context(), id, false)
			if err != nil {
				t.Fatal(err)
			}
			log, err := audit.Open(f.audit)
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
			if err := log.Append(audit.Record{Time: now, Instance: "mem", ID: id, Write: "w1", Outcome: audit.Intent, Patch: raw(tc.patch), Before: raw(before)}); err != nil {
				t.Fatal(err)
			}
			if tc.vendor != nil {
				if _, err := f.d.Update(t.Context(), before.ID[len("mem:"):], *tc.vendor); err != nil {
					t.Fatal(err)
				}
			}
			pending := audit.Pending(f.records(t))
			if len(pending) != 1 {
				t.Fatalf("%d pending, want 1", len(pending))
			}
			v := f.svc.Reconcile(t.Context(), pending)
			if len(v) != 1 || v[0].Outcome != tc.outcome || !v[0].Recorded || v[0].Reason == "" {
				t.Fatalf("verdicts %+v, want one recorded %s with a reason", v, tc.outcome)
			}
			recs := f.records(t)
			if n := len(audit.Pending(recs)); n != 0 {
				t.Errorf("%d intents still pending after reconciliation", n)
			}
			last := recs[len(recs)-1]
			if last.Write != "w1" || last.Outcome != tc.outcome || !last.Reconciled || last.Reason != v[0].Reason {
				t.Errorf("audit outcome %+v, want the verdict", last)
			}
		})
	}
	t.Run("unreadable stays pending", func(t *testing.T) {
		f := newWriteFixture(t)
		id := f.openID(t)
		f.d.FailNext(503, 1)
		v := f.svc.Reconcile(t.Context(), []audit.Record{{Instance: "mem", ID: id, Write: "w2", Outcome: audit.Intent, Patch: json.RawMessage(`{"title":"x"}`), Before: json.RawMessage(`{"id":"` + id + `"}`)}})
		if len(v) != 1 || v[0].Outcome != audit.Unknown || v[0].Recorded {
			t.Errorf("verdicts %+v, want unknown and not recorded", v)
		}
	})
}
