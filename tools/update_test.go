package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/tools"
)

// withToken opens the model-relayed token path, off by default, for the
// tests of that path.
var withToken = setup{tools: tools.Options{Update: tools.UpdateOptions{Policy: &approval.Policy{
	Rule: approval.Rule{Paths: approval.Paths{approval.PathElicitation, approval.PathApproval, approval.PathToken}}}}}}

// answer is a scripted human answering elicitations.
type answer struct {
	action  mcp.ElicitationResponseAction
	content any
	asked   atomic.Int32
	message atomic.Value
}

func (a *answer) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	a.asked.Add(1)
	a.message.Store(req.Params.Message)
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: a.action, Content: a.content}}, nil
}

// openIncident finds an open ESET incident to change.
func openIncident(t *testing.T, f *fixture) map[string]any {
	t.Helper()
	_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": "eset", "status": []string{"open"}, "page_size": 1})
	incs := sc["incidents"].([]any)
	if len(incs) == 0 {
		t.Fatal("no open incident in the fixture")
	}
	return incs[0].(map[string]any)
}

func auditRecords(t *testing.T, f *fixture) []audit.Record {
	t.Helper()
	recs, torn, err := audit.Read(f.audit)
	if err != nil || torn != 0 {
		t.Fatalf("audit log: %v, %d torn", err, torn)
	}
	return recs
}

func TestUpdateTokenPath(t *testing.T) {
	for _, pv := range protocolVersions {
		t.Run(pv, func(t *testing.T) {
			f := newFixtureTB(t, pv, withToken)
			inc := openIncident(t, f)
			id := inc["id"].(string)
			change := map[string]any{"id": id, "severity": "high", "title": "Confirmed ransomware on host", "comment": "escalated"}

			res, preview := f.call(t, tools.UpdateIncident, change)
			if res.IsError || preview["applied"] != false {
				t.Fatalf("first call: %s", text(res))
			}
			token, _ := preview["confirmation_token"].(string)
			if token == "" || !strings.Contains(text(res), "PREVIEW") || !strings.Contains(text(res), "Confirmed ransomware on host") {
				t.Fatalf("preview lacks the token or the diff: %s", text(res))
			}
			if _, got := f.call(t, tools.GetIncident, map[string]any{"id": id}); got["title"] != inc["title"] {
				t.Fatal("the preview wrote")
			}
			if n := len(auditRecords(t, f)); n != 0 {
				t.Fatalf("%d audit records before any write", n)
			}

			// A token is bound to its exact change.
			other := map[string]any{"id": id, "severity": "low", "confirmation_token": token}
			if res, _ := f.call(t, tools.UpdateIncident, other); !res.IsError || !strings.Contains(text(res), "different change") {
				t.Errorf("token used for another change: %s", text(res))
			}
			tampered := []byte(token)
			tampered[10] ^= 2
			with := func(tok string) map[string]any {
				m := map[string]any{"confirmation_token": tok}
				for k, v := range change {
					m[k] = v
				}
				return m
			}
			if res, _ := f.call(t, tools.UpdateIncident, with(string(tampered))); !res.IsError {
				t.Errorf("tampered token accepted: %s", text(res))
			}

			res, done := f.call(t, tools.UpdateIncident, with(token))
			if res.IsError || done["applied"] != true {
				t.Fatalf("confirmed call: %s", text(res))
			}
			if _, got := f.call(t, tools.GetIncident, map[string]any{"id": id}); got["title"] != "Confirmed ransomware on host" || got["severity"] != "high" {
				t.Errorf("read back %v / %v", got["title"], got["severity"])
			}
			recs := auditRecords(t, f)
			if len(recs) != 2 || recs[0].Outcome != audit.Intent || recs[0].Write == "" || recs[0].Write != recs[1].Write ||
				recs[1].ID != id || recs[1].Outcome != audit.Applied || recs[1].Confirm != "token" || !strings.Contains(string(recs[1].Steps), "basic-attributes:update") {
				t.Fatalf("audit = %+v", recs)
			}
			if p := audit.Pending(recs); len(p) != 0 {
				t.Errorf("pending after a finished write: %+v", p)
			}

			// A confirmation applies once.
			if res, _ := f.call(t, tools.UpdateIncident, with(token)); !res.IsError || !strings.Contains(text(res), "already used") {
				t.Errorf("reused token: %s", text(res))
			}
			if n := len(auditRecords(t, f)); n != 2 {
				t.Errorf("%d audit records after a refused reuse", n)
			}
		})
	}
}

