// Package apps serves the MCP Apps views (the io.modelcontextprotocol/ui
// extension): the self-contained HTML of the incident table and of the
// change preview, embedded in the binary, their ui:// resources with a
// strict content security policy, the tool metadata that binds a tool to a
// view, and whether the client of a request renders views at all.
package apps

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Extension is the identifier of MCP Apps in capabilities.extensions.
const Extension = "io.modelcontextprotocol/ui"

// MIMEType is the type of an MCP Apps HTML view.
const MIMEType = "text/html;profile=mcp-app"

// The views this server offers.
const (
	IncidentsURI = "ui://incident-mcp/incidents"
	ChangeURI    = "ui://incident-mcp/change"
)

// PageMetaKey is the key in a tool result's _meta under which the full page
// of a shrunk list_incidents result travels to the view: hosts show _meta to
// the view, not to the model.
const PageMetaKey = "incident-mcp/page"

//go:embed views/*.html views/view.css views/view.js
var files embed.FS

// shared are the stylesheet and script every view includes, at its
// {{view.css}} and {{view.js}} marks, before the policy hashes them: the
// views stay self-contained, one inline script and style each.
var shared = []string{"view.css", "view.js"}

// View is one embedded view: its URI, name and finished HTML.
type View struct {
	URI, Name, Title, Description string
	HTML                          string
}

var views = []View{
	{URI: IncidentsURI, Name: "incidents-table", Title: "Incident table",
		Description: "The incidents of a list_incidents call as a table: badges, sort, filter chips, paging and each incident's detail."},
	{URI: ChangeURI, Name: "incident-change", Title: "Incident change",
		Description: "The field-by-field diff of an update_incident preview, approval or result."},
}

func init() {
	for i, v := range views {
		name := strings.TrimPrefix(v.URI, "ui://incident-mcp/") + ".html"
		html, err := assemble(name)
		if err != nil {
			panic(fmt.Sprintf("apps: embedded view %s: %v", name, err))
		}
		views[i].HTML = withCSP(html)
	}
}

// assemble reads the view name with the shared pieces in place.
func assemble(name string) (string, error) {
	b, err := files.ReadFile("views/" + name)
	if err != nil {
		return "", err
	}
	html := string(b)
	for _, part := range shared {
		mark := "{{" + part + "}}"
		if !strings.Contains(html, mark) {
			return "", fmt.Errorf("no %s mark", mark)
		}
		p, err := files.ReadFile("views/" + part)
		if err != nil {
			return "", err
		}
		html = strings.ReplaceAll(html, mark, strings.TrimSuffix(string(p), "\n"))
	}
	return html, nil
}

var (
	scriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	styleRE  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

// cspPlaceholder is replaced by the view's own policy: the hashes of its one
// inline script and style, nothing loaded, nothing connected, no forms.
const cspPlaceholder = "{{CSP}}"

// withCSP pins the inline script and style by hash, so that even a host
// that applies no policy of its own runs nothing but this code.
func withCSP(html string) string {
	hashes := func(re *regexp.Regexp) string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(html, -1) {
			sum := sha256.Sum256([]byte(m[1]))
			out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		}
		return strings.Join(out, " ")
	}
	policy := "default-src 'none'; script-src " + hashes(scriptRE) + "; style-src " + hashes(styleRE) +
		"; img-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
	return strings.Replace(html, cspPlaceholder, policy, 1)
}

// Views are the embedded views.
func Views() []View { return slices.Clone(views) }

// uiMeta is the resource's _meta.ui: no network origins at all (empty
// allowlists are the strict default; they are spelled out so a reader of
// resources/list sees them), and a border around the frame.
func uiMeta() map[string]any {
	return map[string]any{
		"csp": map[string]any{
			"connectDomains":  []string{},
			"resourceDomains": []string{},
			"frameDomains":    []string{},
			"baseUriDomains":  []string{},
		},
		"prefersBorder": true,
	}
}

// Resources are the views as MCP resources.
func Resources() []server.ServerResource {
	out := make([]server.ServerResource, 0, len(views))
	for _, v := range views {
		r := mcp.NewResource(v.URI, v.Name, mcp.WithResourceDescription(v.Description), mcp.WithMIMEType(MIMEType))
		r.Title = v.Title
		r.Meta = mcp.NewMetaFromMap(map[string]any{"ui": uiMeta()})
		out = append(out, server.ServerResource{Resource: r, Handler: func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			return []mcp.ResourceContents{mcp.TextResourceContents{
				URI: v.URI, MIMEType: MIMEType, Text: v.HTML, Meta: map[string]any{"ui": uiMeta()},
			}}, nil
		}})
	}
	return out
}

// ServerOptions declare the extension and the resources capability.
func ServerOptions() []server.ServerOption {
	return []server.ServerOption{
		server.WithExtensions(map[string]any{Extension: map[string]any{}}),
		server.WithResourceCapabilities(false, false),
	}
}

// BindView marks t as rendered by the view at uri.
func BindView(t mcp.Tool, uri string) mcp.Tool {
	return withUI(t, map[string]any{"resourceUri": uri})
}

// AppOnly marks t as callable by views only: hosts keep it from the model.
func AppOnly(t mcp.Tool, uri string) mcp.Tool {
	return withUI(t, map[string]any{"resourceUri": uri, "visibility": []string{"app"}})
}

func withUI(t mcp.Tool, ui map[string]any) mcp.Tool {
	fields := map[string]any{}
	if t.Meta != nil {
		for k, v := range t.Meta.AdditionalFields {
			fields[k] = v
		}
	}
	fields["ui"] = ui
	t.Meta = mcp.NewMetaFromMap(fields)
	return t
}

// IsAppOnly reports whether t is hidden from the model.
func IsAppOnly(t mcp.Tool) bool {
	if t.Meta == nil {
		return false
	}
	ui, _ := t.Meta.AdditionalFields["ui"].(map[string]any)
	switch vis := ui["visibility"].(type) {
	case []string:
		return len(vis) > 0 && !slices.Contains(vis, "model")
	case []any: // as decoded from JSON
		return len(vis) > 0 && !slices.Contains(vis, any("model"))
	}
	return false
}

// ClientSupports reports whether the client of this request renders views:
// it declared the extension, in this request's _meta (protocol 2026-07-28)
// or at initialize, and, when it lists MIME types, the HTML view type among
// them.
func ClientSupports(ctx context.Context) bool {
	var caps *mcp.ClientCapabilities
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		caps = info.ClientCapabilities
	} else if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		c := s.GetClientCapabilities()
		caps = &c
	}
	if caps == nil {
		return false
	}
	settings, ok := caps.Extensions[Extension]
	if !ok {
		return false
	}
	m, _ := settings.(map[string]any)
	types, listed := m["mimeTypes"].([]any)
	if !listed {
		return true
	}
	return slices.ContainsFunc(types, func(t any) bool { s, _ := t.(string); return s == MIMEType })
}
