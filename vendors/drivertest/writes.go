package drivertest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// WriteBackend is a Backend that counts the vendor writes a driver makes
// and injects write faults: a simulator behind a WriteRecorder, or an
// in-memory store that counts its own writes.
type WriteBackend interface {
	Backend
	// Recorder counts the writes and injects their faults.
	Recorder() Writes
	// Assignee is an assignee value the vendor accepts (when it has
	// assignees).
	Assignee() string
}

// Writes counts the writes that reach a vendor and makes the next one fail
// or lose its answer. *WriteRecorder is one.
type Writes interface {
	// Counts returns how many writes reached the vendor and how many it
	// accepted.
	Counts() (sent, ok int)
	// FailNextWrite refuses the next write with an HTTP status, unapplied.
	FailNextWrite(status int)
	// LoseNextAnswer applies the next write and loses its answer.
	LoseNextAnswer()
}

var _ Writes = (*WriteRecorder)(nil)

// WriteRecorder is an http.Handler in front of a simulator: it counts the
// write requests that pass (and those the simulator accepted), and can
// answer the next write itself or lose its answer.
type WriteRecorder struct {
	next    http.Handler
	isWrite func(*http.Request) bool

	mu       sync.Mutex
	sent, ok int
	failNext int  // answer the next write with this status, unsent
	loseNext bool // apply the next write, then drop the connection
}

// NewWriteRecorder wraps h; isWrite tells the vendor's write requests.
func NewWriteRecorder(h http.Handler, isWrite func(*http.Request) bool) *WriteRecorder {
	return &WriteRecorder{next: h, isWrite: isWrite}
}

// Counts returns how many write requests reached the simulator, and how
// many it answered with a 2xx.
func (w *WriteRecorder) Counts() (sent, ok int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent, w.ok
}

// FailNextWrite answers the next write with status without passing it on.
func (w *WriteRecorder) FailNextWrite(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failNext = status
}

// LoseNextAnswer lets the next write reach the simulator and then closes
// the connection without its answer, as a reset after the vendor applied
// it would.
func (w *WriteRecorder) LoseNextAnswer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.loseNext = true
}

func (w *WriteRecorder) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if !w.isWrite(r) {
		w.next.ServeHTTP(rw, r)
		return
	}
	w.mu.Lock()
	fail, lose := w.failNext, w.loseNext
	w.failNext, w.loseNext = 0, false
	w.mu.Unlock()
	if fail != 0 {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(fail)
		fmt.Fprintf(rw, `{"message":"injected by drivertest: %s"}`, http.StatusText(fail))
		return
	}
	rec := httptest.NewRecorder()
	w.next.ServeHTTP(rec, r)
	w.mu.Lock()
	w.sent++
	if rec.Code >= 200 && rec.Code < 300 {
		w.ok++
	}
	w.mu.Unlock()
	if lose {
		if conn, buf, err := http.NewResponseController(rw).Hijack(); err == nil {
			// Half an answer, then nothing: the client cannot tell.
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
			buf.Flush()
			conn.Close()
			return
		}
	}
	for k, v := range rec.Header() {
		rw.Header()[k] = v
	}
	rw.WriteHeader(rec.Code)
	rw.Write(rec.Body.Bytes())
}

// candidate is one change the suite proposes.
type candidate struct {
	name  string
	patch schema.Patch
}

func ptr[T any](v T) *T { return &v }

