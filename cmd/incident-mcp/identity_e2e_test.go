package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/internal/httpserve/oauthtest"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// Two analysts' bearer tokens for the identity tests.
const (
	tokenAnn = "ann-5f2b8c1e9d7a4b3c6e0f1a2b3c4d5e6f"
	tokenBob = "bob-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

func twoCallers(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("ann "+tokenAnn+"\nbob "+tokenBob+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rpcAnswer is one raw answer of the MCP endpoint.
type rpcAnswer struct {
	status  int
	session string
	body    string
}

// rpc posts one JSON-RPC message as token, in session sid when not empty.
func rpc(t *testing.T, url, token, sid, method string, params any) rpcAnswer {
	t.Helper()
	msg := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		msg["params"] = params
	}
	return rawMCP(t, http.MethodPost, url, token, sid, msg)
}

func rawMCP(t *testing.T, method, url, token, sid string, msg any) rpcAnswer {
	t.Helper()
	var body io.Reader
	if msg != nil {
		b, _ := json.Marshal(msg)
		body = bytes.NewReader(b)
	}
	// A stream that opened (a hijack that worked) must not hang the test.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url+"/mcp", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rpcAnswer{status: resp.StatusCode, session: resp.Header.Get("Mcp-Session-Id"), body: string(b)}
}

func initialize(t *testing.T, url, token string) string {
	t.Helper()
	a := rpc(t, url, token, "", "initialize", map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "identity-e2e", "version": "1"}})
	if a.status != http.StatusOK || a.session == "" {
		t.Fatalf("initialize: %d %q %s", a.status, a.session, a.body)
	}
	return a.session
}

// TestSessionHijackMatrix: a session id that was never issued, was deleted,
// or belongs to another analyst gets 404 with one and the same answer, on
// every kind of request, and nothing is written; the owner's session works.
func TestSessionHijackMatrix(t *testing.T) {
	p := startHTTP(t, "", "--http-tokens-file", twoCallers(t), "--confirm-paths", "token")

	annC, err := p.client(t, map[string]string{"Authorization": "Bearer " + tokenAnn})
	if err != nil {
		t.Fatal(err)
	}
	inc := firstOpen(t, annC, 0)
	id := inc["id"].(string)
	update := map[string]any{"id": id, "title": "renamed by a hijacker"}
	_, sc := callTool(t, annC, "update_incident", update)
	token, _ := sc["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no confirmation token: %v", sc)
	}
	update["confirmation_token"] = token

	annSession := initialize(t, p.url, tokenAnn)
	deleted := initialize(t, p.url, tokenAnn)
	if a := rawMCP(t, http.MethodDelete, p.url, tokenAnn, deleted, nil); a.status != http.StatusOK {
		t.Fatalf("DELETE own session: %d %s", a.status, a.body)
	}
	sessions := map[string]struct{ token, sid string }{
		"never issued":      {tokenBob, "mcp-session-" + strings.Repeat("0", 26)},
		"deleted (owner)":   {tokenAnn, deleted},
		"deleted (other)":   {tokenBob, deleted},
		"another's session": {tokenBob, annSession},
	}
	calls := map[string]struct {
		method string
		params map[string]any
	}{
		"tools/list": {"tools/list", nil},
		"list":       {"tools/call", map[string]any{"name": "list_incidents", "arguments": map[string]any{"instance": "eset", "page_size": 1}}},
		"get":        {"tools/call", map[string]any{"name": "get_incident", "arguments": map[string]any{"id": id}}},
		"update":     {"tools/call", map[string]any{"name": "update_incident", "arguments": update}},
	}
	attempts, bodies := 0, map[string]bool{}
	for sname, s := range sessions {
		for cname, c := range calls {
			t.Run(sname+"/"+cname, func(t *testing.T) {
				a := rpc(t, p.url, s.token, s.sid, c.method, c.params)
				attempts++
				bodies[a.body] = true
				if a.status != http.StatusNotFound {
					t.Errorf("status %d, want 404: %s", a.status, a.body)
				}
			})
		}
		// An answer to an elicitation the server sent in that session.
		t.Run(sname+"/elicitation answer", func(t *testing.T) {
			a := rawMCP(t, http.MethodPost, p.url, s.token, s.sid, map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}})
			attempts++
			bodies[a.body] = true
			if a.status != http.StatusNotFound {
				t.Errorf("status %d, want 404: %s", a.status, a.body)
			}
		})
		t.Run(sname+"/GET stream", func(t *testing.T) {
			a := rawMCP(t, http.MethodGet, p.url, s.token, s.sid, nil)
			attempts++
			bodies[a.body] = true
			if a.status != http.StatusNotFound {
				t.Errorf("status %d, want 404", a.status)
			}
		})
	}
	if a := rawMCP(t, http.MethodDelete, p.url, tokenBob, annSession, nil); a.status != http.StatusNotFound {
		t.Errorf("DELETE of another's session: %d", a.status)
	}
	if len(bodies) != 1 {
		t.Errorf("the 404 answers differ, telling sessions apart: %v", bodies)
	}
	recs, _, _ := audit.Read(p.audit)
	t.Logf("hijack attempts: %d, audit records after them: %d", attempts, len(recs))
	if len(recs) != 0 {
		t.Fatalf("a hijack attempt wrote: %d audit records, the first %s by %s", len(recs), recs[0].Outcome, recs[0].Caller)
	}
	// The owner's session still works after all that, and the confirmation
	// the hijacker tried is still good for its owner: nothing consumed it.
	if a := rpc(t, p.url, tokenAnn, annSession, "tools/list", nil); a.status != http.StatusOK {
		t.Errorf("owner's session after the attempts: %d %s", a.status, a.body)
	}
	if res, sc := callTool(t, annC, "update_incident", update); res.IsError {
		t.Fatalf("owner's confirmed update: %v", sc)
	}
	if recs := records(t, p.audit); len(recs) != 1 || recs[0].Caller != "ann" {
		t.Errorf("audit after the owner's update: %+v", recs)
	}
}

