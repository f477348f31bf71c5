//go:build !race

package eset_test

// raceEnabled skips checks of real-time pacing that the race detector's
// slowdown (tens of milliseconds of scheduling delay) would break.
const raceEnabled = false
