// Package replicas_test runs the built server as several replicas sharing one
// Redis and one incident-sim, with a client that spreads its calls over them
// round-robin, and checks what the vendors saw.
package replicas_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/internal/redisstate/redistest"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// TestMain removes the built binaries when the package's tests end.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// endpoints is the first line incident-sim prints.
type endpoints struct {
	ESET, Kaspersky, DLP, Admin string
}

// simReport is the part of incident-sim's /stats the tests read.
type simReport struct {
	Seconds                float64        `json:"seconds"`
	Attempts               int            `json:"attempts"`
	MaxInAnySecond         int            `json:"max_in_any_second"`
	MaxInAnyMinute         int            `json:"max_in_any_minute"`
	PeakConcurrency        int            `json:"peak_concurrency"`
	PeakConcurrencyByRoute map[string]int `json:"peak_concurrency_by_route"`
	TooManySent            int            `json:"too_many_sent"`
	Statuses               map[string]int `json:"statuses"`
	Simulator              struct {
		ByPath map[string]int `json:"ByPath"`
	} `json:"simulator"`
}

type replica struct {
	url   string
	audit string
	cmd   *exec.Cmd
	c     *client.Client
}

type cluster struct {
	t        testing.TB
	redis    *redistest.Server
	sim      endpoints
	replicas []*replica
	next     atomic.Uint64
}

// startCluster runs one Redis, one incident-sim (with simArgs) and n
// replicas of the server sharing them, each with an MCP client.
func startCluster(t testing.TB, n int, simArgs ...string) *cluster {
	t.Helper()
	serverBin, simBin := testbin.Command(t, "incident-mcp"), testbin.Command(t, "incident-sim")
	c := &cluster{t: t, redis: redistest.Start(t)}

	args := append([]string{"-eset-addr", "127.0.0.1:0", "-kaspersky-addr", "127.0.0.1:0", "-dlp-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"}, simArgs...)
	sim := exec.Command(simBin, args...)
	sim.Stderr = nil
	out, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Process.Kill(); sim.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("incident-sim: %v", err)
	}
	if err := json.Unmarshal([]byte(line), &c.sim); err != nil {
		t.Fatalf("incident-sim's first line %q: %v", line, err)
	}

	env := append(os.Environ(),
		"INCIDENT_MCP_SECRET="+strings.Repeat("r", 32),
		"INCIDENT_MCP_REDIS_URL="+c.redis.URL(),
		fmt.Sprintf("INCIDENT_MCP_REPLICAS=%d", n),
		"ESET_API_URL="+c.sim.ESET, "ESET_TOKEN_URL="+c.sim.ESET+"/oauth/token", "ESET_USERNAME=demo", "ESET_PASSWORD=demo",
		"DLP_URL="+c.sim.DLP, "DLP_API_KEY=demo-api-key",
	)
	var wg sync.WaitGroup
	c.replicas = make([]*replica, n)
	for i := range n {
		r := &replica{audit: filepath.Join(t.TempDir(), "audit.jsonl")}
		addr := freeAddr(t)
		// The tests confirm with tokens, the path a client without
		// elicitation uses; they are off unless the operator names them.
		r.cmd = exec.Command(serverBin, "--http", addr, "--audit-log", r.audit, "--log-level", "error", "--confirm-paths", "elicitation,token")
		r.cmd.Env = env
		r.cmd.Stderr = os.Stderr
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.cmd.Process.Kill(); r.cmd.Wait() })
		r.url = "http://" + addr
		c.replicas[i] = r
		wg.Go(func() { r.c = connect(t, r.url) })
	}
	wg.Wait()
	return c
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func connect(t testing.TB, url string) *client.Client {
	for range 200 {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	tr, err := transport.NewStreamableHTTP(url + "/mcp")
	if err != nil {
		t.Error(err)
		return nil
	}
	c := client.NewClient(tr)
	if err := c.Start(t.Context()); err != nil {
		t.Error(err)
		return nil
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2026-07-28"
	init.Params.ClientInfo = mcp.Implementation{Name: "replicas", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Error(err)
		return nil
	}
	// As real clients do: the client mirrors x-mcp-header parameters
	// (instance) into Mcp-Param-* headers only for tools it has listed.
	if _, err := c.ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
		t.Error(err)
		return nil
	}
	return c
}

// result is one tool call's outcome.
type result struct {
	isError bool
	text    string
	sc      map[string]any
}

// callOn calls a tool on replica i.
func (c *cluster) callOn(i int, name string, args map[string]any) result {
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := c.replicas[i%len(c.replicas)].c.CallTool(c.t.Context(), req)
	if err != nil {
		return result{isError: true, text: err.Error()}
	}
	var r result
	r.isError = res.IsError
	for _, ct := range res.Content {
		if tc, ok := ct.(mcp.TextContent); ok {
			r.text += tc.Text
		}
	}
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &r.sc)
	return r
}

// call spreads calls over the replicas round-robin.
func (c *cluster) call(name string, args map[string]any) result {
	return c.callOn(int(c.next.Add(1)), name, args)
}

func (c *cluster) stats() map[string]simReport {
	c.t.Helper()
	resp, err := http.Get(c.sim.Admin + "/stats")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]simReport
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) resetStats() {
	c.t.Helper()
	resp, err := http.Post(c.sim.Admin+"/reset", "", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
}

// writes counts the vendor write requests the ESET simulator received.
func writes(r simReport) int {
	n := 0
	for k, v := range r.Simulator.ByPath {
		if strings.HasPrefix(k, "POST /v2/incidents/") {
			n += v
		}
	}
	return n
}
