// Package simdata holds what the vendor simulators' dataset generators
// share: weighted draws and where the planted prompt injections go. Both
// are deterministic for a seed, so every simulator's dataset stays the
// same from run to run.
package simdata

import (
	"math/rand/v2"
	"time"
)

// Anchor is the time a dataset is dated from: now as configured, or when
// zero the current time in UTC to the second.
func Anchor(now time.Time) time.Time {
	if now.IsZero() {
		return time.Now().UTC().Truncate(time.Second)
	}
	return now
}

// Pick draws an index of weights with probability proportional to its
// weight, with one draw from r.
func Pick(r *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := r.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// InjectionSlots says which of n records (oldest first) carry the planted
// injections: every seventh eligible one counting from the newest, at most
// count of them, newest first. A dataset of fewer than 20 records gets none.
// It draws nothing, so every other record stays as the seed made it.
func InjectionSlots(n, count int, eligible func(i int) bool) []int {
	if n < 20 {
		return nil
	}
	var out []int
	seen := 0
	for i := n - 1; i >= 0 && len(out) < count; i-- {
		if !eligible(i) {
			continue
		}
		if seen%7 == 0 {
			out = append(out, i)
		}
		seen++
	}
	return out
}
