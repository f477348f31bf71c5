package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated blocks of docs/")

// TestFlagsReference: docs/reference-flags.md shows exactly what -help
// prints, so a flag or variable added to the code cannot be missing there.
func TestFlagsReference(t *testing.T) {
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
	path := filepath.Join("..", "..", "docs", "reference-flags.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- help:start -->\n```text\n", "```\n<!-- help:end -->"
	s := string(b)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q … %q markers", path, start, end)
	}
	want := s[:i+len(start)] + help.String() + s[j:]
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s != want {
		t.Errorf("%s differs from -help; run go test ./cmd/incident-mcp -run TestFlagsReference -update. -help prints:\n%s", path, help.String())
	}
}