func TestUpdateElicitation(t *testing.T) {
	for _, pv := range protocolVersions {
		for _, tc := range []struct {
			name    string
			action  mcp.ElicitationResponseAction
			content any
			applied bool
		}{
			{"accept", mcp.ElicitationResponseActionAccept, map[string]any{"confirm": true}, true},
			{"accept unticked", mcp.ElicitationResponseActionAccept, map[string]any{"confirm": false}, false},
			{"accept empty", mcp.ElicitationResponseActionAccept, map[string]any{}, false},
			{"accept null", mcp.ElicitationResponseActionAccept, nil, false},
			{"accept string", mcp.ElicitationResponseActionAccept, map[string]any{"confirm": "true"}, false},
			{"decline", mcp.ElicitationResponseActionDecline, nil, false},
			{"cancel", mcp.ElicitationResponseActionCancel, nil, false},
		} {
			t.Run(pv+"/"+tc.name, func(t *testing.T) {
				human := &answer{action: tc.action, content: tc.content}
				f := newFixtureTB(t, pv, setup{elicit: human})
				inc := openIncident(t, f)
				id := inc["id"].(string)
				res, sc := f.call(t, tools.UpdateIncident, map[string]any{"id": id, "status": "closed", "resolution": "false_positive", "comment": "benign admin script"})
				if res.IsError {
					t.Fatalf("update: %s", text(res))
				}
				if human.asked.Load() != 1 {
					t.Fatalf("the human was asked %d times", human.asked.Load())
				}
				if msg, _ := human.message.Load().(string); !strings.Contains(msg, "status") || !strings.Contains(msg, `"closed"`) {
					t.Errorf("the prompt does not show the diff: %q", msg)
				}
				_, got := f.call(t, tools.GetIncident, map[string]any{"id": id})
				recs := auditRecords(t, f)
				if tc.applied {
					if sc["applied"] != true || got["status"] != "closed" || got["resolution"] != "false_positive" {
						t.Errorf("accepted but incident is %v/%v: %s", got["status"], got["resolution"], text(res))
					}
					if len(recs) != 2 || recs[1].Outcome != audit.Applied || recs[1].Confirm != "elicitation" || recs[1].Client == "" {
						t.Errorf("audit = %+v", recs)
					}
					return
				}
				if sc["applied"] != false || got["status"] != "open" || !strings.Contains(text(res), "NOT APPLIED") {
					t.Errorf("%s: result %s, incident %v", tc.name, text(res), got["status"])
				}
				if len(recs) != 0 {
					t.Errorf("audit has %d records after %s", len(recs), tc.name)
				}
			})
		}
	}
}

// TestUpdatePreAnswered: a client that sends "accept" with its first call,
// without a request state this server sealed, writes nothing.
func TestUpdatePreAnswered(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[1], setup{})
	inc := openIncident(t, f)
	id := inc["id"].(string)
	accept := json.RawMessage(`{"confirm":{"action":"accept","content":{"confirm":true}}}`)
	for _, tc := range []struct {
		name  string
		state string
	}{
		{"no state", ""},
		{"forged state", "eyJrIjoiY29uZmlybS1lbGljaXRhdGlvbiJ9.AAAA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]any{
				"name":           tools.UpdateIncident,
				"arguments":      map[string]any{"id": id, "severity": "low"},
				"inputResponses": accept,
				"_meta": map[string]any{
					"io.modelcontextprotocol/protocolVersion":    protocolVersions[1],
					"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}},
					"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "forger", "version": "1"},
				},
			}
			if tc.state != "" {
				params["requestState"] = tc.state
			}
			msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
			reply, _ := json.Marshal(f.srv.HandleMessage(caller.With(t.Context(), f.who), msg))
			if !strings.Contains(string(reply), `"isError":true`) {
				t.Errorf("pre-answered call was not refused: %s", reply)
			} else if !strings.Contains(string(reply), "inputResponses") && !strings.Contains(string(reply), "requestState") {
				t.Errorf("refused for another reason: %s", reply)
			}
			if _, got := f.call(t, tools.GetIncident, map[string]any{"id": id}); got["severity"] != inc["severity"] {
				t.Errorf("severity changed to %v", got["severity"])
			}
		})
	}
	if n := len(auditRecords(t, f)); n != 0 {
		t.Errorf("%d audit records", n)
	}
}

