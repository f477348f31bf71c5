package incidents_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

// lostAnswer is a memdriver whose writes time out the way net/http says
// it, with the vendor's address in the error's text.
type lostAnswer struct{ *memdriver.Driver }

const leakedAddr = "http://127.0.0.1:8723/v2/incidents/x"

func (lostAnswer) Update(context.Context, string, schema.Patch) (*driver.UpdateResult, error) {
	err := fmt.Errorf("POST /v2/incidents/x: %w (Patch %q: %w)", driver.ErrOutcomeUnknown, leakedAddr, context.DeadlineExceeded)
	return &driver.UpdateResult{Steps: []driver.Step{{Call: "PATCH", Error: err.Error()}}}, err
}

// TestWriteErrorsCarryClasses: an outcome-unknown write tells its class in
// the result, its steps and the audit, and the address only in the log,
// under the ref the result names.
func TestWriteErrorsCarryClasses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	alog, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	var logged bytes.Buffer
	mem := memdriver.New(memdriver.Config{Incidents: memdriver.Generate(1, 5, now)})
	svc, err := incidents.New([]*incidents.Instance{{Name: "mem", Driver: lostAnswer{mem}}}, testSealer(t),
		slog.New(slog.NewTextHandler(&logged, nil)), incidents.WithAudit(alog))
	if err != nil {
		t.Fatal(err)
	}
	id := "mem:" + mem.Incidents()[0].ID
	p := schema.Patch{Title: ptr("renamed")}
	pv, err := svc.Preview(t.Context(), id, p)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := svc.Seal(incidents.ConfirmToken, pv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, p, incidents.Actor{})
	if a == nil || a.Outcome != audit.Unknown || err == nil {
		t.Fatalf("Apply = %+v, %v; want outcome unknown", a, err)
	}
	ref := ""
	if se, ok := err.(*schema.Error); ok {
		ref = refOf(se)
	}
	recs, _, rerr := audit.Read(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	shown := []string{schema.PublicMessage(err), a.Steps[0].Error}
	for _, r := range recs {
		shown = append(shown, r.Error)
	}
	for _, s := range shown {
		if strings.Contains(s, "127.0.0.1") || strings.Contains(s, "http://") {
			t.Errorf("an address leaked: %q", s)
		}
	}
	if want := "outcome unknown: no answer before the call's deadline"; !strings.HasPrefix(a.Steps[0].Error, want) {
		t.Errorf("step error %q, want it to start %q", a.Steps[0].Error, want)
	}
	if ref == "" || !strings.Contains(a.Steps[0].Error, ref) || !strings.Contains(logged.String(), "ref="+ref) || !strings.Contains(logged.String(), "127.0.0.1:8723") {
		t.Errorf("ref %q: the step error %q and the log must both name it, the log with the address:\n%s", ref, a.Steps[0].Error, logged.String())
	}
}

// refOf finds the first ref along e's chain.
func refOf(e *schema.Error) string {
	for e != nil {
		if e.Ref != "" {
			return e.Ref
		}
		next, ok := e.Err.(*schema.Error)
		if !ok {
			return ""
		}
		e = next
	}
	return ""
}
