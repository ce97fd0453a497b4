package wsconn

import (
	"net"
	"sync"
)

// maxBatchBytes bounds the frames the writer pops from the send queue and
// writes to the socket with one system call.
const maxBatchBytes = 32 << 10

// batchConn is the socket as coder/websocket writes to it. coder/websocket
// flushes every message with a write of its own; while the writer drains a
// backlog, batchConn holds those bytes and writes them together. A client
// that fell behind a fan-out (several patches queued) then costs one system
// call per batch instead of one per frame, on the server and on the
// client, which is what lets a host under load catch up.
//
// Every write reaches batchConn under coder/websocket's write lock, the
// writer's pings and the reader's pongs included; mu orders them against
// release, so the bytes go out in the order they were written.
type batchConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte  // the bytes held
	pool *[]byte // where buf came from, returned to batchBuffers on release
}

// batchBuffers are the buffers of batches being written: a connection
// holds one only while it writes a batch, so that thousands of idle
// connections keep none.
var batchBuffers = sync.Pool{New: func() any { return new([]byte) }}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hold {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	return b.Conn.Write(p)
}

// holdWrites makes writes wait in memory until release.
func (b *batchConn) holdWrites() {
	b.mu.Lock()
	b.hold = true
	if b.pool == nil {
		b.pool = batchBuffers.Get().(*[]byte)
		b.buf = (*b.pool)[:0]
	}
	b.mu.Unlock()
}

// release writes what was held with one system call and stops holding.
func (b *batchConn) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hold = false
	if b.pool == nil {
		return nil
	}
	var err error
	if len(b.buf) > 0 {
		_, err = b.Conn.Write(b.buf)
	}
	if cap(b.buf) <= 2*maxBatchBytes { // keep no buffer far bigger than a batch
		*b.pool = b.buf[:0]
		batchBuffers.Put(b.pool)
	}
	b.buf, b.pool = nil, nil
	return err
}
