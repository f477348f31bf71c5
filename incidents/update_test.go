package incidents_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

// writeFixture is a service over one in-memory instance, with an audit log.
type writeFixture struct {
	*fixture
	d     *memdriver.Driver
	audit string
}

func newWriteFixture(t *testing.T, opts ...incidents.Option) *writeFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	f := newFixture(t, []string{"mem"}, 40, append([]incidents.Option{incidents.WithAudit(log)}, opts...)...)
	return &writeFixture{fixture: f, d: f.drivers["mem"], audit: path}
}

// openID is the id of the first open incident.
func (f *writeFixture) openID(t *testing.T) string {
	t.Helper()
	for _, inc := range f.d.Incidents() {
		if inc.Status == schema.StatusOpen {
			return "mem:" + inc.ID
		}
	}
	t.Fatal("no open incident")
	return ""
}

// confirm previews p on the first open incident and returns its id and a
// confirmation of kind.
func (f *writeFixture) confirm(t *testing.T, kind string, p schema.Patch) (string, string) {
	t.Helper()
	id := f.openID(t)
	pv, err := f.svc.Preview(t.Context(), id, p)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.svc.Seal(kind, pv)
	if err != nil {
		t.Fatal(err)
	}
	return id, tok
}

func (f *writeFixture) records(t *testing.T) []audit.Record {
	t.Helper()
	recs, _, err := audit.Read(f.audit)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// pairs checks that the audit log holds one intent then one outcome per
// write, with the same write id, and returns the outcomes.
func (f *writeFixture) pairs(t *testing.T) []string {
	t.Helper()
	recs := f.records(t)
	if len(recs)%2 != 0 {
		t.Fatalf("%d audit records: intents and outcomes come in pairs", len(recs))
	}
	var outcomes []string
	for i := 0; i < len(recs); i += 2 {
		in, out := recs[i], recs[i+1]
		if in.Outcome != audit.Intent || in.Write == "" || out.Write != in.Write || len(in.Before) == 0 {
			t.Fatalf("records %d and %d are not an intent and its outcome: %+v / %+v", i, i+1, in, out)
		}
		outcomes = append(outcomes, out.Outcome)
	}
	return outcomes
}

func ptr[T any](v T) *T { return &v }

// TestApplyOutcomes: how a write ends is what Apply, the error and the
// audit log say.
func TestApplyOutcomes(t *testing.T) {
	rename := schema.Patch{Title: ptr("renamed")}
	for _, tc := range []struct {
		name    string
		patch   schema.Patch
		fault   func(d *memdriver.Driver)
		outcome string
		writes  int
		msg     string
	}{
		{"applied", rename, func(*memdriver.Driver) {}, audit.Applied, 1, ""},
		{"applied in two writes", schema.Patch{Title: ptr("renamed"), Comment: ptr("why")}, func(*memdriver.Driver) {}, audit.Applied, 2, ""},
		{"refused", rename, func(d *memdriver.Driver) { d.FailNextWrite(http.StatusInternalServerError) }, audit.Failed, 0, "update incident"},
		{"answer lost", rename, func(d *memdriver.Driver) { d.LoseNextAnswer() }, audit.Unknown, 1, "outcome unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newWriteFixture(t)
			id, tok := f.confirm(t, incidents.ConfirmToken, tc.patch)
			tc.fault(f.d)
			a, err := f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, tc.patch, incidents.Actor{Client: "test"})
			if a == nil || a.Outcome != tc.outcome {
				t.Fatalf("Apply = %+v, %v; want outcome %s", a, err, tc.outcome)
			}
			if (err == nil) != (tc.msg == "") || (err != nil && !strings.Contains(err.Error(), tc.msg)) {
				t.Errorf("error %v, want one saying %q", err, tc.msg)
			}
			if tc.outcome == audit.Unknown && !strings.Contains(err.Error(), "get_incident") {
				t.Errorf("an unknown outcome must tell the model to re-read: %v", err)
			}
			if _, ok := f.d.Counts(); ok != tc.writes {
				t.Errorf("the store applied %d writes, want %d", ok, tc.writes)
			}
			if got := f.pairs(t); len(got) != 1 || got[0] != tc.outcome {
				t.Errorf("audit outcomes %v, want [%s]", got, tc.outcome)
			}
			if tc.outcome == audit.Applied {
				got, err := f.svc.Get(t.Context(), id, false)
				if err != nil || got.Title != "renamed" {
					t.Errorf("after the write: %+v, %v", got, err)
				}
			}
		})
	}
}

