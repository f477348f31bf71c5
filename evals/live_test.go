package evals

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/prompts"
)

var live = flag.Bool("live", false, "run the scenarios with a real model (needs ANTHROPIC_API_KEY; make evals-live)")

// liveTools reads tools/list as the Messages API wants it.
func liveTools(t *testing.T, env *Env) []apiTool {
	t.Helper()
	tl, err := env.Client.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tools, err := APITools(tl.Tools)
	if err != nil {
		t.Fatal(err)
	}
	return tools
}

// TestLiveModel gives a real model the tools and every scenario's
// question, records the transcripts under transcripts/ and scores them.
// Opt-in: make evals-live with ANTHROPIC_API_KEY set.
func TestLiveModel(t *testing.T) {
	key := os.Getenv("ANTHROPIC_API_KEY")
	switch {
	case !*live:
		t.Skip("live-model evals are opt-in: make evals-live")
	case key == "":
		t.Skip("ANTHROPIC_API_KEY is not set; skipping the live-model evals")
	}
	m := &Model{BaseURL: envOr("ANTHROPIC_BASE_URL", "https://api.anthropic.com"), APIKey: key, Name: envOr("ANTHROPIC_MODEL", "claude-sonnet-4-5")}
	scs, err := LoadScenarios(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	dir := "transcripts"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-40s %5s %8s  %s\n", "scenario", "calls", "tokens", "pass")
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			env := startEnv(t) // a fresh demo each: a model's write must not leak into the next question
			before := Facts(env.Demo)
			tr, err := m.Ask(t.Context(), prompts.Instructions, liveTools(t, env), sc.Question,
				env.Caller(t.Context()))
			if tr != nil {
				b, _ := json.MarshalIndent(tr, "", "  ")
				os.WriteFile(filepath.Join(dir, sc.Name+".json"), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			s := ScoreLive(&sc, tr, before, Facts(env.Demo))
			for _, f := range s.Failures {
				t.Error(f)
			}
			fmt.Fprintf(&table, "%-40s %5d %8d  %v\n", sc.Name, s.Calls, s.Tokens, s.Pass)
		})
	}
	t.Logf("\n%s", table.String())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// replayStep is one recorded turn: what the request must carry, and the
// response to send back.
type replayStep struct {
	ExpectTools          []string        `json:"expect_tools"`
	ExpectLastUser       string          `json:"expect_last_user"`
	ExpectToolResult     string          `json:"expect_tool_result"`
	ExpectResultContains string          `json:"expect_result_contains"`
	Status               int             `json:"status"`
	Response             json.RawMessage `json:"response"`
}

// replayServer serves recorded responses in order, checking each request
// the runner sends against the recording.
func replayServer(t *testing.T, steps []replayStep) *httptest.Server {
	var mu sync.Mutex
	next := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/v1/messages" || r.Method != http.MethodPost {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		if r.Header.Get("x-api-key") != "replay-key" || r.Header.Get("anthropic-version") != "2023-06-01" {
			t.Errorf("headers: key %q, version %q", r.Header.Get("x-api-key"), r.Header.Get("anthropic-version"))
		}
		if next >= len(steps) {
			t.Errorf("request %d, the recording has %d", next+1, len(steps))
			http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"no more recorded turns"}}`, http.StatusBadRequest)
			return
		}
		st := steps[next]
		next++
		body, _ := io.ReadAll(r.Body)
		var req request
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request body: %v", err)
		}
		if req.Model == "" || req.MaxTokens == 0 || !strings.Contains(req.System, "⟦") {
			t.Errorf("request lacks model, max_tokens or the server instructions: %s", clip(string(body)))
		}
		for _, name := range st.ExpectTools {
			if !strings.Contains(string(body), `"name":"`+name+`"`) {
				t.Errorf("request does not offer tool %s", name)
			}
		}
		lastMsg := req.Messages[len(req.Messages)-1]
		if st.ExpectLastUser != "" && (lastMsg.Role != "user" || lastMsg.Content[0].Text != st.ExpectLastUser) {
			t.Errorf("last message %+v, want the question", lastMsg)
		}
		if st.ExpectToolResult != "" {
			b := lastMsg.Content[0]
			if lastMsg.Role != "user" || b.Type != "tool_result" || b.ToolUseID != st.ExpectToolResult || !strings.Contains(b.Content, st.ExpectResultContains) {
				t.Errorf("last message %+v, want the tool_result for %s", lastMsg, st.ExpectToolResult)
			}
			if prev := req.Messages[len(req.Messages)-2]; prev.Role != "assistant" {
				t.Errorf("the assistant's tool_use turn is not replayed before its result")
			}
		}
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(st.Status)
		w.Write(st.Response)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestLiveReplay runs the live runner's request/response handling against
// a recorded conversation served by httptest, so the code path runs in CI
// without a key.
func TestLiveReplay(t *testing.T) {
	raw, err := os.ReadFile("testdata/live_replay.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Steps []replayStep `json:"steps"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	scs, err := LoadScenarios(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	sc := scs[0]
	if sc.Name != "01-eset-open-high-3d" {
		t.Fatalf("the recording answers 01-eset-open-high-3d, the first scenario is %s", sc.Name)
	}

	t.Run("conversation", func(t *testing.T) {
		env := startEnv(t)
		srv := replayServer(t, rec.Steps)
		m := &Model{BaseURL: srv.URL, APIKey: "replay-key", Name: "claude-sonnet-4-5", HTTP: srv.Client()}
		before := Facts(env.Demo)
		tr, err := m.Ask(t.Context(), prompts.Instructions, liveTools(t, env), sc.Question,
			env.Caller(t.Context()))
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Exchanges) != 2 || len(tr.Calls) != 1 || tr.Calls[0].Tool != "list_incidents" || tr.StopReason != "end_turn" {
			t.Fatalf("transcript: %d exchanges, calls %+v, stop %q", len(tr.Exchanges), tr.Calls, tr.StopReason)
		}
		if tr.InputTokens != 3391+3812 || tr.OutputTokens != 112+64 || !strings.Contains(tr.Answer, "None was changed") {
			t.Errorf("usage %d/%d, answer %q", tr.InputTokens, tr.OutputTokens, tr.Answer)
		}
		s := ScoreLive(&sc, tr, before, Facts(env.Demo))
		if !s.Pass || s.Calls != 1 || s.Tokens != 3391+3812+112+64 {
			t.Errorf("score %+v", s)
		}
	})

	t.Run("API error", func(t *testing.T) {
		env := startEnv(t)
		srv := replayServer(t, []replayStep{{Status: 529, Response: json.RawMessage(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)}})
		m := &Model{BaseURL: srv.URL, APIKey: "replay-key", Name: "m", HTTP: srv.Client()}
		_, err := m.Ask(t.Context(), prompts.Instructions, liveTools(t, env), "q", func(string, map[string]any) (Result, error) { return Result{}, nil })
		if err == nil || !strings.Contains(err.Error(), "overloaded_error: Overloaded") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("scoring catches a write without confirmation", func(t *testing.T) {
		env := startEnv(t)
		before := Facts(env.Demo)
		id := Newest(before, []string{"dlp"}).ID
		args := map[string]any{"id": id, "status": "closed", "resolution": "false_positive"}
		pv := env.call(t, "update_incident", args)
		args["confirmation_token"] = pv.Structured["confirmation_token"]
		env.call(t, "update_incident", args) // the model confirmed on its own
		tr := &Transcript{Answer: "closed", Calls: []TranscriptUse{{Tool: "update_incident"}, {Tool: "update_incident"}}}
		s := ScoreLive(&Scenario{Expect: Check{}}, tr, before, Facts(env.Demo))
		if s.Pass || !strings.Contains(strings.Join(s.Failures, ";"), "without the user's confirmation") {
			t.Errorf("score %+v", s)
		}
	})
}
