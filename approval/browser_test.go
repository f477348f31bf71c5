package approval

import (
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/internal/browsertest"
)

// A person in a real browser: sign in, read the change, approve; a second
// approver's browser afterwards cannot decide again.
func TestBrowserApprove(t *testing.T) {
	f := newFixture(t)
	r := f.request(t, 1)
	ann := browsertest.New(t)
	ann.Open(f.page.URL(r.ID))
	ann.SignIn(DemoApprover, DemoPassword)
	text := ann.Text()
	for _, want := range []string{"Approve a change to eset:42", "false_positive", "Ransomware on FILESRV-01", "test-client 1.0", "alice@example.com", "data written by others", "pending"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q:\n%s", want, text)
		}
	}
	dir := browsertest.ArtifactDir(t)
	ann.Screenshot(dir, "approval-page")
	ann.Press("Approve")
	if text := ann.Text(); !strings.Contains(text, "Approved (1 of 1)") {
		t.Fatalf("after Approve:\n%s", text)
	}
	ann.Screenshot(dir, "approval-approved")
	got, _ := f.store.Get(t.Context(), r.ID)
	if got.StateAt(f.clock.now()) != StateApproved || got.Approvers()[0] != DemoApprover {
		t.Fatalf("store: %+v", got)
	}

	bob := browsertest.New(t)
	bob.Open(f.page.URL(r.ID))
	bob.SignIn(DemoSecondApprover, DemoPassword)
	if bob.HasButton("Approve") || bob.HasButton("Reject") {
		t.Error("a decided request still offers its buttons")
	}
	if got, _ := f.store.Get(t.Context(), r.ID); len(got.Approvals) != 1 || got.Rejection != nil {
		t.Errorf("store changed: %+v", got)
	}
}

func TestBrowserReject(t *testing.T) {
	f := newFixture(t)
	r := f.request(t, 1)
	b := browsertest.New(t)
	b.Open(f.page.URL(r.ID))
	b.SignIn(DemoApprover, DemoPassword)
	b.Press("Reject")
	if text := b.Text(); !strings.Contains(text, "Rejected. Nothing will be written.") {
		t.Fatalf("after Reject:\n%s", text)
	}
	if got, _ := f.store.Get(t.Context(), r.ID); got.StateAt(f.clock.now()) != StateRejected {
		t.Errorf("store: %+v", got)
	}
}
