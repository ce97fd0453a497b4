package runtime_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind: Run must
// return only after everything it started has stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
