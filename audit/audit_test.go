package audit_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/audit"
)

func rec(id string) audit.Record {
	return audit.Record{Time: time.Unix(1, 0).UTC(), Instance: "eset", ID: "eset:" + id, Outcome: "applied", Patch: json.RawMessage(`{"title":"x"}`), Confirm: "token"}
}

func TestAppendRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "audit.jsonl")
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := l.Append(rec(string(rune('a' + i)))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	l.Close()
	got, torn, err := audit.Read(path)
	if err != nil || torn != 0 || len(got) != 20 {
		t.Fatalf("Read = %d records, %d torn, %v", len(got), torn, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

// TestTornLastLine: a crash mid-write leaves a partial line; reading skips
// it, and the next append starts on a fresh line without touching earlier
// records.
func TestTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, _ := audit.Open(path)
	l.Append(rec("1"))
	l.Append(rec("2"))
	l.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte(`{"time":"2026-11-20T00:00:00Z","instance":"es`))
	f.Close()

	got, torn, err := audit.Read(path)
	if err != nil || torn != 1 || len(got) != 2 {
		t.Fatalf("after a crash: %d records, %d torn, %v", len(got), torn, err)
	}
	l, _ = audit.Open(path)
	if err := l.Append(rec("3")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got, torn, err = audit.Read(path)
	if err != nil || torn != 1 || len(got) != 3 || got[2].ID != "eset:3" || got[0].ID != "eset:1" {
		t.Fatalf("after the next append: %+v, %d torn, %v", got, torn, err)
	}
}

func TestCorruptMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(path, []byte("{\"id\":\"a\"}\n{not json}\n{\"id\":\"b\"}\n"), 0o600)
	if _, _, err := audit.Read(path); err == nil {
		t.Error("a damaged record in the middle was not reported")
	}
}

func TestPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, r := range []audit.Record{
		{ID: "a", Write: "w1", Outcome: audit.Intent},
		{ID: "a", Write: "w1", Outcome: audit.Applied},
		{ID: "b", Write: "w2", Outcome: audit.Intent},
		{ID: "c", Write: "w3", Outcome: audit.Intent},
		{ID: "c", Write: "w3", Outcome: audit.Unknown},
		{ID: "old", Outcome: audit.Applied}, // before write ids existed
	} {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	recs, torn, err := audit.Read(path)
	if err != nil || torn != 0 {
		t.Fatal(err, torn)
	}
	p := audit.Pending(recs)
	if len(p) != 1 || p[0].ID != "b" {
		t.Errorf("Pending = %+v, want the intent of b", p)
	}
	if o := audit.Outcomes(recs); len(o) != 3 {
		t.Errorf("Outcomes = %+v", o)
	}
}
