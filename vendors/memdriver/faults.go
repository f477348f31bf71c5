package memdriver

import (
	"fmt"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// FailNext makes the next n requests (lists and reads) answer status, as a
// vendor's error would; n 0 disarms it.
func (d *Driver) FailNext(status, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults.failStatus, d.faults.failN = status, n
}

// FailListCall makes the nth List call from now (1 is the next) answer
// status, once: an error in the middle of a scan.
func (d *Driver) FailListCall(nth, status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.faults.listFail == nil || d.faults.listCalls > 0 {
		d.faults.listFail, d.faults.listCalls = map[int]int{}, 0
	}
	d.faults.listFail[nth] = status
}

// FailNextWrite answers the next write with status without applying it.
func (d *Driver) FailNextWrite(status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults.writeFail = status
}

// LoseNextAnswer applies the next write and then loses its answer: Update
// returns an error wrapping driver.ErrOutcomeUnknown.
func (d *Driver) LoseNextAnswer() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults.loseAnswer = true
}

// SetLatency delays every list and read by lat (within the caller's
// context), for time budgets.
func (d *Driver) SetLatency(lat time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults.latency = lat
}

// Counts returns how many writes reached the store and how many it
// applied (drivertest.Writes).
func (d *Driver) Counts() (sent, ok int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls.Writes, d.calls.WritesOK
}

// Calls returns the requests served so far.
func (d *Driver) Calls() Calls {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// Modify changes the stored incident id behind the service's back, as
// another analyst would, and moves its updated_at.
func (d *Driver) Modify(id string, change func(*schema.Incident)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := d.index(id)
	if i < 0 {
		return fmt.Errorf("modify %s: %w", id, ErrNotFound)
	}
	change(&d.records[i])
	d.records[i].UpdatedAt = later(d.records[i].UpdatedAt)
	return nil
}

// Incidents returns a copy of the stored incidents, in storage order.
func (d *Driver) Incidents() []schema.Incident {
	d.mu.Lock()
	defer d.mu.Unlock()
	return clone(d.records)
}
