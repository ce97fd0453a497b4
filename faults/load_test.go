//go:build unix

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// load is a set of WebSocket clients, each applying amounts to a ledger of
// its own at a steady rate and recording every answer.
type load struct {
	url      string
	interval time.Duration
	clients  []*loadClient
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	sending  atomic.Bool
	// lastOK is the creation time (UnixNano) of the latest call that
	// succeeded: a fault at F has been recovered from once lastOK >= F.
	lastOK atomic.Int64
}

// loadClient is one user: it makes a call every interval with a fresh op
// id, and when its connection drops it connects again and sends every
// call still unanswered again, with the same op id. A call is never sent
// twice on one connection.
type loadClient struct {
	l      *load
	n      int
	ledger string

	mu      sync.Mutex
	ws      *websocket.Conn // nil while disconnected
	gen     int             // connections made
	calls   []*call
	byOp    map[string]*call
	closes  map[string]int // why connections ended, by close status or error
	barrier chan barrierAnswer
	stray   int // rpc:results for ids this client never sent
	wmu     sync.Mutex
}

type call struct {
	op      string
	amount  int64
	created time.Time
	sends   int
	gen     int // the connection it was last sent on; 0: never sent
	answers []answer
}

type answer struct {
	at    time.Time
	ok    bool
	err   string
	total int64
}

func newLoad(url string, clients int, interval time.Duration) *load {
	l := &load{url: url, interval: interval}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	for i := range clients {
		l.clients = append(l.clients, &loadClient{
			l: l, n: i, ledger: fmt.Sprintf("acct-%d", i),
			byOp: make(map[string]*call), closes: make(map[string]int),
			barrier: make(chan barrierAnswer, 1),
		})
	}
	return l
}

// start connects every client and starts sending.
func (l *load) start() {
	l.sending.Store(true)
	for _, c := range l.clients {
		l.wg.Go(c.connLoop)
		l.wg.Go(c.sendLoop)
	}
}

// stopSending stops making new calls; clients stay connected to receive
// answers and send unanswered calls again after a reconnect.
func (l *load) stopSending() { l.sending.Store(false) }

// close disconnects every client and waits for their goroutines.
func (l *load) close() {
	l.sending.Store(false)
	l.cancel()
	for _, c := range l.clients {
		c.mu.Lock()
		if c.ws != nil {
			_ = c.ws.CloseNow()
		}
		c.mu.Unlock()
	}
	l.wg.Wait()
}

// recovered reports whether a call made at or after at succeeded.
func (l *load) recovered(at time.Time) bool { return l.lastOK.Load() >= at.UnixNano() }

// pending returns how many calls have no answer, and the creation time of
// the newest call.
func (l *load) pending() (unanswered int, newest time.Time) {
	for _, c := range l.clients {
		c.mu.Lock()
		for _, cl := range c.calls {
			if len(cl.answers) == 0 {
				unanswered++
			}
		}
		if n := len(c.calls); n > 0 && c.calls[n-1].created.After(newest) {
			newest = c.calls[n-1].created
		}
		c.mu.Unlock()
	}
	return unanswered, newest
}

func (c *loadClient) sendLoop() {
	tick := time.NewTicker(c.l.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-c.l.ctx.Done():
			return
		}
		if !c.l.sending.Load() {
			return
		}
		c.makeCalls(1)
	}
}

// makeCalls makes n calls with fresh op ids and sends them if connected.
func (c *loadClient) makeCalls(n int) []*call {
	now := time.Now()
	c.mu.Lock()
	var made []*call
	for range n {
		k := len(c.calls)
		cl := &call{op: fmt.Sprintf("c%d-%06d", c.n, k), amount: int64(1 + (7*k+c.n)%13), created: now}
		c.calls = append(c.calls, cl)
		c.byOp[cl.op] = cl
		made = append(made, cl)
	}
	ws, gen := c.ws, c.gen
	c.mu.Unlock()
	if ws != nil {
		c.send(ws, gen, made)
	}
	return made
}

// burst makes n calls on every client at once, and returns when one of
// them has been answered (or after timeout): the fault that follows then
// finds calls at every stage, stored in INBOUND, running, answered but
// not yet acknowledged.
func (l *load) burst(n int, timeout time.Duration) {
	made := make([][]*call, len(l.clients))
	for i, c := range l.clients {
		made[i] = c.makeCalls(n)
	}
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	_ = poll(ctx, "an answer in the burst", time.Millisecond, func() (bool, string, error) {
		for i, c := range l.clients {
			c.mu.Lock()
			answered := slices.ContainsFunc(made[i], func(cl *call) bool { return len(cl.answers) > 0 })
			c.mu.Unlock()
			if answered {
				return true, "", nil
			}
		}
		return false, "", nil
	})
}

// connLoop keeps the client connected: it dials, sends what is
// unanswered, reads answers until the connection ends, and starts again.
func (c *loadClient) connLoop() {
	backoff := 25 * time.Millisecond
	for c.l.ctx.Err() == nil {
		ws, err := c.dial()
		if err != nil {
			c.noteClose(err)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-c.l.ctx.Done():
				t.Stop()
				return
			}
			backoff = min(2*backoff, 500*time.Millisecond)
			continue
		}
		backoff = 25 * time.Millisecond
		c.mu.Lock()
		c.ws = ws
		c.gen++
		gen := c.gen
		var resend []*call
		for _, cl := range c.calls {
			if len(cl.answers) == 0 && cl.gen != gen {
				resend = append(resend, cl)
			}
		}
		c.mu.Unlock()
		c.send(ws, gen, resend)
		err = c.read(ws)
		c.mu.Lock()
		c.ws = nil
		c.mu.Unlock()
		_ = ws.CloseNow()
		if c.l.ctx.Err() == nil {
			c.noteClose(err)
		}
	}
}

