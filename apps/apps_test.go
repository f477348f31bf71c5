package apps

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// TestCSPPinsInlineCode: each view's policy names the hash of exactly its
// own inline script and style, so an edit that forgets to re-hash, or an
// injected script, does not run.
func TestCSPPinsInlineCode(t *testing.T) {
	for _, v := range Views() {
		t.Run(v.Name, func(t *testing.T) {
			if strings.Contains(v.HTML, cspPlaceholder) || strings.Contains(v.HTML, "{{") {
				t.Fatal("placeholder left in the view")
			}
			for _, part := range shared {
				b, err := files.ReadFile("views/" + part)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(v.HTML, strings.TrimSuffix(string(b), "\n")) {
					t.Errorf("the view lacks the shared %s", part)
				}
			}
			for _, re := range []struct {
				name string
				body string
			}{{"script-src", scriptRE.FindStringSubmatch(v.HTML)[1]}, {"style-src", styleRE.FindStringSubmatch(v.HTML)[1]}} {
				sum := sha256.Sum256([]byte(re.body))
				want := re.name + " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
				if !strings.Contains(v.HTML, want) {
					t.Errorf("policy lacks %s", want)
				}
			}
			if n := strings.Count(v.HTML, "<script"); n != 1 {
				t.Errorf("%d scripts, want 1 inline", n)
			}
		})
	}
}

// fakeSession is a client session that declared caps at initialize.
type fakeSession struct{ caps mcp.ClientCapabilities }

func (fakeSession) Initialize()                                         {}
func (fakeSession) Initialized() bool                                   { return true }
func (fakeSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return nil }
func (fakeSession) SessionID() string                                   { return "s" }
func (fakeSession) GetClientInfo() mcp.Implementation                   { return mcp.Implementation{} }
func (fakeSession) SetClientInfo(mcp.Implementation)                    {}
func (s fakeSession) GetClientCapabilities() mcp.ClientCapabilities     { return s.caps }
func (fakeSession) SetClientCapabilities(mcp.ClientCapabilities)        {}

func TestClientSupports(t *testing.T) {
	ui := func(settings any) mcp.ClientCapabilities {
		return mcp.ClientCapabilities{Extensions: map[string]any{Extension: settings}}
	}
	for _, tc := range []struct {
		name string
		caps mcp.ClientCapabilities
		want bool
	}{
		{"no extensions", mcp.ClientCapabilities{}, false},
		{"other extension", mcp.ClientCapabilities{Extensions: map[string]any{"io.modelcontextprotocol/tasks": map[string]any{}}}, false},
		{"empty settings", ui(map[string]any{}), true},
		{"html view type", ui(map[string]any{"mimeTypes": []any{"text/plain", MIMEType}}), true},
		{"other view types only", ui(map[string]any{"mimeTypes": []any{"text/uri-list"}}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			legacy := server.NewMCPServer("t", "1").WithContext(context.Background(), fakeSession{caps: tc.caps})
			if got := ClientSupports(legacy); got != tc.want {
				t.Errorf("declared at initialize: %v, want %v", got, tc.want)
			}
			caps := tc.caps
			modern := server.WithRequestProtocolInfo(context.Background(), &server.RequestProtocolInfo{Modern: true, ProtocolVersion: "2026-07-28", ClientCapabilities: &caps})
			if got := ClientSupports(modern); got != tc.want {
				t.Errorf("declared in the request: %v, want %v", got, tc.want)
			}
		})
	}
	if ClientSupports(context.Background()) {
		t.Error("a request with no client declared the extension")
	}
}

func TestVisibility(t *testing.T) {
	tool := mcp.NewTool("t")
	if IsAppOnly(tool) || IsAppOnly(BindView(tool, IncidentsURI)) {
		t.Error("a model tool counted as app-only")
	}
	if !IsAppOnly(AppOnly(tool, IncidentsURI)) {
		t.Error("an app-only tool counted as the model's")
	}
}
