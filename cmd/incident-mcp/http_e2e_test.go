package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/internal/httpserve/oauthtest"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// httpProc is the built binary serving --demo over HTTP.
type httpProc struct {
	audit  string
	url    string
	addr   string
	cmd    *exec.Cmd
	stderr *syncBuffer
}

// logEventually waits up to 5 s for the server's log to show something: the
// log line of a call can reach the pipe after the call's answer.
func logEventually(ok func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startHTTP runs the demo on addr (a free loopback port when empty) with
// args and waits for /healthz.
func startHTTP(t *testing.T, addr string, args ...string) *httpProc {
	t.Helper()
	return startHTTPEnv(t, addr, nil, append([]string{"--demo"}, args...)...)
}

func startHTTPEnv(t *testing.T, addr string, env []string, args ...string) *httpProc {
	t.Helper()
	if addr == "" {
		addr = freeAddr(t)
	}
	p := &httpProc{url: "http://" + addr, addr: addr, stderr: &syncBuffer{}, audit: filepath.Join(t.TempDir(), "audit.jsonl")}
	all := append([]string{"--http", addr, "--audit-log", p.audit}, args...)
	p.cmd = exec.Command(testbin.Command(t, "incident-mcp"), all...)
	p.cmd.Env = append(append(os.Environ(), "INCIDENT_MCP_SECRET="+strings.Repeat("h", 32)), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	for range 200 {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not come up:\n%s", p.stderr)
	return nil
}

// rss is the process's resident set in bytes, from /proc/<pid>/status.
func (p *httpProc) rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no VmRSS")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func (p *httpProc) client(t *testing.T, headers map[string]string) (*client.Client, error) {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(p.url+"/mcp", transport.WithHTTPHeaders(headers))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(t.Context()); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	init.Params.ClientInfo = mcp.Implementation{Name: "http-e2e", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		return nil, err
	}
	// As real clients do: the client mirrors x-mcp-header parameters
	// (instance) into Mcp-Param-* headers only for tools it has listed.
	if _, err := c.ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
		return nil, err
	}
	return c, nil
}

