package demo_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
)

func TestAnchorIsTheStartOfTheDay(t *testing.T) {
	morning := time.Date(2026, 12, 6, 8, 1, 2, 0, time.UTC)
	evening := time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC)
	if demo.Anchor(morning) != demo.Anchor(evening) || demo.Anchor(morning) != time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("anchors %v and %v", demo.Anchor(morning), demo.Anchor(evening))
	}
}

// TestStateDirKeepsWrites: a second start over the same directory serves
// the same dataset (same anchor, same key) with the first run's write.
func TestStateDirKeepsWrites(t *testing.T) {
	dir := t.TempDir()
	first, err := demo.Start(demo.Options{Incidents: 20, Unlimited: true, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	closed := schema.StatusClosed
	fp := schema.ResolutionFalsePositive
	patch := schema.Patch{Status: &closed, Resolution: &fp}
	changed := map[string]string{}
	before := map[string][]schema.Incident{}
	for _, in := range first.Instances {
		all, err := drivertest.Dataset(t.Context(), in.Driver, in.Name)
		if err != nil {
			t.Fatal(err)
		}
		before[in.Name] = all
		i := slices.IndexFunc(all, func(x schema.Incident) bool { return x.Status != schema.StatusClosed })
		if i < 0 {
			t.Fatalf("%s: every incident is closed", in.Name)
		}
		native := strings.TrimPrefix(all[i].ID, in.Name+":")
		if _, err := in.Driver.Update(t.Context(), native, patch); err != nil {
			t.Fatalf("%s: close %s: %v", in.Name, native, err)
		}
		changed[in.Name] = native
	}
	secret := first.Secret
	first.Close()
	if len(secret) < 32 {
		t.Fatalf("secret of %d bytes", len(secret))
	}

	second, err := demo.Start(demo.Options{Incidents: 20, Unlimited: true, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Close)
	if second.Replayed != len(changed) || string(second.Secret) != string(secret) || !second.Now.Equal(first.Now) {
		t.Fatalf("second run: replayed %d (want %d), same key %v, anchors %v and %v", second.Replayed, len(changed), string(second.Secret) == string(secret), first.Now, second.Now)
	}
	for _, in := range second.Instances {
		got, err := in.Driver.Get(t.Context(), changed[in.Name])
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != schema.StatusClosed {
			t.Errorf("%s %s: status %s after a restart, want the first run's close", in.Name, got.ID, got.Status)
		}
		all, err := drivertest.Dataset(t.Context(), in.Driver, in.Name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range all {
			if !strings.HasSuffix(all[i].ID, changed[in.Name]) && !all[i].CreatedAt.Equal(before[in.Name][i].CreatedAt) {
				t.Fatalf("%s %s: created %v, before the restart %v", in.Name, all[i].ID, all[i].CreatedAt, before[in.Name][i].CreatedAt)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "writes.jsonl")); err != nil {
		t.Fatal(err)
	}
}
