// Package audit appends every incident write to a JSON lines file and reads
// it back. A write is two fsynced records sharing a write id: an intent,
// appended before the first vendor call, and its outcome. An intent without
// an outcome (Pending) is a write a crash interrupted: it may have reached
// the vendor. A crash can leave at most a torn last line; readers skip it
// and writers start the next record on a fresh line, so earlier records are
// never corrupted.
package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Outcomes of a write; Intent marks the record written before it.
const (
	Intent  = "intent"  // about to call the vendor
	Applied = "applied" // every vendor call succeeded
	Partial = "partial" // a vendor write succeeded, a later one failed
	Failed  = "failed"  // nothing was written
	Unknown = "unknown" // a request was sent and its answer lost
	// NotApplied is reconciliation's verdict on an interrupted write whose
	// incident still holds the values from before it.
	NotApplied = "not_applied"
)

// Denied marks a record of a refused access, not a write: a caller asked
// for an instance, an incident or a change its access rules do not grant.
const Denied = "denied"

// Record is one intent or one outcome of a write.
type Record struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	ID       string    `json:"id"`
	// Write pairs an intent with its outcome.
	Write string `json:"write,omitempty"`
	// Outcome is Intent, Denied (an access refused), or how the write
	// ended: Applied, Partial, Failed or Unknown, or after reconciliation
	// NotApplied.
	Outcome string `json:"outcome"`
	// Fence is the lock grant the write held (see incidents.Locker).
	Fence  int64           `json:"fence,omitempty"`
	Patch  json.RawMessage `json:"patch"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Steps are the vendor calls, in order, with their request ids.
	Steps   json.RawMessage `json:"steps,omitempty"`
	Error   string          `json:"error,omitempty"`
	Confirm string          `json:"confirmed_by"`
	Client  string          `json:"client,omitempty"`
	Session string          `json:"session,omitempty"`
	// Caller is the authenticated HTTP caller (token name or JWT subject).
	Caller string `json:"caller,omitempty"`
	// RequestedBy is the key of the principal who asked for the change
	// ("token:NAME", "oauth:ISSUER#SUBJECT", "local:USER", "none:"); it is
	// never an approver.
	RequestedBy string `json:"requested_by"`
	// ApprovedBy names the people who approved the write on the approval
	// page, none of them the requester; empty for the other paths.
	ApprovedBy []string `json:"approved_by"`
	// Principal (caller.Identity.Key) and Operation ("list", "get",
	// "preview", …) say who was refused what, on a Denied record.
	Principal string `json:"principal,omitempty"`
	Operation string `json:"operation,omitempty"`
	// Reconciled marks an outcome found after a restart, by re-reading
	// the incident of an intent a crash left without one; Reason says
	// what the re-read showed.
	Reconciled bool   `json:"reconciled,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Log appends records to one file. It is safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// Open opens (creating if needed) the audit log at path, with the directory
// and file readable by the owner only.
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &Log{f: f, path: path}, nil
}

// Path is where the log is written.
func (l *Log) Path() string { return l.path }

// Append writes r as one line and fsyncs it before returning.
func (l *Log) Append(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit record: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	torn, err := endsTorn(l.f)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if torn {
		// Finish a line a crash left open so this record starts clean.
		line = append([]byte{'\n'}, line...)
	}
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// endsTorn reports whether the file is non-empty and lacks a final newline.
func endsTorn(f *os.File) (bool, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return false, err
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, st.Size()-1); err != nil {
		return false, err
	}
	return b[0] != '\n', nil
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// ErrCorrupt reports an unreadable record that is not a torn last line.
var ErrCorrupt = errors.New("audit log: unreadable record")

// Read returns every complete record in the log. A torn line (one without
// its newline, or unreadable, where a crash cut a write) is skipped and
// counted in torn; any other unreadable line is an error.
func Read(path string) (records []Record, torn int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(bytes.TrimSpace(line)) > 0 {
				torn++
			}
			return records, torn, nil
		}
		if err != nil {
			return records, torn, err
		}
		var rec Record
		if json.Unmarshal(line, &rec) != nil {
			// A torn write later finished by a newline from Append.
			if !json.Valid(line) && !looksComplete(line) {
				torn++
				continue
			}
			return records, torn, fmt.Errorf("%w at line %d", ErrCorrupt, n)
		}
		records = append(records, rec)
	}
}

// looksComplete tells a whole JSON object from a prefix cut by a crash.
func looksComplete(line []byte) bool {
	line = bytes.TrimSpace(line)
	return len(line) > 0 && line[0] == '{' && line[len(line)-1] == '}'
}

// Pending returns the intents in records that have no outcome: writes a
// crash (or a lost audit append) interrupted, which may have reached the
// vendor. Re-read those incidents before trusting their state.
func Pending(records []Record) []Record {
	done := map[string]bool{}
	for _, r := range records {
		if r.Outcome != Intent && r.Write != "" {
			done[r.Write] = true
		}
	}
	var out []Record
	for _, r := range records {
		if r.Outcome == Intent && !done[r.Write] {
			out = append(out, r)
		}
	}
	return out
}

// Outcomes returns the records that end a write, leaving out intents and
// denied accesses.
func Outcomes(records []Record) []Record {
	var out []Record
	for _, r := range records {
		if r.Outcome != Intent && r.Outcome != Denied {
			out = append(out, r)
		}
	}
	return out
}
