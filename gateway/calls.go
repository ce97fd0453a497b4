package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// calls gives each rpc of a session exactly one rpc:result. JetStream
// delivers inbound messages at least once: a runtime that crashed, or
// whose ack was lost, runs a call again and answers it again. Every rpc
// the gateway publishes gets a number of its own (natstransport.HeaderCall)
// that the runtime copies onto the answer; the first answer for a number
// goes to the client and the others are dropped. A call that gets no
// answer in time is answered by the gateway with
// [protocol.ErrCallTimeout], and a late answer is dropped too.
//
// Numbers, not rpc ids: a client may reuse an id once it has its answer,
// and the answer to a redelivered old call must not pass for the new one.
//
// calls is also the session's window: with Config.MaxCallsInFlight calls
// unanswered, the reader waits for an answer before it publishes the next
// call, and so stops reading the socket. INBOUND is consumed in stream
// order per actor type, so a session with thousands of calls stored there
// would make every other session's calls to that type wait behind them;
// with the window, one session has at most that many ahead of anyone.
type calls struct {
	s       *session
	mu      sync.Mutex
	room    sync.Cond // signalled when a call finishes or the session closes
	next    uint64
	pending map[uint64]pendingCall // at most Config.MaxCallsInFlight
	closed  bool
	// One timer per session, not per call: it is armed for the oldest
	// pending call's deadline and, when it fires, answers what expired and
	// re-arms for the next. Calls get the same timeout in the order they
	// start, so the oldest deadline is always the first; a timer per call
	// cost an allocation and two timer-heap operations on every rpc.
	timer *time.Timer
	armed bool
}

func (c *calls) init(s *session) {
	c.s = s
	c.room.L = &c.mu
	c.pending = make(map[uint64]pendingCall)
}

// pendingCall is one published rpc waiting for its answer.
type pendingCall struct {
	id      string
	request string // its request id (natstransport.HeaderRequest)
	// For the logs: the call's actor, actor id and method.
	actor, actorID, method string
	deadline               time.Time  // zero when calls never time out
	start                  time.Time  // with Config.Metrics: when it was published
	span                   trace.Span // with Config.TracerProvider: the call's span; nil otherwise
}

// callOutcome is how a call ended, for Config.Metrics' CallDuration.
type callOutcome int

const (
	callAnswered     callOutcome = iota // its rpc:result arrived
	callTimedOut                        // CallTimeout passed first
	callNotDelivered                    // its publish to INBOUND failed
	numCallOutcomes
)

var callOutcomeNames = [numCallOutcomes]string{"answered", "timeout", "not_delivered"}

// observe records how long call p took to end with o, with Config.Metrics.
func (c *calls) observe(p pendingCall, o callOutcome) {
	if obs := c.s.g.callObs[o]; obs != nil && !p.start.IsZero() {
		obs.Observe(time.Since(p.start).Seconds())
	}
	if p.span != nil {
		if o != callAnswered {
			p.span.SetStatus(codes.Error, callOutcomeNames[o])
		}
		p.span.End()
	}
}

// start registers an rpc with id before it is published and returns the
// header that carries its number. With the window full it first waits for
// an answer (or a timeout); ok is false if the session closed meanwhile
// (the call is then not to be published: nobody is left to answer). Only
// the session's reader calls it.
func (c *calls) start(f *protocol.Frame, request string, span trace.Span) (n uint64, h nats.Header, ok bool) {
	g := c.s.g
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) >= g.cfg.MaxCallsInFlight && !c.closed {
		g.stats.windowWaits.Add(1)
		for len(c.pending) >= g.cfg.MaxCallsInFlight && !c.closed {
			c.room.Wait()
		}
	}
	if c.closed {
		return 0, nil, false
	}
	c.next++
	n = c.next
	p := pendingCall{id: f.ID, request: request, actor: f.Actor, actorID: f.ActorID, method: f.Method, span: span}
	var now time.Time
	if g.metrics != nil {
		now = time.Now()
		p.start = now
	}
	if d := g.cfg.CallTimeout; d > 0 {
		if now.IsZero() {
			now = time.Now()
		}
		p.deadline = now.Add(d)
		if !c.armed {
			c.armed = true
			if c.timer == nil {
				c.timer = time.AfterFunc(d, c.sweep)
			} else {
				c.timer.Reset(d)
			}
		}
	}
	c.pending[n] = p
	return n, nats.Header{natstransport.HeaderCall: {strconv.FormatUint(n, 10)}, natstransport.HeaderRequest: {request}}, true
}

// finish removes call n and reports whether it was still waiting (its
// answer is the first); the call is returned with it.
func (c *calls) finish(n uint64) (pendingCall, bool) {
	c.mu.Lock()
	p, ok := c.pending[n]
	if ok {
		delete(c.pending, n)
		c.room.Signal() // the reader, if it waits for room
	}
	c.mu.Unlock()
	return p, ok
}

// fail answers call n, whose publish failed, with msg, unless it was
// answered already.
func (c *calls) fail(n uint64, msg string) {
	if p, ok := c.finish(n); ok {
		c.observe(p, callNotDelivered)
		c.s.c.Send(protocol.AppendRPCError(nil, p.id, msg))
	}
}

// sweep answers every call past its deadline with
// protocol.ErrCallTimeout, in call order, and re-arms the timer for the
// oldest call still pending. The answers are queued before the window
// opens: a call the reader publishes in a freed place must not be
// answered before the calls that freed it.
func (c *calls) sweep() {
	g := c.s.g
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	var expired []uint64
	var next time.Time
	for n, p := range c.pending {
		if !now.Before(p.deadline) {
			expired = append(expired, n)
		} else if next.IsZero() || p.deadline.Before(next) {
			next = p.deadline
		}
	}
	slices.Sort(expired)
	for _, n := range expired {
		p := c.pending[n]
		id := p.id
		delete(c.pending, n)
		c.observe(p, callTimedOut)
		g.stats.callTimeouts.Add(1)
		c.s.log.LogAttrs(context.Background(), slog.LevelWarn, "call timed out", slog.String("request_id", p.request),
			slog.String("actor", p.actor), slog.String("actor_id", p.actorID), slog.String("method", p.method),
			slog.String("rpc_id", id), slog.Duration("timeout", g.cfg.CallTimeout))
		c.s.c.Send(protocol.AppendRPCError(nil, id, fmt.Sprintf(
			"%s: no answer within %v; the call may or may not have run", protocol.ErrCallTimeout, g.cfg.CallTimeout)))
	}
	if len(expired) > 0 {
		c.room.Broadcast()
	}
	c.armed = !next.IsZero() && !c.closed
	if c.armed {
		c.timer.Reset(next.Sub(now))
	}
}

// admit reports whether an outbound message for the session should reach
// the client: every message but an rpc:result whose call was answered
// already (a redelivered call's second answer, or one after the timeout).
func (c *calls) admit(h nats.Header) bool {
	v := h.Get(natstransport.HeaderCall)
	if v == "" {
		return true // not an rpc:result, or from a runtime that does not number them
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return true
	}
	if p, ok := c.finish(n); ok {
		c.observe(p, callAnswered)
		return true
	}
	c.s.g.stats.answersDropped.Add(1)
	c.s.log.Debug("second answer to a call dropped", "call", n)
	return false
}

// close stops the timers of the calls still waiting: the session is gone.
func (c *calls) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.room.Broadcast()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.armed = false
	for _, p := range c.pending {
		if p.span != nil {
			p.span.SetStatus(codes.Error, "session closed")
			p.span.End()
		}
	}
	clear(c.pending)
}
