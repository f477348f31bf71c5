package incidents

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/schema"
)

// Verdict is what reconciliation learned of one interrupted write: an
// audit intent with no outcome, which may or may not have reached the
// vendor.
type Verdict struct {
	Write    string `json:"write"`
	Instance string `json:"instance"`
	ID       string `json:"id"`
	// Outcome is audit.Applied, audit.NotApplied, audit.Partial or
	// audit.Unknown.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	// Recorded is true when the verdict was appended to the audit log as
	// the write's outcome. A write whose incident could not be read stays
	// pending, to be reconciled again at the next start.
	Recorded bool `json:"recorded"`
}

// Reconcile re-reads the incident of each pending intent (audit.Pending)
// from its vendor and compares it with the intended change and with the
// state the intent recorded before it: every changed field at its new
// value is applied, every one still at its old value is not_applied, a mix
// is partial, and a field at neither value (changed since by someone else)
// or a comment alone (which cannot be re-read) is unknown. Each read
// happens under the incident's write lock and within the call budget.
// Verdicts are appended to the audit log as the writes' outcomes and
// logged, one warning per incident.
func (s *Service) Reconcile(ctx context.Context, pending []audit.Record) []Verdict {
	out := make([]Verdict, 0, len(pending))
	for _, r := range pending {
		v := s.reconcile(ctx, r)
		if v.Recorded && s.audit != nil {
			rec := audit.Record{
				Time: s.now().UTC(), Instance: r.Instance, ID: r.ID, Write: r.Write, Outcome: v.Outcome, Fence: r.Fence,
				Patch: r.Patch, Confirm: r.Confirm, Client: r.Client, Session: r.Session, Caller: r.Caller, ApprovedBy: r.ApprovedBy,
				Reason: v.Reason, Reconciled: true,
			}
			if err := s.audit.Append(rec); err != nil {
				v.Recorded = false
				v.Reason += "; its outcome could not be written to the audit log: " + err.Error()
			}
		}
		s.log.Warn("interrupted write reconciled", "instance", v.Instance, "id", v.ID, "write", v.Write, "outcome", v.Outcome, "reason", v.Reason, "recorded", v.Recorded)
		out = append(out, v)
	}
	return out
}

func (s *Service) reconcile(ctx context.Context, r audit.Record) Verdict {
	v := Verdict{Write: r.Write, Instance: r.Instance, ID: r.ID, Outcome: audit.Unknown}
	var p schema.Patch
	var before schema.Incident
	if json.Unmarshal(r.Patch, &p) != nil || json.Unmarshal(r.Before, &before) != nil {
		v.Reason, v.Recorded = "the intent's change or prior state does not parse", true
		return v
	}
	// Reconciliation is the server's own bookkeeping of writes it already
	// made, not a caller's request: access rules do not apply.
	name, native, _ := schema.SplitID(r.ID)
	in, ok := s.instances[name]
	if !ok {
		v.Reason = "its instance is not configured on this server; still pending"
		return v
	}
	budget := s.budgetFor(in, Budget{})
	ctx, cancel := deadline(ctx, budget)
	defer cancel()
	_, unlock, err := s.locker.Lock(ctx, "incident:"+r.ID, LockTTL)
	if err != nil {
		v.Reason = "its write lock could not be taken (" + schema.PublicMessage(s.wrap(in, "lock", err)) + "); still pending"
		return v
	}
	defer unlock()
	cur, err := in.Driver.Get(ctx, native)
	if err != nil {
		v.Reason = "the incident could not be re-read (" + schema.PublicMessage(s.wrap(in, "re-read incident "+r.ID, err)) + "); still pending"
		return v
	}
	s.own(in, cur)
	v.Outcome, v.Reason = judge(&before, cur, p)
	v.Recorded = true
	return v
}

// judge compares each field p changes on cur with its value before the
// write and the value the write set.
func judge(before, cur *schema.Incident, p schema.Patch) (outcome, reason string) {
	var applied, notApplied, moved []string
	check := func(field string, was, want, now any) {
		switch now {
		case want:
			applied = append(applied, field)
		case was:
			notApplied = append(notApplied, field)
		default:
			moved = append(moved, fmt.Sprintf("%s is %q, neither %q before the write nor %q it set", field, now, was, want))
		}
	}
	if p.Title != nil {
		check("title", before.Title, schema.CleanLine(*p.Title), cur.Title)
	}
	if p.Description != nil {
		check("description", before.Description, schema.CleanText(*p.Description), cur.Description)
	}
	if p.Severity != nil {
		check("severity", before.Severity, *p.Severity, cur.Severity)
	}
	if p.Assignee != nil {
		check("assignee", assigneeOf(before), *p.Assignee, assigneeOf(cur))
	}
	if p.Status != nil {
		check("status", before.Status, *p.Status, cur.Status)
	}
	if p.Resolution != nil && cur.Resolution != "" {
		check("resolution", before.Resolution, *p.Resolution, cur.Resolution)
	}
	switch {
	case len(moved) > 0:
		return audit.Unknown, "changed since by someone else: " + strings.Join(moved, "; ")
	case len(applied)+len(notApplied) == 0:
		return audit.Unknown, "a comment alone cannot be re-read from the vendor"
	case len(notApplied) == 0:
		return audit.Applied, "re-read: " + strings.Join(applied, ", ") + " at the values the write set"
	case len(applied) == 0:
		return audit.NotApplied, "re-read: " + strings.Join(notApplied, ", ") + " still at the values before the write"
	}
	return audit.Partial, "re-read: " + strings.Join(applied, ", ") + " set; " + strings.Join(notApplied, ", ") + " not"
}