// TestConfirmation: a confirmation applies once, to exactly its change, on
// its path, within its life, to the state it previewed.
func TestConfirmation(t *testing.T) {
	rename := schema.Patch{Title: ptr("renamed")}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *writeFixture, id, tok string) (kind, useTok, useID string, p schema.Patch)
		code  schema.Code
	}{
		{"used twice", func(t *testing.T, f *writeFixture, id, tok string) (string, string, string, schema.Patch) {
			if _, err := f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, rename, incidents.Actor{}); err != nil {
				t.Fatal(err)
			}
			return incidents.ConfirmToken, tok, id, rename
		}, schema.CodeFailedPrecondition},
		{"other change", func(t *testing.T, f *writeFixture, id, tok string) (string, string, string, schema.Patch) {
			return incidents.ConfirmToken, tok, id, schema.Patch{Title: ptr("something else")}
		}, schema.CodeInvalidArgument},
		{"other incident", func(t *testing.T, f *writeFixture, id, tok string) (string, string, string, schema.Patch) {
			return incidents.ConfirmToken, tok, "mem:inc-0040", rename
		}, schema.CodeInvalidArgument},
		{"other path", func(t *testing.T, f *writeFixture, id, tok string) (string, string, string, schema.Patch) {
			return incidents.ConfirmElicitation, tok, id, rename
		}, schema.CodeInvalidArgument},
		{"tampered", func(t *testing.T, f *writeFixture, id, tok string) (string, string, string, schema.Patch) {
			return incidents.ConfirmToken, tok[:10] + flip(tok[10]) + tok[11:], id, rename
		}, schema.CodeInvalidArgument},
		{"expired", func(t *testing.T, f *writeFixture, id, tok string) (string, string, string, schema.Patch) {
			f.clock.Add(incidents.ConfirmTTL + time.Second)
			return incidents.ConfirmToken, tok, id, rename
		}, schema.CodeInvalidArgument},
		{"stale state", func(t *testing.T, f *writeFixture, id, tok string) (string, string, string, schema.Patch) {
			_, native, _ := schema.SplitID(id)
			if err := f.d.Modify(native, func(inc *schema.Incident) { inc.Severity = schema.SeverityCritical }); err != nil {
				t.Fatal(err)
			}
			return incidents.ConfirmToken, tok, id, rename
		}, schema.CodeFailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newWriteFixture(t)
			id, tok := f.confirm(t, incidents.ConfirmToken, rename)
			kind, useTok, useID, p := tc.setup(t, f, id, tok)
			sent, _ := f.d.Counts()
			recs := len(f.records(t))
			_, err := f.svc.Apply(t.Context(), kind, useTok, useID, p, incidents.Actor{})
			if code := schema.CodeOf(err); code != tc.code {
				t.Fatalf("Apply = %v (code %s), want %s", err, code, tc.code)
			}
			if strings.Contains(err.Error(), "outcome unknown") {
				t.Errorf("error %v", err)
			}
			if after, _ := f.d.Counts(); after != sent {
				t.Errorf("%d writes reached the store", after-sent)
			}
			if n := len(f.records(t)); n != recs {
				t.Errorf("%d audit records for a refused confirmation", n-recs)
			}
		})
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

