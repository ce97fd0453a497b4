package engine_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind: every instance
// goroutine belongs to an Engine, and Close must wait for all of them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
