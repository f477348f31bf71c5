package evals

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// Model talks to the Anthropic Messages API with tool use: the live-model
// evals give it the server's tools and a scenario's question, run the
// tool calls it asks for through the server, and record everything.
type Model struct {
	BaseURL string // https://api.anthropic.com
	APIKey  string
	Name    string // e.g. claude-sonnet-4-5
	HTTP    *http.Client
	// MaxTurns bounds the request/tool-result round trips of one question.
	MaxTurns int
}

// Transcript is one question's whole exchange.
type Transcript struct {
	Question  string          `json:"question"`
	Exchanges []Exchange      `json:"exchanges"`
	Calls     []TranscriptUse `json:"calls"`
	Answer    string          `json:"answer"`
	// InputTokens and OutputTokens are the API's own usage counts, summed.
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
	StopReason   string `json:"stop_reason"`
}

// Exchange is one request and its response, verbatim.
type Exchange struct {
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
}

// TranscriptUse is one tool call the model made and what the server answered.
type TranscriptUse struct {
	Tool   string         `json:"tool"`
	Args   map[string]any `json:"args"`
	Result Result         `json:"result"`
}

type apiTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   string          `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

type message struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

type request struct {
	Model     string    `json:"model"`
	MaxTokens int       `json:"max_tokens"`
	System    string    `json:"system,omitempty"`
	Tools     []apiTool `json:"tools"`
	Messages  []message `json:"messages"`
}

type response struct {
	Type       string  `json:"type"`
	Content    []block `json:"content"`
	StopReason string  `json:"stop_reason"`
	Usage      struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// APITools turns tools/list into the Messages API's tool definitions.
func APITools(tools []mcp.Tool) ([]apiTool, error) {
	out := make([]apiTool, 0, len(tools))
	for _, t := range tools {
		raw, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		var wire struct {
			InputSchema json.RawMessage `json:"inputSchema"`
		}
		if err := json.Unmarshal(raw, &wire); err != nil {
			return nil, err
		}
		out = append(out, apiTool{Name: t.Name, Description: t.Description, InputSchema: wire.InputSchema})
	}
	return out, nil
}

// Ask gives the model the question and the tools and plays its tool calls
// through call until it answers (or MaxTurns is spent); a call that fails
// to run ends the question with its error.
func (m *Model) Ask(ctx context.Context, system string, tools []apiTool, question string, call Caller) (*Transcript, error) {
	tr := &Transcript{Question: question}
	msgs := []message{{Role: "user", Content: []block{{Type: "text", Text: question}}}}
	turns := m.MaxTurns
	if turns <= 0 {
		turns = 12
	}
	for range turns {
		req := request{Model: m.Name, MaxTokens: 2048, System: system, Tools: tools, Messages: msgs}
		resp, ex, err := m.send(ctx, req)
		if ex != nil {
			tr.Exchanges = append(tr.Exchanges, *ex)
		}
		if err != nil {
			return tr, err
		}
		tr.InputTokens += resp.Usage.InputTokens
		tr.OutputTokens += resp.Usage.OutputTokens
		tr.StopReason = resp.StopReason
		msgs = append(msgs, message{Role: "assistant", Content: resp.Content})
		var results []block
		var text []string
		for _, b := range resp.Content {
			switch b.Type {
			case "text":
				text = append(text, b.Text)
			case "tool_use":
				var args map[string]any
				if err := json.Unmarshal(b.Input, &args); err != nil {
					return tr, fmt.Errorf("tool_use %s: input is not an object: %w", b.Name, err)
				}
				r, err := call(b.Name, args)
				if err != nil {
					return tr, err
				}
				tr.Calls = append(tr.Calls, TranscriptUse{Tool: b.Name, Args: args, Result: r})
				results = append(results, block{Type: "tool_result", ToolUseID: b.ID, Content: r.Text, IsError: r.IsError})
			}
		}
		if resp.StopReason != "tool_use" || len(results) == 0 {
			tr.Answer = strings.TrimSpace(strings.Join(text, "\n"))
			return tr, nil
		}
		msgs = append(msgs, message{Role: "user", Content: results})
	}
	return tr, fmt.Errorf("no answer after %d turns", turns)
}

func (m *Model) send(ctx context.Context, req request) (*response, *Exchange, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(m.BaseURL, "/")+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	hr.Header.Set("content-type", "application/json")
	hr.Header.Set("x-api-key", m.APIKey)
	hr.Header.Set("anthropic-version", "2023-06-01")
	client := m.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(hr)
	if err != nil {
		return nil, nil, fmt.Errorf("messages API: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("messages API: %w", err)
	}
	ex := &Exchange{Request: body, Response: raw}
	var out response
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, ex, fmt.Errorf("messages API: status %d, unreadable body: %w", res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK || out.Error != nil {
		msg := res.Status
		if out.Error != nil {
			msg = out.Error.Type + ": " + out.Error.Message
		}
		return nil, ex, fmt.Errorf("messages API: %s", msg)
	}
	return &out, ex, nil
}

// Score grades a live transcript against a scenario: the right incident
// set (what the model's list calls returned), nothing written unless the
// scenario writes, and the calls and tokens it took.
type Score struct {
	Pass     bool
	Calls    int
	Tokens   int // the model's input plus output tokens
	Failures []string
}

// ScoreLive grades tr; before and after are the datasets around the run.
func ScoreLive(sc *Scenario, tr *Transcript, before, after []Fact) Score {
	s := Score{Calls: len(tr.Calls), Tokens: tr.InputTokens + tr.OutputTokens}
	fail := func(format string, a ...any) { s.Failures = append(s.Failures, fmt.Sprintf(format, a...)) }
	var ids []string
	seen := map[string]bool{}
	for _, c := range tr.Calls {
		incs, _ := c.Result.Structured["incidents"].([]any)
		for _, x := range incs {
			m, _ := x.(map[string]any)
			if id, _ := m["id"].(string); id != "" && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if e := sc.Expect.Set; e != nil {
		if missing, extra := diff(factIDs(e.Select(before)), ids); len(missing)+len(extra) > 0 {
			fail("answer set: %d missing, %d unexpected", len(missing), len(extra))
		}
	}
	if e := sc.Expect.Count; e != nil {
		if want := fmt.Sprint(len(e.Select(before))); !strings.Contains(tr.Answer, want) {
			fail("the answer does not state the count %s", want)
		}
	}
	if sc.Expect.Written == nil && !sameFacts(before, after) {
		fail("wrote to a vendor without the user's confirmation")
	}
	if max := sc.Expect.MaxCalls; max > 0 && s.Calls > 2*max {
		fail("%d calls; a competent assistant needs %d", s.Calls, max)
	}
	if tr.Answer == "" {
		fail("no answer")
	}
	s.Pass = len(s.Failures) == 0
	return s
}