// TestConcurrentApply: one confirmation applied by many clients at once is
// one write, one audit pair, and every other call is told it was used.
func TestConcurrentApply(t *testing.T) {
	f := newWriteFixture(t)
	p := schema.Patch{Severity: ptr(schema.SeverityCritical)}
	id, tok := f.confirm(t, incidents.ConfirmToken, p)
	const clients = 16
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i := range clients {
		wg.Go(func() {
			_, errs[i] = f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, p, incidents.Actor{Session: "s"})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case schema.CodeOf(err) != schema.CodeFailedPrecondition || !strings.Contains(err.Error(), "already used"):
			t.Errorf("a losing Apply: %v", err)
		}
	}
	if sent, _ := f.d.Counts(); ok != 1 || sent != 1 {
		t.Errorf("%d applies succeeded and %d writes reached the store; want 1 and 1", ok, sent)
	}
	if got := f.pairs(t); len(got) != 1 || got[0] != audit.Applied {
		t.Errorf("audit outcomes %v", got)
	}
}

// TestPreviewRefuses: a change the vendor or the server would refuse is
// refused before any confirmation exists.
func TestPreviewRefuses(t *testing.T) {
	f := newWriteFixture(t)
	ro := memdriver.New(memdriver.Config{Incidents: memdriver.Generate(9, 5, now), Updates: []schema.PatchField{schema.PatchTitle}})
	limited, err := incidents.New([]*incidents.Instance{{Name: "ro", Driver: ro, ReadOnly: true}, {Name: "lim", Driver: ro}}, testSealer(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	id := f.openID(t)
	closed := schema.StatusClosed
	for _, tc := range []struct {
		name string
		svc  *incidents.Service
		id   string
		p    schema.Patch
		code schema.Code
	}{
		{"nothing to change", f.svc, id, schema.Patch{}, schema.CodeInvalidArgument},
		{"close without resolution", f.svc, id, schema.Patch{Status: &closed}, schema.CodeInvalidArgument},
		{"resolution the vendor lacks", f.svc, id, schema.Patch{Status: &closed, Resolution: ptr(schema.ResolutionMerged)}, schema.CodeInvalidArgument},
		{"no change at all", f.svc, id, schema.Patch{Status: ptr(schema.StatusOpen)}, schema.CodeFailedPrecondition},
		{"missing incident", f.svc, "mem:inc-9999", schema.Patch{Title: ptr("x")}, schema.CodeNotFound},
		{"not an id", f.svc, "inc-0001", schema.Patch{Title: ptr("x")}, schema.CodeInvalidArgument},
		{"read-only instance", limited, "ro:inc-0001", schema.Patch{Title: ptr("x")}, schema.CodePermissionDenied},
		{"unsupported field", limited, "lim:inc-0001", schema.Patch{Severity: ptr(schema.SeverityLow)}, schema.CodeUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.svc.Preview(t.Context(), tc.id, tc.p)
			if code := schema.CodeOf(err); code != tc.code {
				t.Errorf("Preview = %v (code %s), want %s", err, code, tc.code)
			}
		})
	}
	if sent, _ := f.d.Counts(); sent != 0 {
		t.Errorf("%d writes from previews", sent)
	}
}

type brokenStore struct{}

func (brokenStore) Use(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

// TestStoreUnavailableWritesNothing: without an answer from the nonce
// store there is no write and no audit record.
func TestStoreUnavailableWritesNothing(t *testing.T) {
	f := newWriteFixture(t, incidents.WithNonceStore(brokenStore{}))
	p := schema.Patch{Title: ptr("renamed")}
	id, tok := f.confirm(t, incidents.ConfirmToken, p)
	_, err := f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, p, incidents.Actor{})
	if schema.CodeOf(err) != schema.CodeUnavailable || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("Apply = %v", err)
	}
	if sent, _ := f.d.Counts(); sent != 0 {
		t.Errorf("%d writes without a nonce store", sent)
	}
	if n := len(f.records(t)); n != 0 {
		t.Errorf("%d audit records", n)
	}
}
