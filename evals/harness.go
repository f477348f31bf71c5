package evals

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
// by the real MCP server to an in-process client. Close stops it.
type Env struct {
	Demo   *demo.Env
	Client *client.Client
	// auditDir holds the audit log; Close removes it.
	auditDir string
	// closers run in reverse order on Close.
	closers []func()
}

// Start serves the demo. The simulators' rate limits are lifted (the evals
// count calls and tokens, not seconds); the service clock is pinned to Now.
// The audit log goes to a temporary directory that Close removes. ctx
// bounds the client's start and initialize.
func Start(ctx context.Context) (_ *Env, err error) {
	e := &Env{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	d, err := demo.Start(demo.Options{Now: Now, Unlimited: true})
	if err != nil {
		return nil, fmt.Errorf("start the demo: %w", err)
	}
	e.Demo = d
	e.closers = append(e.closers, d.Close)
	dir, err := os.MkdirTemp("", "incident-mcp-evals")
	if err != nil {
		return nil, err
	}
	e.auditDir = dir
	e.closers = append(e.closers, func() { os.RemoveAll(dir) })
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("e", 32)))
	if err != nil {
		return nil, err
	}
	log, err := audit.Open(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { log.Close() })
	svc, err := incidents.New(d.Instances, sealer, slog.New(slog.DiscardHandler),
		incidents.WithClock(func() time.Time { return Now }), incidents.WithAudit(log))
	if err != nil {
		return nil, err
	}
	// The scenarios play a client without elicitation on the token path,
	// which is off by default (the approval page has its own tests).
	tokenPath := &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathElicitation, approval.PathApproval, approval.PathToken}}}
	c, err := client.NewInProcessClient(tools.NewServer(svc, "evals", slog.New(slog.DiscardHandler), tools.Options{Update: tools.UpdateOptions{Policy: tokenPath}}))
	if err != nil {
		return nil, err
	}
	e.Client = c
	e.closers = append(e.closers, func() { c.Close() })
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("start the client: %w", err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "evals", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	return e, nil
}

// Close stops the client, the audit log and the demo, and removes the
// temporary directory.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// Result is one tool call as a model sees it.
type Result struct {
	Text       string
	Structured map[string]any
	IsError    bool
}

// Call runs a tool. A protocol error is an error; a tool error is a
// Result with IsError, which is what a model reads.
func (e *Env) Call(ctx context.Context, tool string, args map[string]any) (Result, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := e.Client.CallTool(ctx, req)
	if err != nil {
		return Result{}, fmt.Errorf("%s %v: protocol error: %w", tool, args, err)
	}
	return toResult(res), nil
}

// Caller is Call bound to ctx, as Scenario.Run and Model.Ask take it.
func (e *Env) Caller(ctx context.Context) Caller {
	return func(tool string, args map[string]any) (Result, error) { return e.Call(ctx, tool, args) }
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
