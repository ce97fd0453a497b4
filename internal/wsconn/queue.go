package wsconn

// ring is a FIFO of frames that grows up to a limit.
type ring struct {
	buf  [][]byte
	head int
	n    int
}

func (r *ring) push(b []byte, limit int) {
	if r.n == len(r.buf) {
		size := min(max(8, 2*len(r.buf)), limit)
		buf := make([][]byte, size)
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = b
	r.n++
}

func (r *ring) pop() []byte {
	b := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return b
}

func (r *ring) clear() {
	r.buf, r.head, r.n = nil, 0, 0
}