// TestSessionCapPerCaller: one analyst opening 10,000 sessions gets the
// cap's worth and 429 for the rest; the other analyst is not affected, and
// DELETE frees a slot.
func TestSessionCapPerCaller(t *testing.T) {
	p := startHTTP(t, "", "--http-tokens-file", twoCallers(t), "--read-only",
		"--http-max-sessions-per-caller", "50", "--http-caller-rate", "0")
	idle := p.rss(t)
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}`
	codes := map[int]int{}
	var first string
	for range 10000 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, p.url+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tokenAnn)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		if first == "" {
			first = resp.Header.Get("Mcp-Session-Id")
		}
	}
	rss := p.rss(t)
	t.Logf("10,000 initialize from one caller: %v; RSS idle %d MB, after %d MB", codes, idle>>20, rss>>20)
	if codes[http.StatusOK] != 50 || codes[http.StatusTooManyRequests] != 10000-50 {
		t.Errorf("answers %v, want 50×200 and the rest 429", codes)
	}
	if rss-idle > 30<<20 {
		t.Errorf("RSS grew by %d MB", (rss-idle)>>20)
	}
	initialize(t, p.url, tokenBob)
	if a := rawMCP(t, http.MethodDelete, p.url, tokenAnn, first, nil); a.status != http.StatusOK {
		t.Fatalf("DELETE: %d", a.status)
	}
	initialize(t, p.url, tokenAnn)
}

// TestForgedTokensJWKSFetches: 1,000 tokens signed with an attacker's key
// under random key ids cost the issuer at most one key-set download per
// refetch interval, and none of them is accepted.
func TestForgedTokensJWKSFetches(t *testing.T) {
	is := oauthtest.Start(t)
	addr := freeAddr(t)
	resource := "http://" + addr + "/mcp"
	p := startHTTP(t, addr, "--oauth-issuer", is.URL, "--oauth-resource", resource, "--read-only")
	good := is.Token(t, oauthtest.Claims{Subject: "analyst-7", Audience: []string{resource}})
	if a := rpc(t, p.url, good, "", "initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "x", "version": "1"}}); a.status != http.StatusOK {
		t.Fatalf("valid token: %d %s", a.status, a.body)
	}
	before := is.JWKSFetches.Load()
	f := oauthtest.NewForger(t)
	start := time.Now()
	refused := 0
	for i := range 1000 {
		tok := f.Token(t, fmt.Sprintf("kid-%d-%d", i, time.Now().UnixNano()), oauthtest.Claims{Issuer: is.URL, Subject: "mallory", Audience: []string{resource}})
		if a := rpc(t, p.url, tok, "", "tools/list", nil); a.status == http.StatusUnauthorized {
			refused++
		}
	}
	fetches := is.JWKSFetches.Load() - before
	t.Logf("1,000 forged tokens in %s: %d refused, %d JWKS fetches", time.Since(start).Round(time.Millisecond), refused, fetches)
	if refused != 1000 {
		t.Errorf("%d of 1,000 forged tokens refused", refused)
	}
	// The default interval is 30 s; the burst takes far less.
	if limit := int64(time.Since(start)/(30*time.Second)) + 1; fetches > limit {
		t.Errorf("%d JWKS fetches for 1,000 forged tokens, want at most %d", fetches, limit)
	}
}

// TestApproverOIDCFlags: the binary's approval page signs approvers in with
// the IdP the flags name, and only members of the allowed groups.
func TestApproverOIDCFlags(t *testing.T) {
	is := oauthtest.Start(t)
	p := startHTTPEnv(t, "", []string{"INCIDENT_MCP_APPROVER_OIDC_SECRET=" + oauthtest.ClientSecret},
		"--demo", "--confirm-paths", "approval", "--approver-oidc-issuer", is.URL,
		"--approver-oidc-client-id", oauthtest.ClientID, "--approver-oidc-groups", "approvers", "--approver-oidc-name-claim", "email")
	signIn := func(u *oauthtest.User) (int, bool) {
		is.User.Store(u)
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.Path, "/approve/") {
				return http.ErrUseLastResponse // signed in: the page itself is not the point
			}
			return nil
		}}
		resp, err := hc.Get(p.url + "/approval/oidc/start?next=/approve/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		signed := false
		for _, c := range resp.Cookies() {
			signed = signed || (c.Name == "approval_session" && c.Value != "")
		}
		return resp.StatusCode, signed
	}
	if code, signed := signIn(&oauthtest.User{Subject: "u1", Email: "carol@example.com", Groups: []string{"approvers"}}); code != http.StatusSeeOther || !signed {
		t.Errorf("member of the allowed group: %d, signed in %v", code, signed)
	}
	if code, signed := signIn(&oauthtest.User{Subject: "u2", Email: "dave@example.com", Groups: []string{"soc"}}); code != http.StatusForbidden || signed {
		t.Errorf("outside the allowed group: %d, signed in %v", code, signed)
	}
	if !logEventually(func() bool { return strings.Contains(p.stderr.String(), "approver=carol@example.com") }) {
		t.Error("the sign-in is not logged with the approver")
	}
	out, err := exec.Command(testbin.Command(t, "incident-mcp"), "--demo", "--http", freeAddr(t), "--approver-oidc-issuer", "http://idp.example.com", "--approver-oidc-client-id", "x", "--approver-oidc-groups", "a").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "plain http off loopback") {
		t.Errorf("an http:// issuer off loopback was accepted: %v\n%s", err, out)
	}
}
