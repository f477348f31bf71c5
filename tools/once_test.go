package tools_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

// concurrency is how many calls race with one confirmation.
const concurrency = 10

// esetWrites counts the write requests the ESET simulator received.
func esetWrites(sim *esetsim.Server) int {
	n := 0
	for route, c := range sim.Stats().ByPath {
		if strings.HasPrefix(route, "POST ") && !strings.Contains(route, "oauth") {
			n += c
		}
	}
	return n
}

// race runs call concurrency times at once and returns the results' texts.
func race(call func() string) []string {
	out := make([]string, concurrency)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range out {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			out[i] = call()
		}()
	}
	start.Done()
	done.Wait()
	return out
}

// checkOnce asserts that exactly one of results applied, the others were
// told the confirmation was already used, the simulator saw one write (two
// vendor calls for this change), and the audit log holds one intent and
// its outcome.
func checkOnce(t *testing.T, f *fixture, results []string, writesBefore int, applied func(string) bool) {
	t.Helper()
	ok, used := 0, 0
	for _, r := range results {
		switch {
		case applied(r):
			ok++
		case strings.Contains(r, "already used") && strings.Contains(r, "nothing was written"):
			used++
		default:
			t.Errorf("unexpected result: %s", r)
		}
	}
	writes := esetWrites(f.env.ESET) - writesBefore
	recs := auditRecords(t, f)
	t.Logf("%d calls: %d applied, %d already used; vendor write requests %d; audit records %d", len(results), ok, used, writes, len(recs))
	if ok != 1 || used != concurrency-1 {
		t.Errorf("%d applied and %d already used, want 1 and %d", ok, used, concurrency-1)
	}
	// The change sets a severity and adds a comment: two vendor calls.
	if writes != 2 {
		t.Errorf("the simulator received %d write requests, want 2 (one write of two calls)", writes)
	}
	if len(recs) != 2 || recs[0].Outcome != audit.Intent || recs[1].Outcome != audit.Applied || recs[0].Write != recs[1].Write {
		t.Errorf("audit: want one intent and its applied outcome, got %+v", recs)
	}
}

// TestOneTokenWritesOnce: ten concurrent update_incident calls carrying the
// same confirmation_token write once.
func TestOneTokenWritesOnce(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[0], withToken)
	id := openIncident(t, f)["id"].(string)
	change := map[string]any{"id": id, "severity": "high", "comment": "once"}
	res, pv := f.call(t, tools.UpdateIncident, change)
	token, _ := pv["confirmation_token"].(string)
	if res.IsError || token == "" {
		t.Fatalf("preview: %s", text(res))
	}
	before := esetWrites(f.env.ESET)
	results := race(func() string {
		args := map[string]any{"confirmation_token": token}
		for k, v := range change {
			args[k] = v
		}
		res, _ := f.call(t, tools.UpdateIncident, args)
		return text(res)
	})
	checkOnce(t, f, results, before, func(s string) bool { return strings.HasPrefix(s, "APPLIED") })
}

