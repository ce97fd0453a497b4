package runtime

import "testing"

// A redelivery of a message still in flight here is refused; once the first
// delivery is settled, the sequence may come again (a later redelivery
// after a nak).
func TestTrackerRefusesRedeliveryInFlight(t *testing.T) {
	var f tracker
	f.init()
	first := &inflight{seq: 5}
	if !f.add(first) {
		t.Fatal("first delivery refused")
	}
	if f.add(&inflight{seq: 5}) {
		t.Fatal("redelivery of a message in flight accepted")
	}
	if !f.add(&inflight{seq: 6}) || !f.add(&inflight{}) || !f.add(&inflight{}) {
		t.Fatal("other messages refused (sequence 0 means unknown and never clashes)")
	}
	f.remove(first)
	if !f.add(&inflight{seq: 5}) {
		t.Fatal("redelivery after the first was settled refused")
	}
	if got := f.len(); got != 4 {
		t.Fatalf("len = %d, want 4", got)
	}
}