// dial connects and reads the welcome.
func (c *loadClient) dial() (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(c.l.ctx, 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, c.l.url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	_, data, err := ws.Read(ctx)
	if err != nil {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("welcome: %w", err)
	}
	var f struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Type != "welcome" {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("first frame %.100s is not a welcome", data)
	}
	return ws, nil
}

// send sends calls on ws, connection number gen, skipping those already
// sent on it or answered meanwhile. A write error closes ws; connLoop
// sends them again on the next connection.
func (c *loadClient) send(ws *websocket.Conn, gen int, calls []*call) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, cl := range calls {
		c.mu.Lock()
		skip := cl.gen == gen || len(cl.answers) > 0 || c.gen != gen
		if !skip {
			cl.gen = gen
			cl.sends++
		}
		c.mu.Unlock()
		if skip {
			continue
		}
		frame := fmt.Sprintf(`{"type":"rpc","id":%q,"actor":"ledger","actorId":%q,"method":"apply","input":{"op":%q,"amount":%d}}`,
			cl.op, c.ledger, cl.op, cl.amount)
		ctx, cancel := context.WithTimeout(c.l.ctx, 5*time.Second)
		err := ws.Write(ctx, websocket.MessageText, []byte(frame))
		cancel()
		if err != nil {
			_ = ws.CloseNow()
			return
		}
	}
}

// read records answers until the connection ends.
func (c *loadClient) read(ws *websocket.Conn) error {
	for {
		_, data, err := ws.Read(c.l.ctx)
		if err != nil {
			return err
		}
		at := time.Now()
		var f struct {
			Type   string          `json:"type"`
			ID     string          `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *string         `json:"error"`
		}
		if err := json.Unmarshal(data, &f); err != nil || f.Type != "rpc:result" {
			continue
		}
		if strings.HasPrefix(f.ID, "barrier-") {
			b := barrierAnswer{id: f.ID, result: f.Result}
			if f.Error != nil {
				b.err = errors.New(*f.Error)
			}
			select {
			case c.barrier <- b:
			default:
			}
			continue
		}
		c.mu.Lock()
		cl := c.byOp[f.ID]
		if cl == nil {
			c.stray++
			c.mu.Unlock()
			continue
		}
		a := answer{at: at, ok: f.Error == nil}
		if f.Error != nil {
			a.err = *f.Error
		} else if err := json.Unmarshal(f.Result, &a.total); err != nil {
			a.ok, a.err = false, "result not a number: "+string(f.Result)
		}
		cl.answers = append(cl.answers, a)
		c.mu.Unlock()
		if a.ok {
			for {
				prev := c.l.lastOK.Load()
				if cl.created.UnixNano() <= prev || c.l.lastOK.CompareAndSwap(prev, cl.created.UnixNano()) {
					break
				}
			}
		}
	}
}

func (c *loadClient) noteClose(err error) {
	why := "other"
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		why = fmt.Sprintf("close %d %s", ce.Code, ce.Reason)
	case err != nil && strings.HasPrefix(err.Error(), "dial"):
		why = "dial failed"
	case err != nil && strings.HasPrefix(err.Error(), "welcome"):
		why = "no welcome"
	case err != nil:
		why = "connection lost"
	}
	c.mu.Lock()
	c.closes[why]++
	c.mu.Unlock()
}

// get reads the client's ledger through its own connection (waiting up
// to the context for one): the answer comes after every answer the
// runtime published earlier for this session.
func (c *loadClient) get(ctx context.Context, k int) (ledgerState, error) {
	var st ledgerState
	err := poll(ctx, "a connection", 10*time.Millisecond, func() (bool, string, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.ws != nil, "disconnected", nil
	})
	if err != nil {
		return st, err
	}
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws == nil {
		return st, errors.New("disconnected")
	}
	id := fmt.Sprintf("barrier-%d", k)
	frame := fmt.Sprintf(`{"type":"rpc","id":%q,"actor":"ledger","actorId":%q,"method":"get"}`, id, c.ledger)
	c.wmu.Lock()
	err = ws.Write(ctx, websocket.MessageText, []byte(frame))
	c.wmu.Unlock()
	if err != nil {
		return st, err
	}
	for {
		select {
		case b := <-c.barrier:
			if b.id != id {
				continue // the answer to an earlier attempt
			}
			if b.err != nil {
				return st, fmt.Errorf("get: %w", b.err)
			}
			if err := json.Unmarshal(b.result, &st); err != nil {
				return st, fmt.Errorf("get answered %.200s", b.result)
			}
			return st, nil
		case <-ctx.Done():
			return st, fmt.Errorf("get: %w", context.Cause(ctx))
		}
	}
}

type barrierAnswer struct {
	id     string
	result json.RawMessage
	err    error
}

// ledgerState is the ledger actor's state (ledgerapp.State).
type ledgerState struct {
	Total   int64          `json:"total"`
	Applied int64          `json:"applied"`
	Ops     int            `json:"ops"`
	Twice   map[string]int `json:"twice"`
}