// candidates are the changes tried on every driver: each kind of change,
// values every vendor takes, values some refuse, and text at the caps.
func candidates(info driver.Info, assignee string) []candidate {
	closed, open := schema.StatusClosed, schema.StatusOpen
	long := func(n int) *string { return ptr(strings.Repeat("x", n)) }
	out := []candidate{
		{"title", schema.Patch{Title: ptr("Renamed by the conformance suite")}},
		{"empty title", schema.Patch{Title: ptr("")}},
		{"description", schema.Patch{Description: ptr("Described by the conformance suite")}},
		{"assignee", schema.Patch{Assignee: ptr(assignee)}},
		{"assignee not an id", schema.Patch{Assignee: ptr("not an id")}},
		{"assignee at a host", schema.Patch{Assignee: ptr("analyst@localhost")}},
		{"unassign", schema.Patch{Assignee: ptr("")}},
		{"reopen", schema.Patch{Status: &open}},
		{"reopen with comment", schema.Patch{Status: &open, Comment: ptr("reopened by the suite")}},
		{"comment", schema.Patch{Comment: ptr("a comment from the suite")}},
		{"resolution alone", schema.Patch{Resolution: ptr(schema.ResolutionTruePositive)}},
		{"status in_progress", schema.Patch{Status: ptr(schema.StatusInProgress)}},
		{"close without resolution", schema.Patch{Status: &closed}},
	}
	for _, s := range schema.Severities {
		out = append(out, candidate{"severity " + string(s), schema.Patch{Severity: ptr(s)}})
	}
	rs := append(slices.Clone(schema.Resolutions), "made_up")
	for _, r := range slices.Concat(info.Resolutions, info.Write.Resolutions) {
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	for _, r := range rs {
		out = append(out, candidate{"close " + string(r), schema.Patch{Status: &closed, Resolution: ptr(r)}})
	}
	if len(info.Write.Resolutions) > 0 {
		r := info.Write.Resolutions[0]
		out = append(out, candidate{"close with comment", schema.Patch{Status: &closed, Resolution: &r, Comment: ptr("closed by the suite")}})
		if info.Write.MaxText > 0 {
			out = append(out,
				candidate{"close with the longest comment", schema.Patch{Status: &closed, Resolution: &r, Comment: long(info.Write.MaxText)}},
				candidate{"close with a comment over the cap", schema.Patch{Status: &closed, Resolution: &r, Comment: long(info.Write.MaxText + 1)}})
		}
	}
	if info.Write.MaxTitle > 0 {
		out = append(out, candidate{"longest title", schema.Patch{Title: long(info.Write.MaxTitle)}},
			candidate{"title over the cap", schema.Patch{Title: long(info.Write.MaxTitle + 1)}})
	}
	if info.Write.MaxText > 0 {
		out = append(out, candidate{"longest description", schema.Patch{Description: long(info.Write.MaxText)}},
			candidate{"description over the cap", schema.Patch{Description: long(info.Write.MaxText + 1)}})
	}
	return out
}

func testWrites(t *testing.T, h Harness) {
	d, b := h.MakeDriver(t)
	wb, ok := b.(WriteBackend)
	if !ok {
		t.Fatalf("the backend %T must implement WriteBackend: every driver's writes are checked", b)
	}
	rec := wb.Recorder()
	info := d.Info()
	t.Run("Info", func(t *testing.T) {
		w := info.Write
		switch {
		case slices.Contains(info.Updates, schema.PatchClose) && len(w.Resolutions) == 0:
			t.Error("Info.Updates has close but Write.Resolutions is empty")
		case slices.Contains(info.Updates, schema.PatchAssignee) && w.Assignee == "":
			t.Error("Info.Updates has assignee but Write.Assignee does not say what one looks like")
		case slices.Contains(info.Updates, schema.PatchComment) && w.Comment == "":
			t.Error("Info.Updates has comment but Write.Comment does not say where it goes")
		case slices.Contains(info.Updates, schema.PatchTitle) && w.MaxTitle == 0:
			t.Error("Info.Updates has title but no Write.MaxTitle")
		}
	})

	all, err := Dataset(t.Context(), d, instance)
	if err != nil {
		t.Fatal(err)
	}
	pools := map[schema.Status][]string{}
	for _, inc := range all {
		if inc.Status == schema.StatusOpen || inc.Status == schema.StatusClosed {
			_, n, _ := schema.SplitID(inc.ID)
			pools[inc.Status] = append(pools[inc.Status], n)
		}
	}
	take := func(s schema.Status) (string, bool) {
		if len(pools[s]) == 0 {
			return "", false
		}
		id := pools[s][0]
		pools[s] = pools[s][1:]
		return id, true
	}

	var accepted *schema.Patch
	for _, c := range candidates(info, wb.Assignee()) {
		for _, from := range []schema.Status{schema.StatusOpen, schema.StatusClosed} {
			t.Run(c.name+" on "+string(from), func(t *testing.T) {
				id, ok := take(from)
				if !ok {
					t.Skipf("no %s incident left in the dataset", from)
				}
				cur, err := d.Get(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				err = d.CheckPatch(cur, c.patch)
				unsupported := slices.ContainsFunc(c.patch.Fields(), func(f schema.PatchField) bool { return !slices.Contains(info.Updates, f) })
				if err != nil {
					se, ok := errors.AsType[*schema.Error](err)
					if !ok || se.Msg == "" {
						t.Fatalf("CheckPatch refused with %v: want a *schema.Error a model can act on", err)
					}
					if unsupported && se.Code != schema.CodeUnsupported {
						t.Errorf("CheckPatch refused an unsupported change with %s (%v), want unsupported", se.Code, err)
					}
					if !slices.Contains([]schema.Code{schema.CodeInvalidArgument, schema.CodeUnsupported, schema.CodeFailedPrecondition}, se.Code) {
						t.Errorf("CheckPatch code %s (%v)", se.Code, err)
					}
					if unsupported {
						sent, _ := rec.Counts()
						if _, uerr := d.Update(t.Context(), id, c.patch); d.ErrorCode(uerr) != schema.CodeUnsupported {
							t.Errorf("Update of an unsupported change: %v", uerr)
						}
						if after, _ := rec.Counts(); after != sent {
							t.Errorf("an unsupported change sent %d writes", after-sent)
						}
					}
					return
				}
				if unsupported {
					t.Fatalf("CheckPatch accepted a change outside Info.Updates %v", info.Updates)
				}
				sent, okBefore := rec.Counts()
				res, err := d.Update(t.Context(), id, c.patch)
				if err != nil {
					t.Fatalf("CheckPatch accepted this change on a %s incident, but the vendor refused it: %v", from, err)
				}
				sentAfter, okAfter := rec.Counts()
				if len(res.Steps) != sentAfter-sent || okAfter-okBefore != len(res.Steps) {
					t.Errorf("Steps %+v, but the vendor saw %d writes (%d accepted): Steps must be the writes, and only them", res.Steps, sentAfter-sent, okAfter-okBefore)
				}
				for _, st := range res.Steps {
					if !st.OK {
						t.Errorf("step %+v not OK after a successful Update", st)
					}
				}
				got, err := d.Get(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				p := c.patch
				if (p.Status != nil && got.Status != *p.Status) || (p.Severity != nil && got.Severity != *p.Severity) ||
					(p.Title != nil && got.Title != *p.Title) || (p.Resolution != nil && got.Resolution != *p.Resolution) {
					t.Errorf("after the write the incident reads %s/%s/%q/%s", got.Status, got.Severity, got.Title, got.Resolution)
				}
				if p := resolutionProblem(info, got); p != "" {
					t.Errorf("after the write: %s", p)
				}
				if accepted == nil && from == schema.StatusOpen {
					accepted = &p
				}
			})
		}
	}
	if accepted == nil {
		if len(info.Updates) > 0 {
			t.Fatal("no candidate change was accepted, though Info.Updates lists some")
		}
		return
	}

	t.Run("not found", func(t *testing.T) {
		_, ok := rec.Counts()
		res, err := d.Update(t.Context(), b.MissingID(), *accepted)
		if code := d.ErrorCode(err); code != schema.CodeNotFound {
			t.Errorf("Update(missing) = %v (code %s), want not_found", err, code)
		}
		if res != nil && slices.ContainsFunc(res.Steps, func(s driver.Step) bool { return s.OK }) {
			t.Errorf("steps %+v: nothing was written", res.Steps)
		}
		if _, after := rec.Counts(); after != ok {
			t.Error("the vendor accepted a write to a missing incident")
		}
	})
	t.Run("failed write is no step done", func(t *testing.T) {
		id, ok := take(schema.StatusOpen)
		if !ok {
			t.Skip("no open incident left")
		}
		rec.FailNextWrite(http.StatusInternalServerError)
		res, err := d.Update(t.Context(), id, *accepted)
		if err == nil {
			t.Fatal("Update succeeded while its write failed")
		}
		if errors.Is(err, driver.ErrOutcomeUnknown) {
			t.Errorf("a vendor's 500 answer is a known failure, not an unknown outcome: %v", err)
		}
		if res != nil && res.Steps != nil && res.Steps[0].OK {
			t.Errorf("steps %+v: the first write failed, so no step may be OK (reads are not steps)", res.Steps)
		}
	})
	t.Run("lost answer is an unknown outcome", func(t *testing.T) {
		id, ok := take(schema.StatusOpen)
		if !ok {
			t.Skip("no open incident left")
		}
		rec.LoseNextAnswer()
		_, err := d.Update(t.Context(), id, *accepted)
		if !errors.Is(err, driver.ErrOutcomeUnknown) {
			t.Errorf("Update whose answer was lost = %v, want it to wrap driver.ErrOutcomeUnknown", err)
		}
	})
}
