package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

// vendor is an ESET simulator served by the test process, outside the
// server under test, that records every write request it receives.
type vendor struct {
	url string
	sim *esetsim.Server

	mu     sync.Mutex
	writes []string // incident UUID of each write request, in arrival order
	// titles are the displayName values of the title changes the
	// simulator applied (answered 200).
	titles map[string]bool
}

func startVendor(t *testing.T, incidents int) *vendor {
	t.Helper()
	v := &vendor{sim: esetsim.New(esetsim.Config{Seed: 5, Incidents: incidents, RateLimit: -1}), titles: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/basic-attributes:update") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var attrs struct {
				DisplayName string `json:"displayName"`
			}
			json.Unmarshal(body, &attrs)
			rec := httptest.NewRecorder()
			defer func() {
				if rec.Code == http.StatusOK && attrs.DisplayName != "" {
					v.mu.Lock()
					v.titles[attrs.DisplayName] = true
					v.mu.Unlock()
				}
				for k, vs := range rec.Header() {
					w.Header()[k] = vs
				}
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
			}()
			w = rec
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v2/incidents/") {
			id := strings.TrimPrefix(r.URL.Path, "/v2/incidents/")
			if i := strings.IndexAny(id, "/:"); i >= 0 {
				id = id[:i]
			}
			v.mu.Lock()
			v.writes = append(v.writes, id)
			v.mu.Unlock()
		}
		v.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	v.url = srv.URL
	return v
}

func (v *vendor) env() []string {
	return []string{"ESET_API_URL=" + v.url, "ESET_TOKEN_URL=" + v.url + "/oauth/token", "ESET_USERNAME=demo", "ESET_PASSWORD=demo"}
}

// writesTo counts the write requests the vendor received, per incident.
func (v *vendor) writesTo() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[string]int{}
	for _, id := range v.writes {
		out[id]++
	}
	return out
}

// applied reports whether the simulator applied a title change to title.
func (v *vendor) applied(title string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.titles[title]
}

func (v *vendor) total() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.writes)
}

// racers are concurrent clients of one server, each on its own connection.
const racers = 10

// raceResults runs call once per racer, all at once.
func raceResults(call func(i int) string) []string {
	out := make([]string, racers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range out {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			out[i] = call(i)
		}()
	}
	start.Done()
	done.Wait()
	return out
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// tally checks one applied and racers-1 "already used" answers, one vendor
// write request more than before, and one more intent+outcome pair.
func tally(t *testing.T, name string, results []string, v *vendor, writesBefore int, srv *server, pairsBefore int) {
	t.Helper()
	applied, used := 0, 0
	for _, r := range results {
		switch {
		case strings.Contains(r, "APPLIED to"):
			applied++
		case strings.Contains(r, "already used") && strings.Contains(r, "nothing was written"):
			used++
		default:
			t.Errorf("%s: unexpected answer %s", name, r)
		}
	}
	recs, _, err := audit.Read(srv.audit)
	if err != nil {
		t.Fatal(err)
	}
	writes := v.total() - writesBefore
	pairs := len(audit.Outcomes(recs)) - pairsBefore
	t.Logf("%s: %d concurrent calls, %d applied, %d already used; vendor write requests %d; audit pairs %d, pending %d",
		name, len(results), applied, used, writes, pairs, len(audit.Pending(recs)))
	if applied != 1 || used != racers-1 || writes != 1 || pairs != 1 || len(audit.Pending(recs)) != 0 {
		t.Errorf("%s: want exactly one write and one audit pair", name)
	}
}

// TestOneConfirmationOverHTTP: the built binary over streamable HTTP, with
// ten concurrent mcp-go clients each on its own connection: one
// confirmation token, and one accepted elicitation state, each write once;
// two previews of the same state confirmed at once write once.
func TestOneConfirmationOverHTTP(t *testing.T) {
	v := startVendor(t, 60)
	srv := startServer(t, true, v.env())
	clients := make([]*client.Client, racers)
	for i := range clients {
		clients[i] = srv.connect(t, "2025-11-25", nil)
	}

	// One token, ten clients.
	target := firstOpen(t, clients[0], 0)
	args := map[string]any{"id": target["id"], "severity": "high"}
	_, pv := callTool(t, clients[0], "update_incident", args)
	token, _ := pv["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no token: %v", pv)
	}
	before := v.total()
	results := raceResults(func(i int) string {
		a := map[string]any{"id": target["id"], "severity": "high", "confirmation_token": token}
		res, _ := callTool(t, clients[i], "update_incident", a)
		return resultText(res)
	})
	tally(t, "one token", results, v, before, srv, 0)

	// One accepted elicitation state, ten connections of the stateless
	// protocol, each sending the same requestState and answer.
	other := firstOpen(t, clients[0], 1)
	meta := map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "racer", "version": "1"},
	}
	callArgs := map[string]any{"id": other["id"], "severity": "low"}
	transports := make([]*transport.StreamableHTTP, racers)
	for i := range transports {
		tr, err := transport.NewStreamableHTTP(srv.url + "/mcp")
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		transports[i] = tr
	}
	send := func(i int, params map[string]any) string {
		h := http.Header{}
		h.Set("MCP-Protocol-Version", "2026-07-28")
		h.Set("Mcp-Method", "tools/call")
		h.Set("Mcp-Name", "update_incident")
		resp, err := transports[i].SendRequest(t.Context(), transport.JSONRPCRequest{
			JSONRPC: "2.0", ID: mcp.NewRequestId(int64(i + 1)), Method: "tools/call", Params: params, Header: h,
		})
		if err != nil {
			return "transport error: " + err.Error()
		}
		if resp.Error != nil {
			return fmt.Sprintf("protocol error: %+v", resp.Error)
		}
		return string(resp.Result)
	}
	first := send(0, map[string]any{"name": "update_incident", "arguments": callArgs, "_meta": meta})
	var ask struct {
		RequestState string `json:"requestState"`
	}
	if json.Unmarshal([]byte(first), &ask); ask.RequestState == "" {
		t.Fatalf("no requestState: %s", first)
	}
	outcomes := len(records(t, srv.audit))
	before = v.total()
	results = raceResults(func(i int) string {
		return send(i, map[string]any{
			"name": "update_incident", "arguments": callArgs, "_meta": meta, "requestState": ask.RequestState,
			"inputResponses": map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}},
		})
	})
	tally(t, "one elicitation state", results, v, before, srv, outcomes)

	// Two previews of one state, confirmed at once from two clients.
	third := firstOpen(t, clients[0], 2)
	changes := []map[string]any{{"id": third["id"], "severity": "high"}, {"id": third["id"], "title": "renamed by the second preview"}}
	for _, c := range changes {
		_, pv := callTool(t, clients[0], "update_incident", c)
		c["confirmation_token"] = pv["confirmation_token"]
	}
	before = v.total()
	var wg sync.WaitGroup
	answers := make([]string, 2)
	for i, c := range changes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := callTool(t, clients[i+1], "update_incident", c)
			answers[i] = resultText(res)
		}()
	}
	wg.Wait()
	applied := 0
	for _, a := range answers {
		if strings.Contains(a, "APPLIED to") {
			applied++
		} else if !strings.Contains(a, "changed since the preview") {
			t.Errorf("two previews: unexpected answer %s", a)
		}
	}
	t.Logf("two previews of one state: %d applied, vendor write requests %d", applied, v.total()-before)
	if applied != 1 || v.total()-before != 1 {
		t.Errorf("two previews of one state: %d applied, %d vendor writes; want 1 and 1", applied, v.total()-before)
	}
}
