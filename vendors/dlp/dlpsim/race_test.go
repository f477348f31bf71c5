//go:build race

package dlpsim

// raceEnabled relaxes wall-clock bounds that the race detector's slowdown would break.
const raceEnabled = true
