package testwait_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zocket-go/zocket/internal/testwait"
)

func TestForHolds(t *testing.T) {
	n := 0
	testwait.For(t, 5*time.Second, "three checks", func() (bool, string) {
		n++
		return n == 3, fmt.Sprint(n)
	})
	if n != 3 {
		t.Fatalf("checked %d times, want 3", n)
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msg = fmt.Sprintf(format, args...)
}

func TestForTimesOut(t *testing.T) {
	r := &recorder{TB: t}
	start := time.Now()
	testwait.For(r, 50*time.Millisecond, "the impossible", func() (bool, string) { return false, "still no" })
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %v, before its timeout", d)
	}
	if !strings.Contains(r.msg, "the impossible") || !strings.Contains(r.msg, "still no") {
		t.Fatalf("failure message %q does not say what and the last state", r.msg)
	}
}
