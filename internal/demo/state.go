package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Anchor is the reference time of a demo started at now without a state
// directory: the start of its UTC day. Restarts on the same day serve the
// same dataset, so a confirmation token from one process is still good in
// the next (the Inspector CLI starts a server per call).
func Anchor(now time.Time) time.Time { return now.UTC().Truncate(24 * time.Hour) }

// The files of a state directory.
const (
	anchorFile  = "anchor"
	secretFile  = "secret"
	journalFile = "writes.jsonl"
	// AuditFile is the demo's audit log inside its state directory.
	AuditFile = "audit.jsonl"
)

// state is a demo's directory: the anchor of its dataset, the key that
// signs its cursors and tokens, and the journal of the writes made, which
// the next start replays onto the fresh simulators.
type state struct {
	dir string
	mu  sync.Mutex
}

// openState creates dir when missing and reads or fixes its anchor.
func openState(dir string, now time.Time) (*state, time.Time, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, time.Time{}, fmt.Errorf("demo state: %w", err)
	}
	s := &state{dir: dir}
	path := filepath.Join(dir, anchorFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		anchor := Anchor(now)
		if err := os.WriteFile(path, []byte(anchor.Format(time.RFC3339)+"\n"), 0o600); err != nil {
			return nil, time.Time{}, fmt.Errorf("demo state: %w", err)
		}
		return s, anchor, nil
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("demo state: %w", err)
	}
	anchor, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("demo state %s: %w", path, err)
	}
	return s, anchor.UTC(), nil
}

// secret returns the key kept in the directory, making one on first use.
func (s *state) secret() ([]byte, error) {
	path := filepath.Join(s.dir, secretFile)
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("demo state: %w", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("demo state: %w", err)
	}
	return b, nil
}

// journalEntry is one applied write.
type journalEntry struct {
	Instance string       `json:"instance"`
	ID       string       `json:"id"`
	Patch    schema.Patch `json:"patch"`
}

func (s *state) record(e journalEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.dir, journalFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("demo state: %w", err)
	}
	b, _ := json.Marshal(e)
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("demo state: %w", err)
	}
	return nil
}

// replay applies the journal to the instances, in the order written, and
// returns how many writes it made.
func (s *state) replay(ctx context.Context, instances []*incidents.Instance) (int, error) {
	f, err := os.Open(filepath.Join(s.dir, journalFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("demo state: %w", err)
	}
	defer f.Close()
	byName := map[string]driver.Driver{}
	for _, in := range instances {
		byName[in.Name] = in.Driver
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var e journalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return n, fmt.Errorf("demo state %s line %d: %w", journalFile, line, err)
		}
		d, ok := byName[e.Instance]
		if !ok {
			return n, fmt.Errorf("demo state %s line %d: no instance %q", journalFile, line, e.Instance)
		}
		if _, err := d.Update(ctx, e.ID, e.Patch); err != nil {
			return n, fmt.Errorf("demo state %s line %d: replay %s %s: %w", journalFile, line, e.Instance, e.ID, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("demo state: %w", err)
	}
	return n, nil
}

// journaled records every write its driver applies.
type journaled struct {
	driver.Driver
	instance string
	state    *state
}

func (j *journaled) Update(ctx context.Context, id string, patch schema.Patch) (*driver.UpdateResult, error) {
	res, err := j.Driver.Update(ctx, id, patch)
	if err != nil {
		return res, err
	}
	if jerr := j.state.record(journalEntry{Instance: j.instance, ID: id, Patch: patch}); jerr != nil {
		// The vendor applied the write; only its record for the next run
		// is lost, which the caller must hear about.
		return res, fmt.Errorf("the write was applied, but %w", jerr)
	}
	return res, nil
}

// journaledPrefix keeps the driver's prefix listing visible.
type journaledPrefix struct {
	*journaled
	driver.PrefixLister
}

// journal wraps every instance's driver so its writes are recorded.
func (s *state) journal(instances []*incidents.Instance) {
	for _, in := range instances {
		j := &journaled{Driver: in.Driver, instance: in.Name, state: s}
		if p, ok := in.Driver.(driver.PrefixLister); ok {
			in.Driver = journaledPrefix{journaled: j, PrefixLister: p}
			continue
		}
		in.Driver = j
	}
}
