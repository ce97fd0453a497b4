//go:build race

package engine_test

// raceEnabled scales down the randomized tests, which run about ten times
// slower under the race detector.
const raceEnabled = true
