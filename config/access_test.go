package config_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/schema"
)

func TestAccessSection(t *testing.T) {
	f, err := load(write(t, good+`access:
  - who: [group:soc-eu, alice]
    instances: [eset-*]
    rights: [read, write:comment, approve]
  - who: bob
    instances: dlp
    rights: [write]
`, 0o644), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if f.Access == nil {
		t.Fatal("access section not read")
	}
	alice := f.Access.For(caller.Identity{Name: "alice", Method: caller.MethodToken})
	if r := alice.On("eset-us"); !r.Read || !r.Approve || len(r.Write) != 1 || r.Write[0] != schema.PatchComment {
		t.Errorf("alice on eset-us: %+v", r)
	}
	if alice.Read("dlp") || alice.Read("kaspersky-acme") {
		t.Error("alice reads beyond her rule")
	}
	if bob := f.Access.For(caller.Identity{Name: "bob", Method: caller.MethodToken}); !bob.On("dlp").Writes() || bob.Approve("dlp") {
		t.Errorf("bob on dlp: %+v", bob.On("dlp"))
	}

	f, err = load(write(t, good, 0o644), getenv)
	if err != nil || f.Access != nil {
		t.Fatalf("no access section must leave Access nil: %v %v", f.Access, err)
	}
}

// TestAccessBad: an unknown selector, instance or right is refused at its
// own line.
func TestAccessBad(t *testing.T) {
	first := strings.Count(good, "\n") + 1 // the line of "access:"
	for _, tc := range []struct {
		name string
		body string
		line int // relative to "access:"
		key  string
		want string
	}{
		{"unknown selector", "access:\n  - who: [alice, role:admin]\n    instances: [dlp]\n    rights: [read]\n", 1, "access[0].who", `unknown kind of principal "role"`},
		{"unknown instance", "access:\n  - who: alice\n    instances:\n      - dlp\n      - eset-asia\n    rights: [read]\n", 4, "access[0].instances", `no instance "eset-asia"`},
		{"glob matching nothing", "access:\n  - who: alice\n    instances: [qradar-*]\n    rights: [read]\n", 2, "access[0].instances", "matches no configured instance"},
		{"unknown right", "access:\n  - who: alice\n    instances: [dlp]\n    rights:\n      - read\n      - delete\n", 5, "access[0].rights", `unknown right "delete"`},
		{"unknown kind of change", "access:\n  - who: alice\n    instances: [dlp]\n    rights: [write:tags]\n", 3, "access[0].rights", `unknown kind of change "tags"`},
		{"missing rights", "access:\n  - who: alice\n    instances: [dlp]\n", 1, "access[0].rights", "missing"},
		{"unknown key", "access:\n  - who: alice\n    instances: [dlp]\n    rights: [read]\n    role: admin\n", 4, "access[0].role", "unknown key"},
		{"empty section", "access: []\n", 0, "access", "no rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, good+tc.body, 0o644)
			_, err := load(path, getenv)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range []string{path + ":" + strconv.Itoa(first+tc.line) + ":", tc.key + ": ", tc.want} {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}
