package httpserve_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/internal/httpserve"
	"github.com/incident-mcp/incident-mcp/internal/httpserve/oauthtest"
)

// mcpServer has two tools: whoami answers the caller's name; slow waits
// for its "ms" argument before answering.
func mcpServer() *server.MCPServer {
	s := server.NewMCPServer("test", "1")
	s.AddTool(mcp.NewTool("whoami"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("caller=" + caller.Name(ctx)), nil
	})
	s.AddTool(mcp.NewTool("slow", mcp.WithNumber("ms")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-time.After(time.Duration(req.GetFloat("ms", 0)) * time.Millisecond):
			return mcp.NewToolResultText("done"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	return s
}

type running struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

// serve runs Serve on a free loopback port until the test ends.
func serve(t *testing.T, cfg httpserve.Config) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MCP == nil {
		cfg.MCP = mcpServer()
	}
	cfg.Listener = ln
	cfg.Addr = ln.Addr().String()
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- httpserve.Serve(ctx, cfg) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func post(t *testing.T, url, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// call initializes a session and calls a tool, returning the tool's text.
func call(t *testing.T, url, tool string, args map[string]any, hdr map[string]string) string {
	t.Helper()
	resp, body := post(t, url, initBody, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	h := map[string]string{"Mcp-Session-Id": resp.Header.Get("Mcp-Session-Id"), "Mcp-Protocol-Version": "2025-06-18"}
	for k, v := range hdr {
		h[k] = v
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}})
	resp, body = post(t, url, string(b), h)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tools/call: %d %s", resp.StatusCode, body)
	}
	return body
}

func writeTokens(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBearerTokens(t *testing.T) {
	path := writeTokens(t, "# SOC team\nalice 0123456789abcdef0123\nfedcba9876543210fedc\n")
	tokens, err := httpserve.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	r := serve(t, httpserve.Config{Tokens: tokens})
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer 0123456789abcdef0124", http.StatusUnauthorized},
		{"prefix of a token", "Bearer 0123456789abcdef012", http.StatusUnauthorized},
		{"basic scheme", "Basic 0123456789abcdef0123", http.StatusUnauthorized},
		{"named token", "Bearer 0123456789abcdef0123", http.StatusOK},
		{"unnamed token", "bearer fedcba9876543210fedc", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, r.url, initBody, map[string]string{"Authorization": tc.auth})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if got := call(t, r.url, "whoami", nil, map[string]string{"Authorization": "Bearer 0123456789abcdef0123"}); !strings.Contains(got, "caller=alice") {
		t.Errorf("whoami: %s", got)
	}
	if got := call(t, r.url, "whoami", nil, map[string]string{"Authorization": "Bearer fedcba9876543210fedc"}); !strings.Contains(got, "caller=token-") {
		t.Errorf("unnamed token is named by its hash: %s", got)
	}

	t.Run("reload", func(t *testing.T) {
		os.WriteFile(path, []byte("bob 99999999999999999999\n"), 0o600)
		if err := tokens.Reload(); err != nil {
			t.Fatal(err)
		}
		if resp, _ := post(t, r.url, initBody, map[string]string{"Authorization": "Bearer 0123456789abcdef0123"}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a removed token still works: %d", resp.StatusCode)
		}
		if got := call(t, r.url, "whoami", nil, map[string]string{"Authorization": "Bearer 99999999999999999999"}); !strings.Contains(got, "caller=bob") {
			t.Errorf("whoami: %s", got)
		}
		os.WriteFile(path, []byte("short\n"), 0o600)
		if err := tokens.Reload(); err == nil {
			t.Error("a short token was accepted")
		}
		if tokens.Len() != 1 {
			t.Errorf("a bad file replaced the tokens in force")
		}
	})
}

func TestTokenGroups(t *testing.T) {
	tokens, err := httpserve.LoadTokens(writeTokens(t, "ann 0123456789abcdef0123 soc,responders\nbob fedcba9876543210fedc\n"))
	if err != nil {
		t.Fatal(err)
	}
	ann, err := tokens.Authenticate(t.Context(), "0123456789abcdef0123")
	if err != nil || !ann.Matches("group:responders") || !ann.Matches("group:soc") || ann.Key() != "token:ann" {
		t.Errorf("ann: %+v %v", ann, err)
	}
	bob, _ := tokens.Authenticate(t.Context(), "fedcba9876543210fedc")
	if bob.Matches("group:soc") || len(bob.Groups) != 0 {
		t.Errorf("bob: %+v", bob)
	}
}

func TestTokensFileErrors(t *testing.T) {
	for name, content := range map[string]string{
		"empty":          "# nothing\n",
		"short token":    "abc\n",
		"duplicate name": "a 0123456789abcdef0123\na 0123456789abcdef0124\n",
		"four fields":    "a 0123456789abcdef0123 soc extra\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := httpserve.LoadTokens(writeTokens(t, content)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestOAuth(t *testing.T) {
	is := oauthtest.Start(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	resource := "http://" + addr + "/mcp"
	o, err := httpserve.NewOAuth(httpserve.OAuthConfig{Issuer: is.URL, Resource: resource, Scopes: []string{"incidents"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpserve.Config{OAuth: o, Addr: addr, MCP: mcpServer(), Logger: slog.New(slog.DiscardHandler)}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpserve.Serve(ctx, cfg) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + addr

	good := oauthtest.Claims{Subject: "analyst@example.com", Audience: []string{resource}, Scope: "openid incidents"}
	for _, tc := range []struct {
		name   string
		claims oauthtest.Claims
		want   int
	}{
		{"valid", good, http.StatusOK},
		{"expired", oauthtest.Claims{Subject: "a", Audience: []string{resource}, Scope: "incidents", Expiry: time.Now().Add(-5 * time.Minute)}, http.StatusUnauthorized},
		{"foreign audience", oauthtest.Claims{Subject: "a", Audience: []string{"https://other.example.com"}, Scope: "incidents"}, http.StatusUnauthorized},
		{"other issuer", oauthtest.Claims{Subject: "a", Audience: []string{resource}, Scope: "incidents", Issuer: "https://evil.example.com"}, http.StatusUnauthorized},
		{"missing scope", oauthtest.Claims{Subject: "a", Audience: []string{resource}}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, url, initBody, map[string]string{"Authorization": "Bearer " + is.Token(t, tc.claims)})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="`+url+"/.well-known/oauth-protected-resource/mcp") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if n := is.JWKSFetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times for five tokens, want once (cached)", n)
	}
	t.Run("tampered signature", func(t *testing.T) {
		tok := is.Token(t, good)
		tok = tok[:len(tok)-4] + "AAAA"
		if resp, _ := post(t, url, initBody, map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("no token points at the metadata", func(t *testing.T) {
		resp, _ := post(t, url, initBody, nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	if got := call(t, url, "whoami", nil, map[string]string{"Authorization": "Bearer " + is.Token(t, good)}); !strings.Contains(got, "caller=analyst@example.com") {
		t.Errorf("whoami: %s", got)
	}
	for _, p := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
		}
		json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if meta.Resource != resource || len(meta.AuthorizationServers) != 1 || meta.AuthorizationServers[0] != is.URL {
			t.Errorf("%s: %+v", p, meta)
		}
	}
}

func TestOriginHostAndBody(t *testing.T) {
	r := serve(t, httpserve.Config{MaxBodyBytes: 4096})
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		body string
		want int
	}{
		{"foreign origin", map[string]string{"Origin": "https://evil.example.com"}, initBody, http.StatusForbidden},
		{"loopback origin", map[string]string{"Origin": "http://localhost:6274"}, initBody, http.StatusOK},
		{"no origin", nil, initBody, http.StatusOK},
		{"body over the cap", nil, `{"x":"` + strings.Repeat("a", 5000) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := post(t, r.url, tc.body, tc.hdr); resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
		})
	}
	t.Run("chunked body over the cap", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			for range 100 {
				if _, err := pw.Write(bytes.Repeat([]byte("a"), 1024)); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, r.url+"/mcp", pr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("host allow-list", func(t *testing.T) {
		r := serve(t, httpserve.Config{AllowedHosts: []string{"mcp.example.com"}})
		if resp, _ := post(t, r.url, initBody, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("127.0.0.1 Host: %d", resp.StatusCode)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, r.url+"/mcp", strings.NewReader(initBody))
		req.Host = "mcp.example.com"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("allowed Host: %d", resp.StatusCode)
		}
	})
}

func TestRefusesNonLoopbackWithoutAuth(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "10.0.0.1:8080"} {
		err := httpserve.Serve(t.Context(), httpserve.Config{Addr: addr, MCP: mcpServer()})
		if !errors.Is(err, httpserve.ErrNoAuth) {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// TestGracefulShutdown: a call in flight when shutdown begins finishes
// within the grace period, while an open GET stream does not hold it.
func TestGracefulShutdown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	drained := make(chan struct{})
	go func() {
		done <- httpserve.Serve(ctx, httpserve.Config{Listener: ln, Addr: ln.Addr().String(), MCP: mcpServer(),
			ShutdownGrace: 5 * time.Second, OnDrain: func() { close(drained) }})
	}()
	url := "http://" + ln.Addr().String()
	resp, _ := post(t, url, initBody, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}

	// An SSE listening stream.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()

	var wg sync.WaitGroup
	var body string
	var status int
	wg.Go(func() {
		r, b := post(t, url, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","arguments":{"ms":800}}}`, hdr)
		status, body = r.StatusCode, b
	})
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cancel()
	<-drained
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || !strings.Contains(body, "done") {
		t.Errorf("in-flight call: %d %s", status, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v: the GET stream held it", d)
	}
}

// TestTLSReload: a renewed certificate is served without a restart.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- httpserve.Serve(ctx, httpserve.Config{Listener: ln, Addr: ln.Addr().String(), MCP: mcpServer(),
			TLSCert: certFile, TLSKey: keyFile, Logger: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() { cancel(); <-done })
	serial := func() int64 {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d", got)
	}
	writeCert(t, certFile, keyFile, 2)
	future := time.Now().Add(time.Minute) // a distinct mtime even on coarse clocks
	os.Chtimes(certFile, future, future)
	deadline := time.Now().Add(5 * time.Second)
	for serial() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
