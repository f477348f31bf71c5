package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

// TestMain removes the shared build when the package's tests end.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

type human struct{ action mcp.ElicitationResponseAction }

func (h human) Elicit(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	r := &mcp.ElicitationResult{}
	r.Action = h.action
	if h.action == mcp.ElicitationResponseActionAccept {
		r.Content = map[string]any{"confirm": true}
	}
	return r, nil
}

// server is one running incident-mcp process.
type server struct {
	env   []string
	args  []string
	url   string // set for HTTP
	audit string
}

// tokenPaths opens the model-relayed token path (off by default) for the
// tests of that path.
const tokenPaths = "elicitation,approval,token"

// startServer runs the binary with args; over HTTP it waits for /healthz.
// Unless args set --confirm-paths, the token path is open; unless they set
// --elicitation-by, every HTTP caller's elicitation counts.
func startServer(t *testing.T, overHTTP bool, env []string, args ...string) *server {
	t.Helper()
	s := &server{audit: filepath.Join(t.TempDir(), "audit.jsonl")}
	s.env = append([]string{"INCIDENT_MCP_SECRET=" + strings.Repeat("e", 32)}, env...)
	s.args = append(append([]string{}, args...), "--audit-log", s.audit, "--log-level", "warn")
	if !slices.Contains(args, "--confirm-paths") {
		s.args = append(s.args, "--confirm-paths", tokenPaths)
	}
	if !overHTTP {
		return s
	}
	if !slices.Contains(args, "--elicitation-by") {
		// Over HTTP only the callers the operator lists may confirm by
		// elicitation; these tests play an operator who lists everyone.
		s.args = append(s.args, "--elicitation-by", "*")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(testbin.Command(t, "incident-mcp"), append(s.args, "--http", addr)...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s.url = "http://" + addr
	for range 100 {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server did not come up")
	return nil
}

// connect opens an MCP client to s speaking protocol, answering
// elicitations with h when h is not nil.
func (s *server) connect(t *testing.T, protocol string, h client.ElicitationHandler) *client.Client {
	t.Helper()
	var tr transport.Interface
	if s.url != "" {
		var err error
		if tr, err = transport.NewStreamableHTTP(s.url + "/mcp"); err != nil {
			t.Fatal(err)
		}
	} else {
		tr = transport.NewStdio(testbin.Command(t, "incident-mcp"), s.env, s.args...)
	}
	var opts []client.ClientOption
	if h != nil {
		opts = append(opts, client.WithElicitationHandler(h))
	}
	c := client.NewClient(tr, opts...)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = protocol
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e-" + protocol, Version: "1"}
	if h != nil {
		init.Params.Capabilities.Elicitation = &mcp.ElicitationCapability{}
	}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	// As real clients do: the client mirrors x-mcp-header parameters
	// (instance) into Mcp-Param-* headers only for tools it has listed.
	if _, err := c.ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func callTool(t *testing.T, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := c.CallTool(t.Context(), req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var sc map[string]any
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &sc)
	return res, sc
}

func firstOpen(t *testing.T, c *client.Client, skip int) map[string]any {
	t.Helper()
	_, sc := callTool(t, c, "list_incidents", map[string]any{"instance": "eset", "status": []string{"open"}, "page_size": skip + 1})
	incs := sc["incidents"].([]any)
	return incs[len(incs)-1].(map[string]any)
}

// records reads the outcomes in the audit log at path; every intent there
// must have its outcome.
func records(t *testing.T, path string) []audit.Record {
	t.Helper()
	recs, _, err := audit.Read(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if p := audit.Pending(recs); len(p) != 0 {
		t.Errorf("intents without an outcome: %+v", p)
	}
	return audit.Outcomes(recs)
}

// TestUpdateOverTransports: over stdio and streamable HTTP, with both
// protocol generations, an accepted elicitation applies and is audited, a
// declined one writes nothing, and a client without elicitation gets the
// token path whose token is void after the write.
func TestUpdateOverTransports(t *testing.T) {
	testbin.Command(t, "incident-mcp")
	for _, overHTTP := range []bool{false, true} {
		for _, pv := range []string{"2025-11-25", "2026-07-28"} {
			name := map[bool]string{false: "stdio", true: "http"}[overHTTP] + "/" + pv
			t.Run(name, func(t *testing.T) {
				srv := startServer(t, overHTTP, []string{"XDG_STATE_HOME=" + t.TempDir()}, "--demo")
				yes := srv.connect(t, pv, human{mcp.ElicitationResponseActionAccept})
				inc := firstOpen(t, yes, 0)
				id := inc["id"].(string)
				res, sc := callTool(t, yes, "update_incident", map[string]any{"id": id, "severity": "high", "comment": "seen by e2e"})
				if res.IsError || sc["applied"] != true {
					t.Fatalf("accept: %v", res.Content)
				}
				if _, got := callTool(t, yes, "get_incident", map[string]any{"id": id}); got["severity"] != "high" {
					t.Errorf("severity after accept: %v", got["severity"])
				}
				if recs := records(t, srv.audit); len(recs) != 1 || recs[0].ID != id || recs[0].Confirm != "elicitation" {
					t.Fatalf("audit after accept: %+v", recs)
				}

				for _, action := range []mcp.ElicitationResponseAction{mcp.ElicitationResponseActionDecline, mcp.ElicitationResponseActionCancel} {
					no := srv.connect(t, pv, human{action})
					other := firstOpen(t, no, 1)
					res, sc := callTool(t, no, "update_incident", map[string]any{"id": other["id"], "title": "should not be written"})
					if res.IsError || sc["applied"] != false {
						t.Fatalf("%s: %v", action, res.Content)
					}
					if _, got := callTool(t, no, "get_incident", map[string]any{"id": other["id"]}); got["title"] != other["title"] {
						t.Errorf("%s wrote the title", action)
					}
				}
				if n := len(records(t, srv.audit)); n != 1 {
					t.Errorf("%d audit records after decline and cancel", n)
				}

				plain := srv.connect(t, pv, nil)
				target := firstOpen(t, plain, 2)
				args := map[string]any{"id": target["id"], "assignee": "5f2b9a43-0d5c-4a8e-9f6e-3b1c2d4e5f60"}
				res, sc = callTool(t, plain, "update_incident", args)
				token, _ := sc["confirmation_token"].(string)
				if res.IsError || token == "" {
					t.Fatalf("token path: %v", res.Content)
				}
				args["confirmation_token"] = token
				if res, sc := callTool(t, plain, "update_incident", args); res.IsError || sc["applied"] != true {
					t.Fatalf("confirm with token: %v", res.Content)
				}
				if res, _ := callTool(t, plain, "update_incident", args); !res.IsError {
					t.Error("a token reused after its write was accepted")
				}
				if n := len(records(t, srv.audit)); n != 2 {
					t.Errorf("%d audit records, want 2", n)
				}
				if overHTTP && pv == "2026-07-28" {
					preAnswered(t, srv, target["id"].(string))
				}
			})
		}
	}
}

// preAnswered posts a first call that already carries "accept", as a client
// trying to skip the human would; it must be refused.
func preAnswered(t *testing.T, srv *server, id string) {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": map[string]any{
		"name": "update_incident", "arguments": map[string]any{"id": id, "severity": "low"},
		"inputResponses": map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}},
		"_meta": map[string]any{
			"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
			"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}},
			"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "forger", "version": "1"},
		},
	}})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.url+"/mcp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "update_incident")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(reply), `"isError":true`) || !strings.Contains(string(reply), "inputResponses") {
		t.Errorf("pre-answered call over HTTP: %d %s", resp.StatusCode, reply)
	}
}