// TestOneElicitationStateWritesOnce: ten concurrent calls carrying the same
// accepted requestState (the stateless protocol's elicitation round trip)
// write once.
func TestOneElicitationStateWritesOnce(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[1], setup{})
	id := openIncident(t, f)["id"].(string)
	args := map[string]any{"id": id, "severity": "high", "comment": "once"}
	meta := map[string]any{
		"io.modelcontextprotocol/protocolVersion":    protocolVersions[1],
		"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "racer", "version": "1"},
	}
	send := func(params map[string]any) string {
		msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
		reply, _ := json.Marshal(f.srv.HandleMessage(caller.With(t.Context(), f.who), msg))
		return string(reply)
	}
	first := send(map[string]any{"name": tools.UpdateIncident, "arguments": args, "_meta": meta})
	var reply struct {
		Result struct {
			RequestState string `json:"requestState"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(first), &reply); err != nil || reply.Result.RequestState == "" {
		t.Fatalf("no request state in the first answer: %s", first)
	}
	before := esetWrites(f.env.ESET)
	results := race(func() string {
		return send(map[string]any{
			"name": tools.UpdateIncident, "arguments": args, "_meta": meta,
			"requestState":   reply.Result.RequestState,
			"inputResponses": map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}},
		})
	})
	checkOnce(t, f, results, before, func(s string) bool { return strings.Contains(s, "APPLIED to") })
}

// TestTwoPreviewsOfOneState: two different changes previewed on the same
// state and confirmed at once: one is written, the other is refused
// because its "from" values are no longer true.
func TestTwoPreviewsOfOneState(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[0], withToken)
	id := openIncident(t, f)["id"].(string)
	changes := []map[string]any{
		{"id": id, "severity": "high"},
		{"id": id, "severity": "low", "title": "Benign after all"},
	}
	for _, c := range changes {
		res, pv := f.call(t, tools.UpdateIncident, c)
		if res.IsError {
			t.Fatalf("preview: %s", text(res))
		}
		c["confirmation_token"] = pv["confirmation_token"]
	}
	before := esetWrites(f.env.ESET)
	for range 5 { // the race has two orders; run it a few times
		var wg sync.WaitGroup
		results := make([]string, len(changes))
		for i, c := range changes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, _ := f.call(t, tools.UpdateIncident, c)
				results[i] = text(res)
			}()
		}
		wg.Wait()
		applied, refused := 0, 0
		for _, r := range results {
			switch {
			case strings.HasPrefix(r, "APPLIED"):
				applied++
			case strings.Contains(r, "changed since the preview") || strings.Contains(r, "already used"):
				refused++
			default:
				t.Errorf("unexpected result: %s", r)
			}
		}
		if applied > 1 {
			t.Fatalf("both previews of one state were written: %v", results)
		}
		if esetWrites(f.env.ESET)-before != 1 {
			t.Fatalf("%d vendor writes, want 1", esetWrites(f.env.ESET)-before)
		}
	}
	if recs := audit.Outcomes(auditRecords(t, f)); len(recs) != 1 || recs[0].Outcome != audit.Applied {
		t.Errorf("audit outcomes %+v", recs)
	}
}

// TestElicitationStateBoundToPrincipal: a request state sealed for one
// principal, answered "accept" by any other (another token, an OAuth
// subject of the same name, the anonymous loopback caller), is refused as a
// state this server never issued; nothing is written; its owner's answer
// then applies once.
func TestElicitationStateBoundToPrincipal(t *testing.T) {
	owner := caller.Identity{Name: "alice", Method: caller.MethodToken}
	f := newFixtureTB(t, protocolVersions[1], setup{who: owner, tools: tools.Options{Update: tools.UpdateOptions{
		Policy: &approval.Policy{ElicitationBy: []string{"*"}}}}})
	id := openIncident(t, f)["id"].(string)
	args := map[string]any{"id": id, "severity": "high"}
	meta := map[string]any{
		"io.modelcontextprotocol/protocolVersion":    protocolVersions[1],
		"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "relay", "version": "1"},
	}
	send := func(who caller.Identity, params map[string]any) string {
		msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
		reply, _ := json.Marshal(f.srv.HandleMessage(caller.With(t.Context(), who), msg))
		return string(reply)
	}
	first := send(owner, map[string]any{"name": tools.UpdateIncident, "arguments": args, "_meta": meta})
	var reply struct {
		Result struct {
			RequestState string `json:"requestState"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(first), &reply); err != nil || reply.Result.RequestState == "" {
		t.Fatalf("no request state: %s", first)
	}
	answer := map[string]any{"name": tools.UpdateIncident, "arguments": args, "_meta": meta,
		"requestState":   reply.Result.RequestState,
		"inputResponses": map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}}}
	before := esetWrites(f.env.ESET)
	attempts := 0
	for _, other := range []caller.Identity{
		{Name: "bob", Method: caller.MethodToken},
		{Name: "alice", Method: caller.MethodOAuth, Issuer: "https://idp.example"},
		{Method: caller.MethodNone},
		caller.Local("alice"),
	} {
		attempts++
		got := send(other, answer)
		if !strings.Contains(got, "not a confirmation this server issued") || strings.Contains(got, "APPLIED") {
			t.Errorf("%s answering alice's state: %s", other.Key(), got)
		}
	}
	if n := esetWrites(f.env.ESET) - before; n != 0 {
		t.Fatalf("%d writes from other principals", n)
	}
	if got := send(owner, answer); !strings.Contains(got, "APPLIED to") {
		t.Fatalf("the owner's answer: %s", got)
	}
	t.Logf("cross-principal elicitation answers: %d, writes: 0; owner's: 1 write", attempts)
}
