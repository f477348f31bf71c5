package incidents_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

// writeFixture is a service over one ESET simulator behind a write
// recorder, with an audit log.
type writeFixture struct {
	svc   *incidents.Service
	rec   *drivertest.WriteRecorder
	sim   *esetsim.Server
	audit string
}

func newWriteFixture(t *testing.T, opts ...incidents.Option) *writeFixture {
	t.Helper()
	sim := esetsim.New(esetsim.Config{Seed: 3, Incidents: 30, Now: now, RateLimit: -1})
	rec := drivertest.NewWriteRecorder(sim, func(r *http.Request) bool {
		return r.Method == http.MethodPost && !strings.HasSuffix(r.URL.Path, "/oauth/token")
	})
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	d, err := eset.New(eset.Config{APIURL: srv.URL, TokenURL: srv.URL + "/oauth/token", Username: "demo", Password: "demo", RateLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	sealer, _ := incidents.NewSealer([]byte(strings.Repeat("z", 32)))
	opts = append([]incidents.Option{incidents.WithClock(func() time.Time { return now }), incidents.WithAudit(log)}, opts...)
	svc, err := incidents.New([]*incidents.Instance{{Name: "eset", Driver: d}}, sealer, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &writeFixture{svc: svc, rec: rec, sim: sim, audit: path}
}

// confirm previews p on the first open incident and returns its id and token.
func (f *writeFixture) confirm(t *testing.T, p schema.Patch) (string, string) {
	t.Helper()
	var id string
	for _, inc := range f.sim.Incidents() {
		if inc.Status == esetsim.StatusOpen {
			id = "eset:" + inc.UUID
			break
		}
	}
	pv, err := f.svc.Preview(t.Context(), id, p)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.svc.Seal(incidents.ConfirmToken, pv)
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

// TestLostAnswerIsUnknown: the vendor applied the write but its answer was
// lost. The outcome is unknown, never failed; the audit log says so and the
// error tells the model to re-read before retrying.
func TestLostAnswerIsUnknown(t *testing.T) {
	f := newWriteFixture(t)
	title := "renamed"
	p := schema.Patch{Title: &title}
	id, tok := f.confirm(t, p)
	f.rec.LoseNextAnswer()
	a, err := f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, p, incidents.Actor{})
	if err == nil || a == nil || a.Outcome != audit.Unknown {
		t.Fatalf("Apply = %+v, %v; want outcome unknown", a, err)
	}
	if !strings.Contains(err.Error(), "outcome unknown") || !strings.Contains(err.Error(), "get_incident") {
		t.Errorf("the error does not tell the model to re-read: %v", err)
	}
	recs := f.records(t)
	if len(recs) != 2 || recs[0].Outcome != audit.Intent || recs[1].Outcome != audit.Unknown || recs[0].Write != recs[1].Write {
		t.Errorf("audit = %+v", recs)
	}
	if sent, _ := f.rec.Counts(); sent != 1 {
		t.Errorf("%d writes reached the vendor, want 1", sent)
	}
}

// TestFailedWriteIsFailed: a vendor refusal of the only write is "failed".
func TestFailedWriteIsFailed(t *testing.T) {
	f := newWriteFixture(t)
	title := "renamed"
	p := schema.Patch{Title: &title}
	id, tok := f.confirm(t, p)
	f.rec.FailNextWrite(http.StatusInternalServerError)
	a, err := f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, p, incidents.Actor{})
	if err == nil || a == nil || a.Outcome != audit.Failed {
		t.Fatalf("Apply = %+v, %v; want failed", a, err)
	}
	if recs := f.records(t); len(recs) != 2 || recs[1].Outcome != audit.Failed {
		t.Errorf("audit = %+v", recs)
	}
}

type brokenStore struct{}

func (brokenStore) Use(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

// TestStoreUnavailableWritesNothing: without an answer from the nonce
// store there is no write.
func TestStoreUnavailableWritesNothing(t *testing.T) {
	f := newWriteFixture(t, incidents.WithNonceStore(brokenStore{}))
	title := "renamed"
	p := schema.Patch{Title: &title}
	id, tok := f.confirm(t, p)
	_, err := f.svc.Apply(t.Context(), incidents.ConfirmToken, tok, id, p, incidents.Actor{})
	if schema.CodeOf(err) != schema.CodeUnavailable || !strings.Contains(err.Error(), "confirmation store is unavailable") || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("Apply = %v", err)
	}
	if sent, _ := f.rec.Counts(); sent != 0 {
		t.Errorf("%d writes without a nonce store", sent)
	}
	if n := len(f.records(t)); n != 0 {
		t.Errorf("%d audit records", n)
	}
}