// TestTokenAcrossReplicas: two server processes sharing a secret and a
// vendor: a confirmation issued by one is honoured by the other.
func TestTokenAcrossReplicas(t *testing.T) {
	sim := httptest.NewServer(esetsim.New(esetsim.Config{Seed: 9, Incidents: 50, RateLimit: -1}))
	defer sim.Close()
	env := []string{"ESET_API_URL=" + sim.URL, "ESET_TOKEN_URL=" + sim.URL + "/oauth/token", "ESET_USERNAME=demo", "ESET_PASSWORD=demo"}
	a := startServer(t, true, env).connect(t, "2026-07-28", nil)
	bSrv := startServer(t, true, env)
	b := bSrv.connect(t, "2025-11-25", nil)
	target := firstOpen(t, a, 0)
	args := map[string]any{"id": target["id"], "description": "confirmed on another replica"}
	_, sc := callTool(t, a, "update_incident", args)
	token, _ := sc["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no token from replica A: %v", sc)
	}
	args["confirmation_token"] = token
	if res, sc := callTool(t, b, "update_incident", args); res.IsError || sc["applied"] != true {
		t.Fatalf("replica B refused A's token: %v", res.Content)
	}
	if recs := records(t, bSrv.audit); len(recs) != 1 {
		t.Errorf("replica B audited %d writes", len(recs))
	}
}