func rawPost(t *testing.T, url string, headers map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/mcp",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func scrapeMetrics(t *testing.T, url string, headers ...string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/metrics", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestHTTPBearerTokens(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte("soc-bot 5f2b8c1e9d7a4b3c6e0f1a2b3c4d5e6f\n"), 0o600)
	p := startHTTP(t, "", "--http-tokens-file", tokens, "--confirm-paths", "token")

	resp := rawPost(t, p.url, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := rawPost(t, p.url, map[string]string{"Authorization": "Bearer 5f2b8c1e9d7a4b3c6e0f1a2b3c4d5e6e"}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	if _, err := p.client(t, map[string]string{"Authorization": "Bearer wrong-token-wrong-token"}); err == nil {
		t.Error("an MCP client with a wrong token connected")
	}
	c, err := p.client(t, map[string]string{"Authorization": "Bearer 5f2b8c1e9d7a4b3c6e0f1a2b3c4d5e6f"})
	if err != nil {
		t.Fatalf("good token: %v", err)
	}
	res, sc := callTool(t, c, "list_incidents", map[string]any{"instance": "eset", "page_size": 2})
	if res.IsError {
		t.Fatalf("list: %v", sc)
	}
	id := sc["incidents"].([]any)[0].(map[string]any)["id"].(string)
	if res, sc := callTool(t, c, "get_incident", map[string]any{"id": id}); res.IsError {
		t.Fatalf("get: %v", sc)
	}
	if res, _ := callTool(t, c, "get_incident", map[string]any{"id": "eset:no-such-incident"}); !res.IsError {
		t.Fatal("a missing incident was found")
	}
	if !logEventually(func() bool { return strings.Contains(p.stderr.String(), "caller=soc-bot") }) {
		t.Errorf("the log does not name the caller:\n%s", p.stderr)
	}

	// Metrics name instances and outcomes: the callers' token is needed.
	if text := scrapeMetrics(t, p.url); strings.Contains(text, "incident_mcp_") {
		t.Errorf("/metrics answered without a token:\n%.300s", text)
	}
	text := scrapeMetrics(t, p.url, "Authorization", "Bearer 5f2b8c1e9d7a4b3c6e0f1a2b3c4d5e6f")
	if strings.Contains(text, "soc-bot") {
		t.Error("/metrics names a caller without --metrics-caller-labels")
	}
	for _, want := range []string{
		`mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="list_incidents",mcp_method_name="tools/call",mcp_protocol_version="2025-06-18",network_transport="tcp"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="get_incident",mcp_method_name="tools/call",mcp_protocol_version="2025-06-18",network_transport="tcp"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="tool_error",gen_ai_tool_name="get_incident",mcp_method_name="tools/call",mcp_protocol_version="2025-06-18",network_transport="tcp"} 1`,
		`incident_mcp_http_auth_total{caller="token",result="ok"}`,
		`incident_mcp_http_auth_total{caller="-",result="missing"}`,
		`incident_mcp_vendor_requests_total{instance="eset",method="GET",status="200"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A confirmed write records the caller in the audit log.
	inc := firstOpen(t, c, 0)
	args := map[string]any{"id": inc["id"], "title": "renamed over authenticated HTTP"}
	_, sc = callTool(t, c, "update_incident", args)
	token, _ := sc["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no confirmation token: %v", sc)
	}
	args["confirmation_token"] = token
	if res, sc := callTool(t, c, "update_incident", args); res.IsError {
		t.Fatalf("confirmed update: %v", sc)
	}
	recs := records(t, p.audit)
	if len(recs) != 1 || recs[0].Caller != "soc-bot" || recs[0].Outcome != "applied" {
		t.Errorf("audit: %+v", recs)
	}

	// SIGHUP reloads the tokens file.
	os.WriteFile(tokens, []byte("rotated 7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for rawPost(t, p.url, map[string]string{"Authorization": "Bearer 7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a"}).StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the rotated token is not accepted after SIGHUP")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp := rawPost(t, p.url, map[string]string{"Authorization": "Bearer 5f2b8c1e9d7a4b3c6e0f1a2b3c4d5e6f"}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the removed token still works after SIGHUP: %d", resp.StatusCode)
	}

	resp, err = http.Get(p.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The unauthenticated probe learns "ready", not the instances.
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"ready"`) || strings.Contains(string(b), "eset") {
		t.Errorf("/readyz: %d %s", resp.StatusCode, b)
	}
}

func TestHTTPOAuth(t *testing.T) {
	is := oauthtest.Start(t)
	addr := freeAddr(t)
	resource := "http://" + addr + "/mcp"
	p := startHTTP(t, addr, "--oauth-issuer", is.URL, "--oauth-resource", resource)
	for _, tc := range []struct {
		name   string
		claims oauthtest.Claims
		ok     bool
	}{
		{"valid", oauthtest.Claims{Subject: "analyst-7", Audience: []string{resource}}, true},
		{"expired", oauthtest.Claims{Subject: "analyst-7", Audience: []string{resource}, Expiry: time.Now().Add(-10 * time.Minute)}, false},
		{"foreign audience", oauthtest.Claims{Subject: "analyst-7", Audience: []string{"https://another-server.example.com/mcp"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawPost(t, p.url, map[string]string{"Authorization": "Bearer " + is.Token(t, tc.claims)})
			if tc.ok != (resp.StatusCode == http.StatusOK) {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !tc.ok && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="http://`+addr+`/.well-known/oauth-protected-resource/mcp"`) {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	c, err := p.client(t, map[string]string{"Authorization": "Bearer " + is.Token(t, oauthtest.Claims{Subject: "analyst-7", Audience: []string{resource}})})
	if err != nil {
		t.Fatal(err)
	}
	if res, sc := callTool(t, c, "list_incidents", map[string]any{"instance": "dlp", "page_size": 1}); res.IsError {
		t.Fatal(sc)
	}
	if !logEventually(func() bool { return strings.Contains(p.stderr.String(), "caller=analyst-7") }) {
		t.Errorf("the log does not name the caller")
	}
	resp, err := http.Get(p.url + "/.well-known/oauth-protected-resource")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"authorization_servers":["`+is.URL+`"]`) {
		t.Errorf("metadata: %s", b)
	}
}

func TestHTTPRefusesNonLoopbackWithoutAuth(t *testing.T) {
	out, err := exec.Command(testbin.Command(t, "incident-mcp"), "--demo", "--http", "0.0.0.0:0", "--read-only").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to serve HTTP on a non-loopback address without authentication") {
		t.Fatalf("err %v:\n%s", err, out)
	}
}

func TestHTTPForeignOrigin(t *testing.T) {
	p := startHTTP(t, "")
	if resp := rawPost(t, p.url, map[string]string{"Origin": "https://attacker.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %d", resp.StatusCode)
	}
	if resp := rawPost(t, p.url, map[string]string{"Origin": "http://localhost:6274"}); resp.StatusCode != http.StatusOK {
		t.Errorf("loopback origin: %d", resp.StatusCode)
	}
}

// post50MB sends a 50 MB body over a raw connection (declared or chunked)
// and returns the status the server answered with.
func post50MB(t *testing.T, addr string, chunked bool) int {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer conn.Close()
	const size = 50 << 20
	hdr := "POST /mcp HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
	if chunked {
		hdr += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		hdr += fmt.Sprintf("Content-Length: %d\r\n\r\n", size)
	}
	go func() {
		conn.Write([]byte(hdr))
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			var err error
			if chunked {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
			} else {
				_, err = conn.Write(chunk)
			}
			if err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestHTTPBodyCap(t *testing.T) {
	p := startHTTP(t, "")
	rawPost(t, p.url, nil) // warm up
	base := p.rss(t)
	var peak int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if r := p.rss(t); r > peak {
				peak = r
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if got := post50MB(t, p.addr, i%2 == 1); got != http.StatusRequestEntityTooLarge {
				t.Errorf("50 MB body (chunked %v): status %d", i%2 == 1, got)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	t.Logf("RSS idle %d MB, peak %d MB during four 50 MB bodies", base>>20, peak>>20)
	if peak-base > 20<<20 {
		t.Errorf("RSS grew by %d MB", (peak-base)>>20)
	}
}

func TestHTTPSessionsReaped(t *testing.T) {
	// No per-caller cap here: this measures what reaping gives back.
	p := startHTTP(t, "", "--http-session-ttl", "2s", "--http-max-sessions-per-caller", "-1", "--http-caller-rate", "0")
	rawPost(t, p.url, nil)
	time.Sleep(time.Second)
	idle := p.rss(t)
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"abandoned","version":"1"}}}`
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 1250 {
				req, _ := http.NewRequest(http.MethodPost, p.url+"/mcp", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := hc.Do(req)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.Header.Get("Mcp-Session-Id") == "" {
					t.Errorf("no session id")
					return
				}
			}
		})
	}
	wg.Wait()
	full := p.rss(t)
	want := `mcp_server_session_duration_seconds_count{network_transport="tcp"} 5001`
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(scrapeMetrics(t, p.url), want) {
		if time.Now().After(deadline) {
			t.Fatalf("sessions not reaped: /metrics lacks %s", want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var after int64
	for range 60 { // the runtime returns freed pages to the OS gradually
		if after = p.rss(t); after-idle <= 30<<20 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("RSS idle %d MB, with 5,000 sessions %d MB, after reaping %d MB", idle>>20, full>>20, after>>20)
	if after-idle > 30<<20 {
		t.Errorf("RSS %d MB after reaping, idle was %d MB", after>>20, idle>>20)
	}
}

// TestErrorsHideInternals: a vendor that cannot be reached fails the call
// with a code and a ref; the URL and host stay in the log under that ref.
func TestErrorsHideInternals(t *testing.T) {
	dead := freeAddr(t) // nothing listens here any more
	p := startHTTPEnv(t, "", []string{
		"ESET_API_URL=http://" + dead + "/internal-eset", "ESET_TOKEN_URL=http://" + dead + "/oauth/token",
		"ESET_USERNAME=u", "ESET_PASSWORD=p",
	}, "--read-only")
	c, err := p.client(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, sc := callTool(t, c, "list_incidents", map[string]any{"instance": "eset"})
	if !res.IsError {
		t.Fatal("a dead vendor answered")
	}
	text := fmt.Sprint(res.Content, sc)
	host, _, _ := net.SplitHostPort(dead)
	for _, leak := range []string{host, "internal-eset", "http://", "dial tcp"} {
		if strings.Contains(text, leak) {
			t.Errorf("the model sees %q: %s", leak, text)
		}
	}
	ref, _ := sc["error"].(map[string]any)["ref"].(string)
	if ref == "" || !strings.Contains(text, "ref "+ref) {
		t.Fatalf("no ref in %s", text)
	}
	logged := logEventually(func() bool {
		for _, l := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(l, "ref="+ref) && strings.Contains(l, dead) {
				return true
			}
		}
		return false
	})
	if !logged {
		t.Errorf("the log has no line with ref %s and the vendor address:\n%s", ref, p.stderr)
	}
}
