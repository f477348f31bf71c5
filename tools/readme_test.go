package tools_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestREADMEToolsTable keeps the README's tools table in step with the tools.
func TestREADMEToolsTable(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	res, err := f.c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	table := toolsTable(t, res.Tools)
	const start, end = "<!-- tools:start -->\n", "<!-- tools:end -->"
	readme, err := os.ReadFile("../docs/reference-tools.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("docs/reference-tools.md lacks the %q … %q markers", start, end)
	}
	want := s[:i+len(start)] + table + s[j:]
	if *update {
		if err := os.WriteFile("../docs/reference-tools.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != s {
		t.Errorf("docs/reference-tools.md tools table is stale; run make golden. Want:\n%s", table)
	}
}

func toolsTable(t *testing.T, tools []mcp.Tool) string {
	var b strings.Builder
	b.WriteString("| tool | what it does | arguments | hints |\n|---|---|---|---|\n")
	for _, tool := range tools {
		raw, _ := json.Marshal(tool)
		var wire struct {
			InputSchema struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"inputSchema"`
		}
		if err := json.Unmarshal(raw, &wire); err != nil {
			t.Fatal(err)
		}
		var args []string
		for name := range wire.InputSchema.Properties {
			if slices.Contains(wire.InputSchema.Required, name) {
				name += " (required)"
			}
			args = append(args, "`"+name+"`")
		}
		slices.Sort(args)
		summary := tableSummary(tool.Description)
		a := tool.Annotations
		hints := fmt.Sprintf("read-only: %v, destructive: %v, idempotent: %v, open-world: %v", *a.ReadOnlyHint, *a.DestructiveHint, *a.IdempotentHint, *a.OpenWorldHint)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", tool.Name, summary, strings.Join(args, ", "), hints)
	}
	return b.String()
}

// tableSummary is a description's first paragraph; one that leads into a
// list (ending in a colon) ends its sentence instead, so the table never
// shows a sentence cut short.
func tableSummary(desc string) string {
	summary, _, _ := strings.Cut(desc, "\n\n")
	summary = strings.Join(strings.Fields(summary), " ")
	if s, ok := strings.CutSuffix(summary, ":"); ok {
		summary = s + "."
	}
	return strings.ReplaceAll(summary, "|", "\\|")
}

// TestREADMEPackageTable keeps the README's package table in step with the
// tree: every directory with Go files has a row, and every row names one.
func TestREADMEPackageTable(t *testing.T) {
	readme, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- packages:start -->\n", "<!-- packages:end -->"
	s := string(readme)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("docs/architecture.md lacks the %q … %q markers", start, end)
	}
	table := map[string]bool{}
	for _, line := range strings.Split(s[i+len(start):j], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		pkg := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if strings.TrimSpace(cells[2]) == "" {
			t.Errorf("package %s has no job in the README table", pkg)
		}
		table[pkg] = true
	}
	tree := map[string]bool{}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != ".." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") {
			rel, err := filepath.Rel("..", filepath.Dir(path))
			if err != nil {
				return err
			}
			tree[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range slices.Sorted(maps.Keys(tree)) {
		if !table[pkg] {
			t.Errorf("package %s is missing from the README's package table", pkg)
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(table)) {
		if !tree[pkg] {
			t.Errorf("the README's package table names %s, which has no Go files", pkg)
		}
	}
}
