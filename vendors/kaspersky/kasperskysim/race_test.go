//go:build race

package kasperskysim

// raceEnabled lets the 50 000-incident test step aside under -race, where building
// that dataset alone takes longer than the whole suite should.
const raceEnabled = true
