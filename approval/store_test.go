package approval

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/incident-mcp/incident-mcp/schema"
)

var t0 = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

func newRequest(required int) *Request {
	return &Request{ID: NewID(), Incident: &schema.Incident{ID: "eset:1", Title: "t"}, Token: "sealed",
		Created: t0, Expires: t0.Add(10 * time.Minute), Required: required}
}

func TestStoreDecisions(t *testing.T) {
	ctx := t.Context()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	t.Run("approve", func(t *testing.T) {
		s := NewMemStore()
		r := newRequest(1)
		s.Create(ctx, r)
		got, err := s.Decide(ctx, r.ID, Decision{By: "ann", At: at(time.Minute)}, true)
		if err != nil || got.StateAt(at(time.Minute)) != StateApproved {
			t.Fatalf("approve: %v %v", got.State, err)
		}
		if _, err := s.Decide(ctx, r.ID, Decision{By: "bob", At: at(2 * time.Minute)}, true); !errors.Is(err, ErrDecided) {
			t.Errorf("second approval: %v, want ErrDecided", err)
		}
		if _, err := s.Decide(ctx, r.ID, Decision{By: "bob", At: at(2 * time.Minute)}, false); !errors.Is(err, ErrDecided) {
			t.Errorf("reject after approval: %v, want ErrDecided", err)
		}
	})
	t.Run("reject", func(t *testing.T) {
		s := NewMemStore()
		r := newRequest(1)
		s.Create(ctx, r)
		got, err := s.Decide(ctx, r.ID, Decision{By: "ann", At: at(time.Minute)}, false)
		if err != nil || got.StateAt(at(time.Minute)) != StateRejected || got.Rejection.By != "ann" {
			t.Fatalf("reject: %+v %v", got, err)
		}
		if _, err := s.Decide(ctx, r.ID, Decision{By: "bob", At: at(time.Minute)}, true); !errors.Is(err, ErrDecided) {
			t.Errorf("approve after rejection: %v", err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		s := NewMemStore()
		r := newRequest(1)
		s.Create(ctx, r)
		if _, err := s.Decide(ctx, r.ID, Decision{By: "ann", At: at(10 * time.Minute)}, true); !errors.Is(err, ErrDecided) {
			t.Errorf("approval at expiry: %v", err)
		}
		got, _ := s.Get(ctx, r.ID)
		if got.StateAt(at(10*time.Minute)) != StateExpired || len(got.Approvals) != 0 {
			t.Errorf("state %v approvals %v", got.StateAt(at(10*time.Minute)), got.Approvals)
		}
	})
	t.Run("four eyes", func(t *testing.T) {
		s := NewMemStore()
		r := newRequest(2)
		s.Create(ctx, r)
		got, err := s.Decide(ctx, r.ID, Decision{By: "ann", At: at(time.Minute)}, true)
		if err != nil || got.StateAt(at(time.Minute)) != StatePending {
			t.Fatalf("first of two: %v %v", got.State, err)
		}
		if _, err := s.Decide(ctx, r.ID, Decision{By: "ann", At: at(time.Minute)}, true); !errors.Is(err, ErrSameApprover) {
			t.Errorf("same approver twice: %v", err)
		}
		got, err = s.Decide(ctx, r.ID, Decision{By: "bob", At: at(time.Minute)}, true)
		if err != nil || got.StateAt(at(time.Minute)) != StateApproved || len(got.Approvers()) != 2 {
			t.Fatalf("second approver: %+v %v", got, err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		s := NewMemStore()
		if _, err := s.Decide(ctx, "nope", Decision{By: "ann", At: t0}, true); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown: %v", err)
		}
	})
}

// Concurrent decisions on one request: exactly one takes effect.
func TestStoreDecideConcurrent(t *testing.T) {
	s := NewMemStore()
	r := newRequest(1)
	s.Create(t.Context(), r)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := s.Decide(t.Context(), r.ID, Decision{By: string(rune('a' + i)), At: t0}, i%2 == 0); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d decisions took effect, want 1", ok.Load())
	}
}

func TestStoreCopies(t *testing.T) {
	s := NewMemStore()
	r := newRequest(1)
	s.Create(t.Context(), r)
	got, _ := s.Get(t.Context(), r.ID)
	got.Approvals = append(got.Approvals, Decision{By: "mallory"})
	got.State = StateApproved
	again, _ := s.Get(t.Context(), r.ID)
	if len(again.Approvals) != 0 || again.StateAt(t0) != StatePending {
		t.Errorf("a caller's copy changed the store: %+v", again)
	}
}

func TestApproversFile(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("ann-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// argon2id in the PHC form the reference implementation writes.
	salt := []byte("somesaltsomesalt")
	key := argon2.IDKey([]byte("bob-secret"), salt, 1, 64, 1, 32)
	bob := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	path := filepath.Join(t.TempDir(), "approvers")
	os.WriteFile(path, []byte("# approvers\nann:"+string(bc)+"\n\nbob:"+bob+"\n"), 0o600)
	a, err := LoadApprovers(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pass string
		ok         bool
	}{
		{"ann", "ann-secret", true},
		{"ann", "wrong", false},
		{"bob", "bob-secret", true},
		{"bob", "ann-secret", false},
		{"carol", "ann-secret", false},
		{"", "", false},
	} {
		who, ok := a.Check(tc.name, tc.pass)
		if ok != tc.ok || (ok && who != tc.name) {
			t.Errorf("Check(%s, %s) = %q %v, want %v", tc.name, tc.pass, who, ok, tc.ok)
		}
	}
	for _, bad := range []string{"ann:plaintext\n", "ann\n", "", "ann:" + string(bc) + "\nann:" + string(bc) + "\n", "x:$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5\n"} {
		if _, err := parseApprovers([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, ok := DemoApprovers().Check(DemoApprover, "nope"); ok {
		t.Error("demo approver with a wrong password")
	}
	if who, ok := DemoApprovers().Check(DemoApprover, DemoPassword); !ok || who != DemoApprover {
		t.Error("demo approver refused")
	}
}
