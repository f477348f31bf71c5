//go:build !race

package kasperskysim

const raceEnabled = false