func TestUpdateRefusals(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	id := openIncident(t, f)["id"].(string)
	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"nothing", map[string]any{"id": id}, "nothing to change"},
		{"close without resolution", map[string]any{"id": id, "status": "closed"}, "needs a resolution"},
		{"resolution without close", map[string]any{"id": id, "resolution": "true_positive"}, "only when closing"},
		{"ESET has no critical", map[string]any{"id": id, "severity": "critical"}, "low, medium and high"},
		{"ESET reasons", map[string]any{"id": id, "status": "closed", "resolution": "low_priority"}, "true_positive, false_positive or suspicious"},
		{"reopen an open incident", map[string]any{"id": id, "status": "open"}, "already open"},
		{"unknown argument", map[string]any{"id": id, "tags": []string{"x"}}, "unknown argument"},
		{"bad id", map[string]any{"id": "nope", "severity": "low"}, "not an incident id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := f.call(t, tools.UpdateIncident, tc.args)
			if !res.IsError || !strings.Contains(text(res), tc.want) {
				t.Errorf("want an error mentioning %q, got %s", tc.want, text(res))
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[0], setup{tools: tools.Options{ReadOnly: true}})
	list, err := f.c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range list.Tools {
		if tool.Name == tools.UpdateIncident {
			t.Fatal("read-only server lists update_incident")
		}
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = tools.UpdateIncident
	req.Params.Arguments = map[string]any{"id": openIncident(t, f)["id"], "severity": "low"}
	res, err := f.c.CallTool(t.Context(), req)
	if err == nil && (res == nil || !res.IsError) {
		t.Fatalf("read-only server ran update_incident: %v", res)
	}
}

func TestElicitationOnly(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[0], setup{tools: tools.Options{Update: tools.UpdateOptions{ElicitationOnly: true}}})
	res, _ := f.call(t, tools.UpdateIncident, map[string]any{"id": openIncident(t, f)["id"], "severity": "low"})
	if !res.IsError || !strings.Contains(text(res), "elicitation") {
		t.Errorf("client without elicitation got %s", text(res))
	}
}

