package eset

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"

	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// page1000 fetches one 1000-incident page from the simulator, as ESET sends it.
func page1000(b *testing.B) []byte {
	sim := esetsim.New(esetsim.Config{Seed: 3, Incidents: 1000, Now: now, RateLimit: -1})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	resp, err := http.PostForm(srv.URL+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo"}})
	if err != nil {
		b.Fatal(err)
	}
	var tok tokenResponse
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/incidents?pageSize=1000", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return body
}

func BenchmarkDecodeNormalizePage1000(b *testing.B) {
	body := page1000(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var lr listResponse
		if err := wire.Decode(body, &lr); err != nil {
			b.Fatal(err)
		}
		out := make([]schema.Incident, len(lr.Incidents))
		for i := range lr.Incidents {
			out[i] = normalize(&lr.Incidents[i], false)
		}
		if len(out) != 1000 {
			b.Fatalf("%d incidents", len(out))
		}
	}
}

// BenchmarkCompileAndPlan is the per-call work before any I/O: compile the
// typical filter, then translate it into ESET's filter string.
func BenchmarkCompileAndPlan(b *testing.B) {
	d, err := New(Config{APIURL: "http://127.0.0.1:1", TokenURL: "http://127.0.0.1:1", Username: "u", Password: "p", Common: descriptor.Common{Now: func() time.Time { return now }}})
	if err != nil {
		b.Fatal(err)
	}
	f := schema.Filter{MinSeverity: "high", Status: []string{"open", "in_progress"}, CreatedAfter: "3d", TitleContains: "ransom", DeviceIDs: []string{"5f2b9a43-0d5c-4a8e-9f6e-3b1c2d4e5f60"}}
	b.ReportAllocs()
	for b.Loop() {
		p, err := filter.Compile(f, "", now)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Plan(driver.Query{Criteria: p.Criteria, Order: schema.DefaultOrder, PageSize: 100, Fields: p.Fields()}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzStringLit: every string becomes a CEL literal that parses and
// evaluates back to itself, so no value can change the expression.
func FuzzStringLit(f *testing.F) {
	for _, s := range []string{`x") || true || ("`, `\`, "\n", "日本", "\U0001F600", `\u0022`, "\x7f"} {
		f.Add(s)
	}
	env, err := cel.NewEnv()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // schema refuses invalid UTF-8 before a driver sees it
		}
		ast, iss := env.Compile(stringLit(s))
		if iss.Err() != nil {
			t.Fatalf("stringLit(%q) = %s does not compile: %v", s, stringLit(s), iss.Err())
		}
		prg, _ := env.Program(ast)
		out, _, err := prg.Eval(map[string]any{})
		if err != nil || out.Value() != s {
			t.Fatalf("stringLit(%q) evaluates to %v, %v", s, out, err)
		}
		for _, r := range stringLit(s) {
			if r < 0x20 || r >= 0x7f {
				t.Fatalf("stringLit(%q) has a non-printable-ASCII character %q", s, r)
			}
		}
	})
}
