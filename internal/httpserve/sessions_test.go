package httpserve_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/httpserve"
)

// downStore is a session store whose backend does not answer.
type downStore struct{}

var errDown = errors.New("redis down")

func (downStore) Create(context.Context, string, string, int, time.Duration) (bool, error) {
	return false, errDown
}
func (downStore) Owner(context.Context, string, time.Duration) (string, error) { return "", errDown }
func (downStore) Delete(context.Context, string) error                         { return errDown }

// TestSessionsFailClosed: when the session store cannot answer, no session
// is opened and no named session is served: 503, never a guess.
func TestSessionsFailClosed(t *testing.T) {
	r := serve(t, httpserve.Config{Sessions: downStore{}})
	if resp, body := post(t, r.url, initBody, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("initialize: %d %s", resp.StatusCode, body)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if resp, body := post(t, r.url, list, map[string]string{"Mcp-Session-Id": "mcp-session-X", "Mcp-Protocol-Version": "2025-06-18"}); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("named session: %d %s", resp.StatusCode, body)
	}
}

// TestSessionsPerPrincipal: sessions of two token callers, in process.
func TestSessionsPerPrincipal(t *testing.T) {
	tokens, err := httpserve.LoadTokens(writeTokens(t, "ann 0123456789abcdef0123\nbob fedcba9876543210fedc\n"))
	if err != nil {
		t.Fatal(err)
	}
	store := httpserve.NewMemSessions()
	r := serve(t, httpserve.Config{Tokens: tokens, Sessions: store, MaxSessionsPerCaller: 2})
	ann := map[string]string{"Authorization": "Bearer 0123456789abcdef0123"}
	bob := map[string]string{"Authorization": "Bearer fedcba9876543210fedc"}
	resp, _ := post(t, r.url, initBody, ann)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" || store.Open("token:ann") != 1 {
		t.Fatalf("initialize: %d %q open %d", resp.StatusCode, sid, store.Open("token:ann"))
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	with := func(h map[string]string, sid string) map[string]string {
		out := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	if resp, body := post(t, r.url, list, with(ann, sid)); resp.StatusCode != http.StatusOK {
		t.Errorf("owner: %d %s", resp.StatusCode, body)
	}
	_, foreign := post(t, r.url, list, with(bob, sid))
	_, unknown := post(t, r.url, list, with(bob, "mcp-session-never-issued"))
	if resp, _ := post(t, r.url, list, with(bob, sid)); resp.StatusCode != http.StatusNotFound || foreign != unknown {
		t.Errorf("another principal's session: %d; answers %q vs %q", resp.StatusCode, foreign, unknown)
	}
	post(t, r.url, initBody, ann)
	if resp, _ := post(t, r.url, initBody, ann); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third session over a cap of 2: %d", resp.StatusCode)
	}
	if resp, _ := post(t, r.url, initBody, bob); resp.StatusCode != http.StatusOK {
		t.Errorf("bob capped by ann's sessions: %d", resp.StatusCode)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, r.url+"/mcp", nil)
	for k, v := range with(ann, sid) {
		req.Header.Set(k, v)
	}
	dresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusOK || store.Open("token:ann") != 1 {
		t.Errorf("DELETE: %d, open %d", dresp.StatusCode, store.Open("token:ann"))
	}
	if resp, _ := post(t, r.url, list, with(ann, sid)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted session: %d", resp.StatusCode)
	}
}
