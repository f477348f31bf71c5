package main_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/internal/redisstate/redistest"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// The project's rule: every runnable block of the README and docs/ runs in
// CI. TestDocsBlocksCovered finds every block a reader might run (a shell
// fence, a YAML configuration, a fence without a language) and fails unless
// exactly one line of docBlockTests claims it: the test that runs or loads
// it, or why it is not a command. The tests of this file take their blocks
// from that table (blocksOf), so a line cannot claim a block its test does
// not run; the walkthroughs (TestWalkthrough) are claimed by their own table.

// docBlock is one fenced block of the README or a page of docs/.
type docBlock struct {
	doc     string // README.md or docs/NAME.md
	heading string // the nearest heading above it, e.g. "## Two commands"
	line    int    // of its opening fence
	lang    string // the fence's language: sh, yaml, text, …; "" for a bare fence
	text    string // its lines, without the fence's indentation
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d (%s)", b.doc, b.line, b.heading) }

// shellLangs are the fences that show commands a reader runs.
var shellLangs = []string{"sh", "bash", "shell", "console", "zsh", "sh-session", "shell-session"}

// claimed reports whether lang is a block that must be run, loaded or
// explained: a shell fence, a YAML configuration, or a fence that does not
// say what it holds.
func claimed(lang string) bool {
	return slices.Contains(shellLangs, lang) || lang == "yaml" || lang == "yml" || lang == ""
}

// docBlockTests names, for every claimed block outside the walkthroughs,
// the test that runs it (or loads it, for YAML) or, when test is empty, why
// it is not run. A block is the one of its doc whose heading starts with
// section and whose text contains has.
var docBlockTests = []struct{ doc, section, has, test, why string }{
	{"README.md", "## Two commands", "go run", "TestDocsDemoCommands", ""},
	{"docs/tutorial.md", "## The demo", "go run", "TestDocsDemoCommands", ""},
	{"docs/tutorial.md", "## The demo", "npx", "TestDocsInspectorOverStdio", ""},
	{"README.md", "## Run the vendor simulators", "make sim", "TestDocsSimulators", ""},
	{"docs/howto-approvers.md", "# How to set up approvers", "hash-password", "TestDocsHashPassword", ""},
	{"docs/howto-replicas.md", "### Replicas and Redis", "incident-mcp --http", "TestDocsReplicas", ""},

	{"docs/reference-config.md", "### The configuration file", "instances:", "TestCheckConfigREADME", ""},
	{"docs/access.md", "## Example", "instances:", "TestCheckConfigAccessMatrix", ""},
	{"docs/howto-approvers.md", "### Approval page", "confirm:", "TestDocsConfirmFragments", ""},
	{"docs/trust-model.md", "### Whose elicitation counts", "confirm:", "TestDocsConfirmFragments", ""},

	{"docs/access.md", "## Example", "WHO ", "", "output: the matrix --check-config prints, compared with the binary's by TestCheckConfigAccessMatrix"},
	{"docs/architecture.md", "## Architecture", "──>", "", "a diagram of the packages"},
	{"docs/reference-filter.md", "## Filter language", "incident.severity", "", "CEL expressions, not commands: evals' TestDocExamples runs each against the demo"},
	{"docs/security-transport.md", "## Approvers", "--approver-oidc-issuer", "", "a fragment: flags and a variable to add to a server's command line, with placeholder URLs of an identity provider"},
}

// notRunLines are lines of run blocks that their test leaves out, and why.
var notRunLines = map[string]string{
	"make test": ".ci/run runs make test, the README's test command, and this test is part of it: running it here would recurse",
}

// repoRoot is the repository's root, where the README is.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var fenceLine = regexp.MustCompile("^( *)```(.*)$")

// docBlocks reads every fenced block of README.md and docs/*.md.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	root := repoRoot(t)
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	for _, path := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := filepath.Rel(root, path)
		doc = filepath.ToSlash(doc)
		var (
			heading string
			open    *docBlock
			indent  string
			text    strings.Builder
		)
		for i, line := range strings.Split(string(raw), "\n") {
			m := fenceLine.FindStringSubmatch(line)
			switch {
			case open == nil && m != nil:
				open = &docBlock{doc: doc, heading: heading, line: i + 1, lang: strings.TrimSpace(m[2])}
				indent = m[1]
				text.Reset()
			case open != nil && m != nil && strings.TrimSpace(m[2]) == "":
				open.text = text.String()
				blocks = append(blocks, *open)
				open = nil
			case open != nil:
				text.WriteString(strings.TrimPrefix(line, indent) + "\n")
			case strings.HasPrefix(line, "#"):
				heading = line
			}
		}
		if open != nil {
			t.Fatalf("%s: the fence opened there is never closed", open)
		}
	}
	return blocks
}

