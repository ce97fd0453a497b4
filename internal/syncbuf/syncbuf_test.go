package syncbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/zocket-go/zocket/internal/syncbuf"
)

// Concurrent writers lose nothing, and String sees every write.
func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if n, err := b.Write([]byte("x\n")); n != 2 || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "x\n"); got != 800 {
		t.Fatalf("%d lines, want 800", got)
	}
}
