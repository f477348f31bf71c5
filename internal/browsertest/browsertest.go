// Package browsertest drives a real headless Chromium (Debian's chromium
// package; .ci/run installs it) through chromedp, for tests of the approval
// page as a person uses it: sign in, read the change, press a button.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// execPath finds the browser: $CHROMIUM, then the usual names.
func execPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is one browser profile (its own cookies), phone-sized.
type Browser struct {
	t   *testing.T
	ctx context.Context
}

// New starts a headless browser with a fresh profile, and extra flags, and
// stops it when the test ends. Without a browser the test is skipped, except under CI, where
// .ci/run installed one and its absence is a failure.
func New(t *testing.T, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	path := execPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium on PATH; .ci/run installs it with apt-get")
		}
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // containers run tests as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(420, 900),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return &Browser{t: t, ctx: ctx}
}

// do runs steps with a deadline, failing the test on error.
func (b *Browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// Open loads url.
func (b *Browser) Open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
}

// SignIn fills the approver sign-in form the page shows and submits it.
func (b *Browser) SignIn(name, password string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.WaitVisible(`#name`),
		chromedp.SendKeys(`#name`, name),
		chromedp.SendKeys(`#password`, password),
		chromedp.Click(`button[type=submit]`),
	)
	b.waitFor("the signed-in page", `document.querySelector("footer, .msg") !== null`)
}

// waitFor polls a script until it is true; chromedp's own waits can stay
// bound to the document a form submission replaced.
func (b *Browser) waitFor(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Text is the visible text of the page body.
func (b *Browser) Text() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		b.t.Fatalf("browser: read page: %v", err)
	}
	return s
}

// Press clicks the button with this label (Approve, Reject) and waits for
// the answer page.
func (b *Browser) Press(label string) {
	b.t.Helper()
	sel := `"button.` + strings.ToLower(label) + `"`
	b.waitFor(label+" button", `document.querySelector(`+sel+`) !== null`)
	// A real mouse click at the button's centre, as a person makes it.
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	xy, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const e = document.querySelector(`+sel+`); e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`))
	if err != nil || len(xy) != 2 {
		b.t.Fatalf("browser: locate %s: %v", label, err)
	}
	b.do("press "+label, chromedp.MouseClickXY(xy[0], xy[1]))
	b.waitFor("the answer to "+label, `document.querySelector(".msg") !== null`)
}

// HasButton reports whether the page offers the button with this label.
func (b *Browser) HasButton(label string) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("button.`+strings.ToLower(label)+`").length`))
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return n > 0
}

// ArtifactDir is where screenshots go: $APPROVAL_SCREENSHOTS when set (CI
// keeps it as an artifact), else the test's temp dir.
func ArtifactDir(t *testing.T) string {
	if d := os.Getenv("APPROVAL_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// Screenshot saves the whole page as a PNG under dir and returns its path;
// the test logs it so a person can look at the page.
func (b *Browser) Screenshot(dir, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot of the page: %s", path)
	return path
}
