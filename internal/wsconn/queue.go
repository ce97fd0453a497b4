package wsconn

// ring is a FIFO of frames. It grows as needed (the byte budget bounds it)
// and lets go of a big buffer once drained, so that one burst does not pin
// its memory for the connection's lifetime.
type ring struct {
	buf  [][]byte
	head int
	n    int
}

// keepSlots is the largest buffer a drained ring keeps.
const keepSlots = 64

func (r *ring) push(b []byte) {
	if r.n == len(r.buf) {
		buf := make([][]byte, max(8, 2*len(r.buf)))
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = b
	r.n++
}

// peek returns the oldest frame; the ring must not be empty.
func (r *ring) peek() []byte { return r.buf[r.head] }

func (r *ring) pop() []byte {
	b := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	if r.n == 0 && len(r.buf) > keepSlots {
		r.clear()
	}
	return b
}

func (r *ring) clear() {
	r.buf, r.head, r.n = nil, 0, 0
}