// blocksOf returns the blocks docBlockTests gives to test.
func blocksOf(t *testing.T, test string) []docBlock {
	t.Helper()
	var out []docBlock
	for _, b := range docBlocks(t) {
		for _, e := range docBlockTests {
			if e.test == test && e.doc == b.doc && strings.HasPrefix(b.heading, e.section) && strings.Contains(b.text, e.has) {
				out = append(out, b)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no block of the README or docs/ is given to %s", test)
	}
	return out
}

// TestDocsBlocksCovered: every shell, YAML and bare block of the README and
// docs/ is claimed exactly once, by a test that exists or with a reason;
// every claim names a block that exists.
func TestDocsBlocksCovered(t *testing.T) {
	tests := testFuncs(t)
	used := make([]int, len(docBlockTests))
	walked := map[int]int{}
	n := 0
	for _, b := range docBlocks(t) {
		if !claimed(b.lang) {
			continue
		}
		n++
		var by []string
		for i, w := range walkthroughs {
			if b.doc == w.doc && strings.HasPrefix(b.heading, w.section) && slices.Contains(shellLangs, b.lang) {
				by = append(by, "TestWalkthrough")
				walked[i]++
			}
		}
		for i, e := range docBlockTests {
			if b.doc == e.doc && strings.HasPrefix(b.heading, e.section) && strings.Contains(b.text, e.has) {
				by = append(by, cmp.Or(e.test, "not run: "+e.why))
				used[i]++
			}
		}
		switch {
		case len(by) == 0:
			t.Errorf("%s: a %q block no test runs: run it in a test and add it to docBlockTests "+
				"(or, if it is not a command a reader runs, fence it as text)\n%s", b, b.lang, b.text)
		case len(by) > 1:
			t.Errorf("%s is claimed %d times: %v", b, len(by), by)
		}
	}
	for i, e := range docBlockTests {
		if used[i] == 0 {
			t.Errorf("docBlockTests: no block of %s under %q contains %q", e.doc, e.section, e.has)
		}
		if e.test == "" && e.why == "" {
			t.Errorf("docBlockTests: the block of %s under %q is neither run nor explained", e.doc, e.section)
		}
		if e.test != "" && !tests[e.test] {
			t.Errorf("docBlockTests: %s, named for %s, is not a test of this package", e.test, e.doc)
		}
	}
	for i, w := range walkthroughs {
		if walked[i] == 0 {
			t.Errorf("walkthroughs: %s has no shell block under %q", w.doc, w.section)
		}
	}
	if n < 20 {
		t.Fatalf("found %d claimed blocks; the README and docs/ have more: the parser is broken", n)
	}
}

// testFuncs are the names of this package's test functions.
func testFuncs(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`)
	out := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
	}
	return out
}

// TestDocsREADMEShort: the README is the front door, at most 200 lines.
func TestDocsREADMEShort(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > 200 {
		t.Errorf("README.md has %d lines, at most 200: move the manual parts to docs/", n)
	}
}

// docEnviron is the test's environment without what would change the
// blocks' behaviour behind the reader's back: vendor and server settings,
// make sim's ports and a parent make's flags.
func docEnviron(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if slices.ContainsFunc([]string{"SIM_", "INCIDENT_MCP_", "ESET_", "KASPERSKY_", "DLP_"}, func(p string) bool { return strings.HasPrefix(k, p) }) ||
			k == "MAKEFLAGS" || k == "MFLAGS" || k == "MAKELEVEL" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// withPath is PATH with dir first.
func withPath(dir string) string {
	return "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// script is a shell script the test started in its own process group, its
// output in files: a server it leaves in the background would hold a pipe
// open. The group is killed when the test ends.
type script struct {
	stdout, stderr string
	done           chan struct{}
	err            error
}

func startScript(t *testing.T, dir string, env []string, text string) *script {
	t.Helper()
	out := t.TempDir()
	s := &script{stdout: filepath.Join(out, "stdout"), stderr: filepath.Join(out, "stderr"), done: make(chan struct{})}
	fo, err := os.Create(s.stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer fo.Close()
	fe, err := os.Create(s.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer fe.Close()
	cmd := exec.Command("sh", "-c", text)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = fo, fe
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	})
	return s
}

func (s *script) output() string {
	o, _ := os.ReadFile(s.stdout)
	e, _ := os.ReadFile(s.stderr)
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", clipTail(o), clipTail(e))
}

// waitFor polls ok until it holds. A script that ends with an error, or
// ends at all when it should keep serving (serves), fails the test.
func (s *script) waitFor(t *testing.T, what string, timeout time.Duration, serves bool, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		select {
		case <-s.done:
			if s.err != nil || serves {
				t.Fatalf("waiting for %s, the block ended (%v)\n%s", what, s.err, s.output())
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s\n%s", what, timeout, s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lines are the non-empty lines of a block.
func lines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// command is a line without its trailing comment.
func command(line string) string {
	c, _, _ := strings.Cut(line, " #")
	return strings.TrimSpace(c)
}

// TestDocsDemoCommands runs the README's (and the tutorial's) first
// command, go run ./cmd/incident-mcp --demo, as written: it logs that the
// demo started and answers an MCP client on stdio until stdin closes. The
// block's make test is CI's own command (notRunLines).
func TestDocsDemoCommands(t *testing.T) {
	// Builds the same packages go run compiles, so the run links only.
	testbin.Command(t, "incident-mcp")
	root := repoRoot(t)
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^make test$`).Match(ci) {
		t.Fatal(".ci/run does not run make test, the README's test command")
	}
	for _, b := range blocksOf(t, "TestDocsDemoCommands") {
		t.Run(b.doc, func(t *testing.T) {
			ran := false
			for _, line := range lines(b.text) {
				switch c := command(line); {
				case notRunLines[c] != "":
					t.Logf("%s: not run here: %s: %s", b, c, notRunLines[c])
				case strings.HasPrefix(c, "go run ./cmd/incident-mcp --demo"):
					runDemoLine(t, root, line)
					ran = true
				default:
					t.Fatalf("%s: a line this test does not know how to run: %s", b, line)
				}
			}
			if !ran {
				t.Fatalf("%s: no go run line", b)
			}
		})
	}
}

// runDemoLine runs line in sh at root with MCP requests on its stdin, waits
// for their answers, then closes stdin, on which the server ends.
func runDemoLine(t *testing.T, root, line string) {
	t.Helper()
	// The README allows six minutes to compile with cold caches.
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir = root
	cmd.Env = docEnviron("TMPDIR="+t.TempDir(), "XDG_STATE_HOME="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"docs","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
	} {
		io.WriteString(stdin, msg+"\n")
	}
	answered := map[float64]bool{}
	var tools []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 16<<20)
	for len(answered) < 2 && sc.Scan() {
		var r struct {
			ID     float64 `json:"id"`
			Result *struct {
				Tools []struct{ Name string } `json:"tools"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Result == nil {
			t.Fatalf("not an MCP answer: %.300s\nstderr:\n%s", sc.Text(), clipTail([]byte(stderr.String())))
		}
		answered[r.ID] = true
		for _, tool := range r.Result.Tools {
			tools = append(tools, tool.Name)
		}
	}
	stdin.Close()
	go io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil || len(answered) < 2 {
		t.Fatalf("%s: %v, %d answers\nstderr:\n%s", line, err, len(answered), clipTail([]byte(stderr.String())))
	}
	for _, want := range []string{"demo: starting the vendor simulators", "serving MCP on stdio"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: the log lacks %q:\n%s", line, want, clipTail([]byte(stderr.String())))
		}
	}
	if !slices.Contains(tools, "list_incidents") || !slices.Contains(tools, "update_incident") {
		t.Errorf("%s: tools/list answered %v", line, tools)
	}
}

// TestDocsInspectorOverStdio runs the tutorial's third-party client call
// as written (make build, the pinned Inspector CLI starting the demo on
// stdio): it lists high-severity ESET incidents.
func TestDocsInspectorOverStdio(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the Inspector")
	}
	root := repoRoot(t)
	shim := inspectorShim(t, root)
	for _, tool := range []string{"make", "node", "openssl"} {
		needTool(t, tool, "install it")
	}
	for _, b := range blocksOf(t, "TestDocsInspectorOverStdio") {
		s := startScript(t, root, docEnviron(withPath(shim), "TMPDIR="+t.TempDir()), "set -eu\n"+b.text)
		s.waitFor(t, "the end of the block", 5*time.Minute, false, func() bool {
			select {
			case <-s.done:
				return true
			default:
				return false
			}
		})
		o, _ := os.ReadFile(s.stdout)
		got := string(o)
		if !strings.Contains(got, "incident(s) from eset") || !strings.Contains(got, "| high |") || regexp.MustCompile(`"isError": ?true`).MatchString(got) {
			t.Fatalf("%s: no listing of high-severity ESET incidents\n%s", b, s.output())
		}
	}
}

// simExports waits for the export lines incident-sim writes to path and
// checks that they are also what it printed for a person to paste.
func simExports(t *testing.T, s *script, path string) string {
	t.Helper()
	var exports string
	s.waitFor(t, path, 5*time.Minute, true, func() bool {
		b, _ := os.ReadFile(path)
		exports = string(b)
		e, _ := os.ReadFile(s.stderr)
		return strings.Contains(exports, "export DLP_URL=") && strings.Contains(string(e), exports)
	})
	return exports
}

// listWithExports starts the built server over stdio in a shell that
// sourced the env file, as a reader does (. bin/sim.env), and lists each
// simulator's incidents through it.
func listWithExports(t *testing.T, envFile string) {
	t.Helper()
	bin := testbin.Command(t, "incident-mcp")
	tr := transport.NewStdio("sh", []string{"XDG_STATE_HOME=" + t.TempDir()},
		"-c", `. "$1" && exec "$2" --log-level warn`, "sim-env", envFile, bin)
	c := client.NewClient(tr)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "docs", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	for _, inst := range []string{"eset", "kaspersky", "dlp"} {
		res, sc := callTool(t, c, "list_incidents", map[string]any{"instance": inst, "page_size": 3})
		if incs, _ := sc["incidents"].([]any); res.IsError || len(incs) == 0 {
			t.Errorf("list_incidents on %s with the exports: %s", inst, resultText(res))
		}
	}
}

// TestDocsSimulators runs each line of the README's make sim block as
// written, one after the other: each serves the simulators, prints the
// export lines and writes them to the env file, and a server started in a
// shell that sourced that file lists every simulator's incidents. The test
// moves the env file out of bin/ with the Makefile's SIM_ENV_FILE, and gives
// the fixed-port line a free port through the block's own SIM_ESET_PORT;
// make -n shows that a reader's make sim writes bin/sim.env.
func TestDocsSimulators(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the simulators")
	}
	needTool(t, "make", "install it")
	root := repoRoot(t)
	dryRun := exec.Command("make", "-n", "sim")
	dryRun.Dir, dryRun.Env = root, docEnviron()
	dry, err := dryRun.CombinedOutput()
	if err != nil || !strings.Contains(string(dry), "-env-file bin/sim.env") {
		t.Fatalf("make -n sim does not write bin/sim.env, as the README says (%v):\n%s", err, dry)
	}
	blocks := blocksOf(t, "TestDocsSimulators")
	for _, b := range blocks {
		for i, line := range lines(b.text) {
			t.Run(fmt.Sprintf("%s line %d", b.doc, i+1), func(t *testing.T) {
				envFile := filepath.Join(t.TempDir(), "sim.env")
				env := docEnviron("SIM_ENV_FILE=" + envFile)
				port := ""
				if strings.Contains(line, "SIM_ESET_PORT=") {
					_, port, _ = strings.Cut(freeAddr(t), ":")
					env = append(env, "SIM_ESET_PORT="+port)
				}
				s := startScript(t, root, env, line)
				exports := simExports(t, s, envFile)
				if port != "" && !strings.Contains(exports, "export ESET_API_URL='http://127.0.0.1:"+port+"'") {
					t.Errorf("%s: asked for ESET on port %s, got:\n%s", line, port, exports)
				}
				listWithExports(t, envFile)
			})
		}
	}
}

// runApproversBlock runs the block of howto-approvers.md as written in dir,
// with PASSWORD set and the built binary first on PATH, and returns the
// approvers file it appended to.
func runApproversBlock(t *testing.T, dir, password string) string {
	t.Helper()
	bin := testbin.Command(t, "incident-mcp")
	blocks := blocksOf(t, "TestDocsHashPassword")
	if len(blocks) != 1 {
		t.Fatalf("want one hash-password block, got %v", blocks)
	}
	cmd := exec.Command("sh", "-c", "set -eu\n"+blocks[0].text)
	cmd.Dir = dir
	cmd.Env = docEnviron(withPath(filepath.Dir(bin)), "PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", blocks[0], err, out)
	}
	return filepath.Join(dir, "approvers")
}

// TestDocsHashPassword: the line the approvers how-to appends is alice's
// and admits her password.
func TestDocsHashPassword(t *testing.T) {
	const password = "correct horse battery staple"
	path := runApproversBlock(t, t.TempDir(), password)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(string(b)); len(got) != 1 || !strings.HasPrefix(got[0], "alice:$") {
		t.Fatalf("the approvers file holds %q, want one alice line", b)
	}
	a, err := approval.LoadApprovers(path)
	if err != nil {
		t.Fatal(err)
	}
	// One check: bcrypt at the command's cost takes 3 s under -race.
	// TestHashPasswordLine checks that other passwords are refused, and
	// TestDocsReplicas signs alice in on the approval page.
	if name, ok := a.Check("alice", password); !ok || name != "alice" {
		t.Errorf("alice with her password: %q %v", name, ok)
	}
}

// TestDocsReplicas runs the replicas how-to's block as written, in a
// directory laid out as it says (make sim's bin/sim.env, here from
// incident-sim on free ports; the approvers file of the approvers how-to,
// made by running that block), against a real redis-server, on free ports
// through the block's REDIS_URL, PORT_A and PORT_B. The two replicas share
// the signing secret (a cursor from A pages on B) and Redis (a change asked
// for on A, approved by alice on B's page, applies once).
func TestDocsReplicas(t *testing.T) {
	bin := testbin.Command(t, "incident-mcp")
	needTool(t, "openssl", "install it")
	rd := redistest.Start(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "bin", "sim.env")
	sim := startScript(t, dir, docEnviron(), fmt.Sprintf("exec %q -eset-addr 127.0.0.1:0 -kaspersky-addr 127.0.0.1:0 -dlp-addr 127.0.0.1:0 -admin-addr 127.0.0.1:0 -env-file %q",
		testbin.Command(t, "incident-sim"), envFile))
	simExports(t, sim, envFile)
	const password = "correct horse battery staple"
	runApproversBlock(t, dir, password)

	blocks := blocksOf(t, "TestDocsReplicas")
	if len(blocks) != 1 {
		t.Fatalf("want one replicas block, got %v", blocks)
	}
	_, portA, _ := strings.Cut(freeAddr(t), ":")
	_, portB, _ := strings.Cut(freeAddr(t), ":")
	s := startScript(t, dir, docEnviron(withPath(filepath.Dir(bin)), "REDIS_URL="+rd.URL(), "PORT_A="+portA, "PORT_B="+portB),
		"set -eu\n"+blocks[0].text)
	a := &server{url: "http://127.0.0.1:" + portA, audit: filepath.Join(dir, "audit-a.jsonl")}
	b := &server{url: "http://127.0.0.1:" + portB, audit: filepath.Join(dir, "audit-b.jsonl")}
	for _, r := range []*server{a, b} {
		s.waitFor(t, r.url+"/healthz", time.Minute, false, func() bool {
			resp, err := http.Get(r.url + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	ca, cb := a.connect(t, "2025-11-25", nil), b.connect(t, "2025-11-25", nil)

	_, page := callTool(t, ca, "list_incidents", map[string]any{"instance": "eset", "status": []string{"open"}, "page_size": 1})
	cursor, _ := page["next_cursor"].(string)
	if cursor == "" {
		t.Fatalf("no next_cursor from A: %v", page)
	}
	if res, sc := callTool(t, cb, "list_incidents", map[string]any{"instance": "eset", "status": []string{"open"}, "page_size": 1, "cursor": cursor}); res.IsError || len(sc["incidents"].([]any)) != 1 {
		t.Fatalf("B refused A's cursor: %s", resultText(res))
	}

	id := firstOpen(t, ca, 0)["id"].(string)
	args := map[string]any{"id": id, "title": "approved on the other replica"}
	res, sc := callTool(t, ca, "update_incident", args)
	approvalID, pageURL := approvalOf(t, res, sc)
	if !strings.HasPrefix(pageURL, a.url+"/") {
		t.Fatalf("the approval page %s is not A's", pageURL)
	}
	if err := approvaltest.Approve(b.url+strings.TrimPrefix(pageURL, a.url), "alice", password); err != nil {
		t.Fatalf("alice approves on B's page: %v", err)
	}
	args["approval_id"] = approvalID
	if res, _ := callTool(t, ca, "update_incident", args); !strings.Contains(resultText(res), "APPLIED to "+id) {
		t.Fatalf("collect on A: %s", resultText(res))
	}
	if res, _ := callTool(t, cb, "update_incident", args); strings.Contains(resultText(res), "APPLIED") {
		t.Errorf("the approval applied again on B: %s", resultText(res))
	}
	applied := 0
	for _, r := range append(records(t, a.audit), records(t, b.audit)...) {
		if r.Outcome == "applied" {
			applied++
			if !slices.Equal(r.ApprovedBy, []string{"alice"}) {
				t.Errorf("applied write approved by %v, want alice", r.ApprovedBy)
			}
		}
	}
	if applied != 1 {
		t.Errorf("%d applied writes in the two audit logs, want 1", applied)
	}
}

// confirmBaseConfig is a configuration with the instance the docs' confirm
// sections name, to which each section is appended.
const confirmBaseConfig = `instances:
  - name: eset-prod
    vendor: eset
    region: eu
    username: api
    password_file: pw
`

// TestDocsConfirmFragments: the confirm sections of the docs load with
// --check-config in a file with the instance they name; the same section
// with a misspelled path is refused, so the check reads them.
func TestDocsConfirmFragments(t *testing.T) {
	bin := testbin.Command(t, "incident-mcp")
	for _, b := range blocksOf(t, "TestDocsConfirmFragments") {
		t.Run(b.doc, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			check := func(section string) error {
				path := filepath.Join(dir, "incident-mcp.yaml")
				if err := os.WriteFile(path, []byte(confirmBaseConfig+section), 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(bin, "--check-config", path).CombinedOutput()
				if err != nil {
					return fmt.Errorf("%w: %s", err, out)
				}
				return nil
			}
			if err := check(b.text); err != nil {
				t.Fatalf("%s does not load: %v\n%s", b, err, b.text)
			}
			if !strings.Contains(b.text, "[approval]") {
				t.Fatalf("%s: no [approval] to misspell", b)
			}
			if err := check(strings.Replace(b.text, "[approval]", "[aproval]", 1)); err == nil {
				t.Errorf("%s with a misspelled path loads: --check-config did not read it", b)
			}
		})
	}
}
