package wsconn

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// recordingConn is a net.Conn that records each write.
type recordingConn struct {
	net.Conn
	writes [][]byte
	err    error
}

func (r *recordingConn) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func TestBatchConnHoldsUntilRelease(t *testing.T) {
	rc := &recordingConn{}
	b := &batchConn{Conn: rc}
	if _, err := b.Write([]byte("a")); err != nil || len(rc.writes) != 1 {
		t.Fatalf("unheld write: %v, %d writes; want it passed through", err, len(rc.writes))
	}
	b.holdWrites()
	for _, p := range []string{"b", "cc", "ddd"} {
		if n, err := b.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("held write of %q: %d, %v", p, n, err)
		}
	}
	if len(rc.writes) != 1 {
		t.Fatalf("%d writes reached the socket while held, want none", len(rc.writes)-1)
	}
	if err := b.release(); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 2 || string(rc.writes[1]) != "bccddd" {
		t.Fatalf("writes %q, want [a bccddd]", rc.writes)
	}
	if _, err := b.Write([]byte("e")); err != nil || len(rc.writes) != 3 {
		t.Fatalf("write after release: %v, %d writes; want it passed through", err, len(rc.writes))
	}
	if err := b.release(); err != nil || len(rc.writes) != 3 { // nothing held
		t.Fatalf("empty release: %v, %d writes", err, len(rc.writes))
	}
}

func TestBatchConnReleaseError(t *testing.T) {
	broken := errors.New("broken pipe")
	rc := &recordingConn{}
	b := &batchConn{Conn: rc}
	b.holdWrites()
	if _, err := b.Write([]byte("frame")); err != nil {
		t.Fatal(err)
	}
	rc.err = broken
	if err := b.release(); !errors.Is(err, broken) {
		t.Fatalf("release: %v, want %v", err, broken)
	}
	if _, err := b.Write([]byte("next")); !errors.Is(err, broken) {
		t.Fatalf("write after a failed release: %v, want %v (not held)", err, broken)
	}
}
