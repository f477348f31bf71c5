package tools_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/tools"
)

// openIDs returns n open ESET incident ids.
func openIDs(t *testing.T, f *fixture, n int) []any {
	t.Helper()
	_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": "eset", "status": []string{"open"}, "page_size": n})
	incs := sc["incidents"].([]any)
	if len(incs) < n {
		t.Fatalf("only %d open incidents", len(incs))
	}
	ids := make([]any, n)
	for i, inc := range incs {
		ids[i] = inc.(map[string]any)["id"]
	}
	return ids
}

// TestBulkArguments: bad bulk arguments are refused naming the argument,
// before any preview.
func TestBulkArguments(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	ids := openIDs(t, f, 2)
	many := make([]any, 51)
	for i := range many {
		many[i] = fmt.Sprintf("eset:%d", i)
	}
	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"id and ids", map[string]any{"id": ids[0], "ids": ids, "severity": "high"}, "ids: pass either id"},
		{"empty ids", map[string]any{"ids": []any{}, "severity": "high"}, "ids: empty"},
		{"51 ids", map[string]any{"ids": many, "severity": "high"}, "at most 50"},
		{"twice", map[string]any{"ids": []any{ids[0], ids[0]}, "severity": "high"}, "named twice"},
		{"nothing to change", map[string]any{"ids": ids}, "nothing to change"},
		{"operation with ids", map[string]any{"operation": "x", "ids": ids}, "operation alone"},
		{"operation with a change", map[string]any{"operation": "x", "status": "closed"}, "operation alone"},
		{"forged operation", map[string]any{"operation": "x"}, "operation: not a confirmation or operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := f.call(t, tools.UpdateIncident, tc.args)
			if !res.IsError || !strings.Contains(text(res), tc.want) {
				t.Errorf("want an error mentioning %q, got %s", tc.want, text(res))
			}
		})
	}
}

// TestBulkElicitation: a client with a form asks the user once for the
// whole set; the answer applies each incident with its own audit pair, and
// the result is one line per incident.
func TestBulkElicitation(t *testing.T) {
	human := &answer{action: mcp.ElicitationResponseActionAccept, content: map[string]any{"confirm": true}}
	f := newFixtureTB(t, protocolVersions[0], setup{elicit: human})
	ids := append(openIDs(t, f, 3), "eset:00000000-0000-0000-0000-000000000000")
	res, sc := f.call(t, tools.UpdateIncident, map[string]any{"ids": ids, "status": "closed", "resolution": "false_positive"})
	if res.IsError || human.asked.Load() != 1 {
		t.Fatalf("asked %d times: %s", human.asked.Load(), text(res))
	}
	msg, _ := human.message.Load().(string)
	if strings.Count(msg, "\n- eset:") != 3 || !strings.Contains(msg, "REFUSED eset:00000000-0000-0000-0000-000000000000 (not_found)") {
		t.Errorf("the form does not list every incident and the refusal: %q", msg)
	}
	counts, _ := sc["counts"].(map[string]any)
	if counts["applied"] != float64(3) {
		t.Fatalf("outcome: %s", text(res))
	}
	for _, id := range ids[:3] {
		if !strings.Contains(text(res), "- "+id.(string)+" applied") {
			t.Errorf("no line for %s: %s", id, text(res))
		}
	}
	pairs := map[string]int{}
	for _, r := range auditRecords(t, f) {
		if r.Outcome == audit.Intent || r.Outcome == audit.Applied {
			pairs[r.ID]++
		}
	}
	if len(pairs) != 3 {
		t.Errorf("audit: %v", pairs)
	}
	for id, n := range pairs {
		if n != 2 {
			t.Errorf("%s: %d records, want an intent and an outcome", id, n)
		}
	}
}

// TestBulkProgress: a client that asks for progress gets one notification
// per incident while the set is applied.
func TestBulkProgress(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[0], withToken)
	var mu sync.Mutex
	var got []string
	f.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			mu.Lock()
			got = append(got, fmt.Sprint(n.Params.AdditionalFields["message"]))
			mu.Unlock()
		}
	})
	ids := openIDs(t, f, 3)
	_, sc := f.call(t, tools.UpdateIncident, map[string]any{"ids": ids, "status": "closed", "resolution": "suspicious"})
	token, _ := sc["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no token: %v", sc)
	}
	args := map[string]any{"ids": ids, "status": "closed", "resolution": "suspicious", "confirmation_token": token}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = tools.UpdateIncident, args
	req.Params.Meta = &mcp.Meta{ProgressToken: "bulk-1"}
	res, err := f.c.CallTool(caller.With(t.Context(), f.who), req)
	if err != nil || res.IsError {
		t.Fatalf("%v %s", err, text(res))
	}
	for range 200 {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "1 of 3 incidents,2 of 3 incidents,3 of 3 incidents" {
		t.Errorf("progress: %q", got)
	}
}

// TestBulkForbiddenLikeUnknown: in a bulk preview, an incident on an
// instance the caller may not read is refused exactly as one on an
// instance that does not exist.
func TestBulkForbiddenLikeUnknown(t *testing.T) {
	fx := newMatrixFixture(t)
	hidden := "dlp-b:" + fx.open["dlp-b"] // alice may not read dlp-b
	ghost := "zz-ghost:" + fx.open["dlp-b"]
	_, res := fx.call(t, alice, tools.UpdateIncident, map[string]any{"ids": []any{"eset-a:" + fx.open["eset-a"], hidden, ghost}, "comment": "bulk"})
	sc := structured(res)
	refused, _ := sc["refused"].([]any)
	preview, _ := sc["preview"].([]any)
	if isError(res) || len(refused) != 2 || len(preview) != 1 {
		t.Fatalf("want 1 previewed and 2 refused: %v", res)
	}
	forbidden, unknown := refused[0].(map[string]any), refused[1].(map[string]any)
	if forbidden["code"] != unknown["code"] {
		t.Errorf("codes differ: %v, %v", forbidden["code"], unknown["code"])
	}
	sameAsUnknown(t, "bulk refusal", forbidden["reason"].(string), unknown["reason"].(string), "dlp-b", "zz-ghost")
}

// TestBulkElicitationDeclined: a declined form writes nothing to any
// incident of the set.
func TestBulkElicitationDeclined(t *testing.T) {
	human := &answer{action: mcp.ElicitationResponseActionDecline}
	f := newFixtureTB(t, protocolVersions[0], setup{elicit: human})
	ids := openIDs(t, f, 3)
	res, sc := f.call(t, tools.UpdateIncident, map[string]any{"ids": ids, "status": "closed", "resolution": "false_positive"})
	if res.IsError || sc["applied"] != false || !strings.Contains(text(res), "NOT APPLIED") {
		t.Fatalf("declined: %s", text(res))
	}
	if recs := auditRecords(t, f); len(recs) != 0 {
		t.Errorf("audit has %d records after a decline", len(recs))
	}
	_, got := f.call(t, tools.GetIncident, map[string]any{"id": ids[0]})
	if got["status"] != "open" {
		t.Errorf("%s is %v after a decline", ids[0], got["status"])
	}
}
