package simdata

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestAnchor: a configured time stays as it is; none is now, in UTC, to
// the second.
func TestAnchor(t *testing.T) {
	set := time.Date(2026, 3, 1, 12, 0, 0, 500, time.FixedZone("x", 3600))
	if got := Anchor(set); !got.Equal(set) || got.Location() != set.Location() {
		t.Errorf("Anchor(%v) = %v", set, got)
	}
	before := time.Now().Add(-time.Second)
	got := Anchor(time.Time{})
	if got.Location() != time.UTC || got.Nanosecond() != 0 || got.Before(before) || got.After(time.Now()) {
		t.Errorf("Anchor(zero) = %v", got)
	}
}

// TestPick: the draws follow the weights, a zero weight is never drawn,
// and the same seed draws the same sequence.
func TestPick(t *testing.T) {
	weights := []int{70, 0, 30}
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, len(weights))
	var seq []int
	for range 10000 {
		i := Pick(r, weights)
		counts[i]++
		seq = append(seq, i)
	}
	if counts[1] != 0 || counts[0] < 6500 || counts[0] > 7500 || counts[2] < 2500 || counts[2] > 3500 {
		t.Errorf("counts %v for weights %v", counts, weights)
	}
	r = rand.New(rand.NewPCG(1, 2))
	for i, want := range seq[:100] {
		if got := Pick(r, weights); got != want {
			t.Fatalf("draw %d: %d, then %d with the same seed", i, want, got)
		}
	}
}

func TestInjectionSlots(t *testing.T) {
	even := func(i int) bool { return i%2 == 0 }
	for _, tc := range []struct {
		name     string
		n, count int
		eligible func(int) bool
		want     []int
	}{
		{"too few records", 19, 3, even, nil},
		{"every seventh eligible from the newest", 40, 3, even, []int{38, 24, 10}},
		{"at most count", 40, 2, even, []int{38, 24}},
		{"runs out of records", 20, 5, even, []int{18, 4}},
		{"nothing eligible", 40, 3, func(int) bool { return false }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := InjectionSlots(tc.n, tc.count, tc.eligible); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
