package replicas_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/audit"
)

// openESET returns the id and severity of the k-th open ESET incident.
func openESET(t *testing.T, c *cluster, k int) (string, string) {
	t.Helper()
	r := c.call("list_incidents", map[string]any{"instance": "eset", "status": []string{"open"}, "page_size": k + 1})
	if r.isError {
		t.Fatalf("list: %s", r.text)
	}
	incs, _ := r.sc["incidents"].([]any)
	if len(incs) <= k {
		t.Fatalf("only %d open ESET incidents", len(incs))
	}
	inc := incs[k].(map[string]any)
	sev, _ := inc["severity"].(string)
	return inc["id"].(string), sev
}

func otherSeverity(s string) string {
	if s == "high" {
		return "low"
	}
	return "high"
}

// outcomes lists the audit outcomes of id across every replica's log.
func outcomes(t *testing.T, c *cluster, id string) []string {
	t.Helper()
	var out []string
	for _, r := range c.replicas {
		recs, _, err := audit.Read(r.audit)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.ID == id {
				out = append(out, rec.Outcome)
			}
		}
	}
	slices.Sort(out)
	return out
}

// preview asks replica i for a confirmation token for args.
func preview(t *testing.T, c *cluster, i int, args map[string]any) string {
	t.Helper()
	r := c.callOn(i, "update_incident", args)
	tok, _ := r.sc["confirmation_token"].(string)
	if r.isError || tok == "" {
		t.Fatalf("preview on replica %d: %s", i, r.text)
	}
	return tok
}

// raceConfirm sends args with its token to every replica `each` times at
// once and returns the applied and refused counts.
func raceConfirm(c *cluster, calls []map[string]any, each int) (applied int, refusals []string) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := make(chan struct{})
	for k, args := range calls {
		for i := range len(c.replicas) {
			for range each {
				wg.Go(func() {
					<-start
					r := c.callOn(i+k, "update_incident", args)
					mu.Lock()
					defer mu.Unlock()
					if !r.isError && r.sc["applied"] == true {
						applied++
					} else {
						refusals = append(refusals, r.text)
					}
				})
			}
		}
	}
	close(start)
	wg.Wait()
	return applied, refusals
}

// TestOneConfirmationWritesOnceAcrossReplicas: one confirmation token sent
// to three replicas at once, ten times each, writes once and is audited once.
func TestOneConfirmationWritesOnceAcrossReplicas(t *testing.T) {
	c := startCluster(t, 3, "-no-limits", "-incidents", "60")
	id, sev := openESET(t, c, 0)
	args := map[string]any{"id": id, "severity": otherSeverity(sev)}
	args["confirmation_token"] = preview(t, c, 0, args)
	before := writes(c.stats()["eset"])

	applied, refusals := raceConfirm(c, []map[string]any{args}, 10)
	if applied != 1 {
		t.Fatalf("%d of 30 concurrent confirmations applied, want exactly 1; refusals: %q", applied, refusals)
	}
	if got := writes(c.stats()["eset"]) - before; got != 1 {
		t.Errorf("the vendor received %d write requests, want 1", got)
	}
	if got := outcomes(t, c, id); !slices.Equal(got, []string{"applied", "intent"}) {
		t.Errorf("audit across replicas for %s: %v, want one intent and one applied", id, got)
	}
}

// TestTwoPreviewsOneApplies: two previews of one incident, confirmed on two
// replicas at once: the write lock and the re-read let exactly one through.
func TestTwoPreviewsOneApplies(t *testing.T) {
	c := startCluster(t, 3, "-no-limits", "-incidents", "60")
	for round := range 3 {
		id, sev := openESET(t, c, round+1)
		a := map[string]any{"id": id, "severity": otherSeverity(sev)}
		b := map[string]any{"id": id, "title": fmt.Sprintf("retitled in round %d", round)}
		a["confirmation_token"] = preview(t, c, 0, a)
		b["confirmation_token"] = preview(t, c, 1, b)
		applied, refusals := raceConfirm(c, []map[string]any{a, b}, 1)
		if applied != 1 {
			t.Fatalf("round %d: %d of two previews of one incident applied, want 1; refusals: %q", round, applied, refusals)
		}
	}
}

// TestRedisOutage: with Redis killed, reads go on under each replica's share
// of the vendor limit and writes are refused without writing; when Redis
// returns, writes work again.
func TestRedisOutage(t *testing.T) {
	c := startCluster(t, 3, "-incidents", "100")
	id, sev := openESET(t, c, 0)
	c.redis.Stop()
	c.resetStats()

	// Reads: 6 workers for 3 seconds against ESET's 10/s.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, failed int
	deadline := time.Now().Add(3 * time.Second)
	for range 6 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				r := c.call("get_incident", map[string]any{"id": id})
				mu.Lock()
				if r.isError {
					failed++
					t.Logf("read during the outage: %s", r.text)
				} else {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	e := c.stats()["eset"]
	t.Logf("Redis down: %d reads ok, %d failed; ESET saw %d requests, at most %d in a second, %d 429s", ok, failed, e.Attempts, e.MaxInAnySecond, e.TooManySent)
	if ok < 10 || failed > 0 {
		t.Errorf("reads during the outage: %d ok, %d failed", ok, failed)
	}
	if e.MaxInAnySecond > 10 || e.TooManySent > 0 {
		t.Errorf("ESET saw %d requests in one second and sent %d 429s with Redis down; the fallback must keep to 1/3 each", e.MaxInAnySecond, e.TooManySent)
	}

	// Writes: refused, nothing written, whichever replica.
	before := writes(e)
	args := map[string]any{"id": id, "severity": otherSeverity(sev)}
	args["confirmation_token"] = preview(t, c, 0, args)
	for i := range 3 {
		r := c.callOn(i, "update_incident", args)
		if !r.isError || !strings.Contains(r.text, "unavailable") || !strings.Contains(r.text, "nothing was written") {
			t.Errorf("write on replica %d with Redis down: error=%v %q", i, r.isError, r.text)
		}
	}
	if got := writes(c.stats()["eset"]) - before; got != 0 {
		t.Errorf("%d vendor writes with Redis down", got)
	}

	// Recovery.
	c.redis.Restart()
	var r result
	for range 40 {
		if r = c.call("update_incident", args); !r.isError {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.isError || r.sc["applied"] != true {
		t.Fatalf("write after Redis returned: %s", r.text)
	}
}
