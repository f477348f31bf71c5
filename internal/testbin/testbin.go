// Package testbin builds the project's commands for tests that run them as
// processes: each command once per test binary, into one temporary
// directory that Main removes when the tests end.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// module is the import path the commands live under.
const module = "github.com/incident-mcp/incident-mcp/cmd/"

var (
	mu     sync.Mutex
	dir    string
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Main runs the tests and removes the builds: call it from TestMain, as
// os.Exit(testbin.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
	}
	return code
}

// Command returns the path of cmd/<name> built for this test binary,
// building it on the first call; later calls, from any test, get the same
// file. Under -short it skips t: building takes seconds.
func Command(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary " + name)
	}
	mu.Lock()
	b, ok := builds[name]
	if !ok {
		b = &build{}
		builds[name] = b
	}
	mu.Unlock()
	b.once.Do(func() { b.path, b.err = compile(name) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// compile builds cmd/<name> into the shared directory, made on first use.
// The directory outlives any one test's TempDir; Main removes it.
func compile(name string) (string, error) {
	mu.Lock()
	if dir == "" {
		d, err := os.MkdirTemp("", "incident-mcp-testbin") //nolint:usetesting // shared by the tests of a binary; Main removes it
		if err != nil {
			mu.Unlock()
			return "", err
		}
		dir = d
	}
	out := filepath.Join(dir, name)
	mu.Unlock()
	msg, err := exec.Command("go", "build", "-o", out, module+name).CombinedOutput() //nolint:gosec // name is a command of this module, chosen by a test
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", name, err, msg)
	}
	return out, nil
}
