package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestCommandBuildsOnce: the first call builds a runnable binary; later
// calls return the same file without building again.
func TestCommandBuildsOnce(t *testing.T) {
	bin := Command(t, "incident-mcp")
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "--help").CombinedOutput()
	if !strings.Contains(string(out), "--demo") {
		t.Fatalf("the built binary's help (%v):\n%s", err, out)
	}
	again := Command(t, "incident-mcp")
	st2, err := os.Stat(again)
	if err != nil {
		t.Fatal(err)
	}
	if again != bin || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("a second call built again: %s (%v), first %s (%v)", again, st2.ModTime(), bin, st.ModTime())
	}
}

// TestCommandReportsTheBuildError: a command that does not build fails the
// test with the compiler's output, and stays failed.
func TestCommandReportsTheBuildError(t *testing.T) {
	for range 2 {
		ft := &fatalT{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Command(ft, "no-such-command")
		}()
		<-done
		if !strings.Contains(ft.msg, "go build no-such-command") {
			t.Errorf("failure %q, want the build's error", ft.msg)
		}
	}
}

// fatalT records Fatal and ends its goroutine, as testing.T does.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatal(args ...any) {
	for _, a := range args {
		f.msg += fmt.Sprint(a)
	}
	runtime.Goexit()
}