// TestUpdateEachVendor: through the token path, a change each vendor
// supports is applied and reads back; one it does not support is refused
// naming what it allows, before anything is written.
func TestUpdateEachVendor(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[1], withToken)
	for _, tc := range []struct {
		instance    string
		change      map[string]any
		check       func(got map[string]any) bool
		unsupported map[string]any
		allows      string
	}{
		{"kaspersky", map[string]any{"status": "closed", "resolution": "low_priority"},
			func(got map[string]any) bool { return got["status"] == "closed" && got["resolution"] == "low_priority" },
			map[string]any{"title": "renamed"}, "close"},
		{"dlp", map[string]any{"assignee": "analyst@example.com"},
			func(got map[string]any) bool {
				a, _ := got["assignee"].(map[string]any)
				return a["id"] == "analyst@example.com"
			},
			map[string]any{"severity": "low"}, "assignee"},
		{"dlp", map[string]any{"status": "closed", "resolution": "invalid_user_exempt", "comment": "exempt contractor"},
			func(got map[string]any) bool {
				return got["status"] == "closed" && got["resolution"] == "invalid_user_exempt"
			},
			nil, ""},
	} {
		t.Run(tc.instance+"/"+fmt.Sprint(tc.change), func(t *testing.T) {
			_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": tc.instance, "status": []string{"open"}, "page_size": 1 + len(tc.change)})
			incs := sc["incidents"].([]any)
			id := incs[len(incs)-1].(map[string]any)["id"].(string)
			if tc.unsupported != nil {
				args := map[string]any{"id": id}
				for k, v := range tc.unsupported {
					args[k] = v
				}
				res, _ := f.call(t, tools.UpdateIncident, args)
				if !res.IsError || !strings.Contains(text(res), "cannot change") || !strings.Contains(text(res), tc.allows) {
					t.Errorf("unsupported change: %s", text(res))
				}
			}
			args := map[string]any{"id": id}
			for k, v := range tc.change {
				args[k] = v
			}
			res, pv := f.call(t, tools.UpdateIncident, args)
			if res.IsError {
				t.Fatalf("preview: %s", text(res))
			}
			args["confirmation_token"] = pv["confirmation_token"]
			if res, _ := f.call(t, tools.UpdateIncident, args); res.IsError {
				t.Fatalf("apply: %s", text(res))
			}
			if _, got := f.call(t, tools.GetIncident, map[string]any{"id": id}); !tc.check(got) {
				t.Errorf("read back: %v", got)
			}
		})
	}
}

// TestRefusedBeforePreview: every value a vendor would refuse is refused at
// the preview, naming the argument and what the vendor takes, so the human
// is never asked to confirm a change that cannot be written.
func TestRefusedBeforePreview(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[0], setup{})
	firstOpen := func(instance string) string {
		_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": instance, "status": []string{"open"}, "page_size": 1})
		return sc["incidents"].([]any)[0].(map[string]any)["id"].(string)
	}
	ids := map[string]string{"eset": firstOpen("eset"), "kaspersky": firstOpen("kaspersky"), "dlp": firstOpen("dlp")}
	for _, tc := range []struct {
		instance string
		args     map[string]any
		want     []string
	}{
		{"kaspersky", map[string]any{"status": "closed", "resolution": "suspicious"}, []string{"resolution", "false_positive, low_priority, true_positive"}},
		{"kaspersky", map[string]any{"comment": "x"}, []string{"comment", "close"}},
		{"dlp", map[string]any{"status": "closed", "resolution": "suspicious"}, []string{"resolution", "invalid_user_exempt"}},
		{"dlp", map[string]any{"status": "closed", "resolution": "low_priority"}, []string{"resolution", "true_positive"}},
		{"dlp", map[string]any{"assignee": "not-an-email"}, []string{"assignee", "e-mail"}},
		{"dlp", map[string]any{"assignee": "analyst@localhost"}, []string{"assignee", "e-mail"}},
		{"dlp", map[string]any{"comment": "note on an open incident"}, []string{"comment", "only on closed incidents"}},
		{"dlp", map[string]any{"status": "closed", "resolution": "invalid_other", "comment": strings.Repeat("n", 4097)}, []string{"comment", "at most 4096"}},
		{"eset", map[string]any{"assignee": "e2e-analyst"}, []string{"assignee", "UUID"}},
		{"eset", map[string]any{"title": strings.Repeat("t", 257)}, []string{"title", "at most 256"}},
		{"eset", map[string]any{"comment": "  "}, []string{"comment"}},
	} {
		t.Run(tc.instance+"/"+fmt.Sprint(tc.args), func(t *testing.T) {
			args := map[string]any{"id": ids[tc.instance]}
			for k, v := range tc.args {
				args[k] = v
			}
			res, sc := f.call(t, tools.UpdateIncident, args)
			if !res.IsError || sc["confirmation_token"] != nil {
				t.Fatalf("not refused at the preview: %s", text(res))
			}
			for _, w := range tc.want {
				if !strings.Contains(text(res), w) {
					t.Errorf("refusal does not mention %q: %s", w, text(res))
				}
			}
		})
	}
	if n := len(auditRecords(t, f)); n != 0 {
		t.Errorf("%d audit records", n)
	}
}
