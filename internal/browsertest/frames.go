package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Eval evaluates js in the page, awaiting it when it is a promise, and
// returns its value.
func Eval[T any](b *Browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", js, err)
	}
	return v
}

// WaitFor polls a script in the page until it is true.
func (b *Browser) WaitFor(what, js string) {
	b.t.Helper()
	b.waitFor(what, js)
}

// Resize sets the viewport, for pages wider than a phone.
func (b *Browser) Resize(width, height int64) {
	b.t.Helper()
	b.do("resize", chromedp.EmulateViewport(width, height))
}

// InProcessFrames keeps sandboxed iframes in their page's process, where
// FrameEval reaches them; the sandbox (an opaque origin) is unchanged.
var InProcessFrames = chromedp.Flag("disable-features", "IsolateSandboxedIframes")

// FrameEval evaluates js in the page's first child frame, in an isolated
// world: it sees and can click the frame's DOM (a sandboxed view that the
// page's own scripts cannot reach) but not the frame's script variables.
func FrameEval[T any](b *Browser, js string) T {
	b.t.Helper()
	v, err := frameEval[T](b, js)
	if err != nil {
		b.t.Fatalf("browser: in the frame: %s: %v", js, err)
	}
	return v
}

func frameEval[T any](b *Browser, js string) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	world, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (runtime.ExecutionContextID, error) {
		tree, err := cdp.Call(ctx, t, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return 0, err
		}
		if tree.FrameTree == nil || len(tree.FrameTree.ChildFrames) == 0 {
			return 0, fmt.Errorf("the page has no child frame in its process")
		}
		w, err := cdp.Call(ctx, t, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{
			FrameID: tree.FrameTree.ChildFrames[0].Frame.ID, WorldName: "browsertest"})
		return w.ExecutionContextID, err
	})
	if err != nil {
		return zero, err
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise,
		func(p *runtime.EvaluateParams) { p.ContextID = world }))
	if err != nil {
		return zero, err
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return zero, fmt.Errorf("decode %s: %w", raw, err)
	}
	return v, nil
}

// WaitInFrame polls a script in the first child frame until it is true.
func (b *Browser) WaitInFrame(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := frameEval[bool](b, js)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: waiting in the frame for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
