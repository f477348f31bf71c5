package evals

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/tiktoken-go/tokenizer"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/tools"
)

// Now is the demo's reference time in every eval, so relative windows,
// datasets and token counts are the same on every run.
var Now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// Env is the demo (the three simulators with their default dataset) served
// by the real MCP server to an in-process client.
type Env struct {
	Demo   *demo.Env
	Client *client.Client
}

// Start serves the demo for one test. The simulators' rate limits are
// lifted (the evals count calls and tokens, not seconds); the service clock
// is pinned to Now.
func Start(t testing.TB) *Env {
	t.Helper()
	d, err := demo.Start(demo.Options{Now: Now, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("e", 32)))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	svc, err := incidents.New(d.Instances, sealer, slog.New(slog.DiscardHandler),
		incidents.WithClock(func() time.Time { return Now }), incidents.WithAudit(log))
	if err != nil {
		t.Fatal(err)
	}
	// The scenarios play a client without elicitation on the token path,
	// which is off by default (the approval page has its own tests).
	tokenPath := &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathElicitation, approval.PathApproval, approval.PathToken}}}
	c, err := client.NewInProcessClient(tools.NewServer(svc, "evals", slog.New(slog.DiscardHandler), tools.Options{Update: tools.UpdateOptions{Policy: tokenPath}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "evals", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	return &Env{Demo: d, Client: c}
}

// Result is one tool call as a model sees it.
type Result struct {
	Text       string
	Structured map[string]any
	IsError    bool
}

// Call runs a tool; a protocol error fails the test, a tool error is a
// Result with IsError.
func (e *Env) Call(t testing.TB, tool string, args map[string]any) Result {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := e.Client.CallTool(t.Context(), req)
	if err != nil {
		t.Fatalf("%s %v: protocol error: %v", tool, args, err)
	}
	return toResult(res)
}

func toResult(res *mcp.CallToolResult) Result {
	r := Result{IsError: res.IsError}
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	r.Text = strings.Join(parts, "\n")
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &r.Structured)
	return r
}

var (
	codecOnce sync.Once
	codec     tokenizer.Codec
	codecErr  error
)

// Tokens counts s with the o200k_base encoding. Claude's own tokenizer is
// not public; o200k_base is close enough to compare versions of this
// server, which is what the budget is for.
func Tokens(s string) int {
	codecOnce.Do(func() { codec, codecErr = tokenizer.Get(tokenizer.O200kBase) })
	if codecErr != nil {
		panic(fmt.Sprintf("tokenizer: %v", codecErr))
	}
	n, err := codec.Count(s)
	if err != nil {
		panic(fmt.Sprintf("tokenizer: %v", err))
	}
	return n
}
