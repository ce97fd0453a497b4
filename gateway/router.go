package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/internal/wsconn"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// router delivers live frames in natstransport.DeliveryCore. Every core
// subscription it makes (one per session subject, one per watched
// instance subject) delivers into one channel, read by one dispatcher
// goroutine: nats.go would otherwise run each subscription's handler on a
// goroutine of its own, and a patch on an instance subject could overtake
// the rpc:result published after it on the session subject. The router's
// maps are shared with session goroutines under mu; the dispatcher holds mu
// while it dispatches a message, which is only queueing work.
//
// Every message carries a sequence number (natstransport.HeaderSeq), and
// a session's frames name the instance position they follow
// (HeaderInstanceSeq). A number skipped, or a position not reached, is a
// lost message (NATS dropped it for a slow consumer, or a reconnect lost
// it): the router keeps a placeholder at that point in each affected
// session's outbox, holds the session's later frames behind it, and reads
// the missing messages from OUTBOUND. A number seen again is a retried
// publish, dropped.
type router struct {
	g       *Gateway
	log     *slog.Logger
	ch      chan *nats.Msg
	fetched chan fetchResult
	probed  chan probeResult
	probing map[*nats.Subscription]bool // a probe of the subscription's subject runs
	// suspects are the subscriptions NATS dropped messages of; owned by
	// the dispatcher goroutine.
	suspects  map[*nats.Subscription]*suspect
	lost      chan *nats.Subscription
	stop      chan struct{}
	done      chan struct{}
	prevErrCB nats.ErrHandler

	mu        sync.Mutex
	bySub     map[*nats.Subscription]any // *route or *instance
	instances map[string]*instance       // by subject
	wg        sync.WaitGroup             // recoveries and resubscriptions

	// dropHook, for tests, sees every live message first; true drops it,
	// as NATS drops a slow consumer's messages.
	dropHook func(*nats.Msg) bool

	// During a fan-out (quiet), emit queues frames without waking the
	// sessions' writers and lists them in woken; the fan-out wakes them
	// all once every frame is queued. Guarded by mu.
	quiet bool
	woken []*wsconn.Conn
}

// route is one session's delivery state.
type route struct {
	s      *session
	sub    *nats.Subscription
	prefix string // outbound.{ws}.{proj}. escaped: instance subjects are prefix + token
	track  seqTrack
	outbox []outEntry       // frames held behind a placeholder
	holds  map[string]*hold // by instance token
	lost   bool             // closed for lost frames
}

// hold is what one session wants of one instance and what the runtime
// confirmed.
type hold struct {
	inst                  *instance
	actor, actorID        string
	wantState, wantEvents bool   // the client's intent
	state, events         *watch // confirmed by the runtime
	// askState and askEvents count the subscriptions of each kind sent
	// for this hold and not answered yet (by a position or a refusal).
	askState, askEvents int
}

// watch is a confirmed subscription: the session gets the instance's
// frames of its kind numbered after from in epoch.
type watch struct {
	epoch string
	from  uint64
	resub bool // a subscription was sent again; frames wait for its answer
}

// instance is a watched instance subject.
type instance struct {
	subject string
	sub     *nats.Subscription
	track   seqTrack
	holders map[*route]*hold
}

// seqTrack follows the numbering of one subject.
type seqTrack struct {
	epoch  string
	last   uint64
	events uint64      // instance subjects: events among the messages up to last
	at     time.Time   // arrival of the last message in order: where a recovery starts reading
	recs   []*recovery // running, oldest first
}

// finishAll gives up every recovery of tr (its epoch ended).
func (r *router) finishAll(tr *seqTrack) {
	for len(tr.recs) > 0 {
		r.finish(tr.recs[0])
	}
}

// outEntry is a frame, or a placeholder for frames being recovered.
type outEntry struct {
	frame  []byte
	inst   *instance // the instance of a patch, nil otherwise
	wait   *recovery // a placeholder until wait is finished
	frames [][]byte  // what the placeholder resolved to
}

// recovery is the reading from OUTBOUND of the messages a subject missed:
// numbers from to to (0: everything OUTBOUND has after from-1) in epoch.
type recovery struct {
	subject string
	rt      *route    // a session subject's, or
	inst    *instance // an instance subject's
	epoch   string
	from    uint64
	to      uint64
	events  uint64 // instance subjects: events expected among from..to
	since   time.Time
	found   map[uint64]frameMsg
	waiting []*route
	done    bool
	stopped chan struct{} // closed when done: the fetcher stops
}

type frameMsg struct {
	header nats.Header
	data   []byte
}

type fetchResult struct {
	rec   *recovery
	msgs  []frameMsg
	final bool
	err   error
}

// recoveryMargin is read from OUTBOUND before the last message in order:
// the server stamps messages with its own clock.
const recoveryMargin = 5 * time.Second

// recoveryPoll paces the re-reading of OUTBOUND for messages not there
// yet (stored a moment after they were delivered, or a publish the
// runtime retries): from the first up to the last, doubling. A session's
// frames wait behind the recovery meanwhile, so the first tries are quick.
const (
	recoveryPollFirst = 5 * time.Millisecond
	recoveryPollLast  = 200 * time.Millisecond
)

func newRouter(g *Gateway) *router {
	r := &router{
		g:         g,
		log:       g.log,
		ch:        make(chan *nats.Msg, g.cfg.DeliveryBuffer),
		fetched:   make(chan fetchResult, 64),
		probed:    make(chan probeResult, 64),
		probing:   make(map[*nats.Subscription]bool),
		suspects:  make(map[*nats.Subscription]*suspect),
		lost:      make(chan *nats.Subscription, 1024),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		bySub:     make(map[*nats.Subscription]any),
		instances: make(map[string]*instance),
	}
	// A subscription whose messages NATS dropped may have lost its last
	// message, which no later number would reveal: the router reads its
	// tail from OUTBOUND.
	nc := g.cfg.NATS
	r.prevErrCB = nc.Opts.AsyncErrorCB
	nc.SetErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
			select {
			case r.lost <- sub:
			default:
			}
		}
		if r.prevErrCB != nil {
			r.prevErrCB(c, sub, err)
		}
	})
	go r.run()
	go r.announceAlive()
	return r
}

// close stops the dispatcher, after the sessions are gone.
func (r *router) close() {
	r.g.cfg.NATS.SetErrorHandler(r.prevErrCB)
	close(r.stop)
	<-r.done
	r.wg.Wait()
}

func (r *router) run() {
	defer close(r.done)
	look := time.NewTimer(suspectLook)
	look.Stop()
	defer look.Stop()
	for {
		select {
		case m := <-r.ch:
			r.mu.Lock()
			r.dispatch(m)
			r.mu.Unlock()
		case res := <-r.fetched:
			r.mu.Lock()
			r.merge(res)
			r.mu.Unlock()
		case sub := <-r.lost:
			if _, ok := r.suspects[sub]; !ok {
				if len(r.suspects) == 0 {
					look.Reset(suspectLook)
				}
				r.suspects[sub] = &suspect{seen: -1, probed: -1}
			}
		case <-look.C:
			r.mu.Lock()
			r.lookAtSuspects()
			r.mu.Unlock()
			if len(r.suspects) > 0 {
				look.Reset(suspectLook)
			}
		case res := <-r.probed:
			r.mu.Lock()
			r.replay(res)
			r.mu.Unlock()
		case <-r.stop:
			return
		}
	}
}

// open subscribes to a session's subject. It runs before the session
// reads its first client frame, so no answer can come before it.
func (r *router) open(s *session) (*route, error) {
	subject, err := natstransport.OutboundSubject(s.ident.scope, s.id)
	if err != nil {
		return nil, err
	}
	rt := &route{s: s, holds: make(map[string]*hold), prefix: subject[:len(subject)-len(s.id)],
		track: seqTrack{at: time.Now()}} // a probe reads from here on
	r.mu.Lock()
	defer r.mu.Unlock()
	rt.sub, err = r.g.cfg.NATS.ChanSubscribe(subject, r.ch)
	if err != nil {
		return nil, err
	}
	r.bySub[rt.sub] = rt
	return rt, nil
}

// closeRoute releases a session's subscriptions.
func (r *router) closeRoute(rt *route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unsubscribe(rt.sub)
	for tok, h := range rt.holds {
		r.release(rt, tok, h)
	}
	rt.outbox = nil
}

func (r *router) unsubscribe(sub *nats.Subscription) {
	delete(r.bySub, sub)
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) &&
		!errors.Is(err, nats.ErrBadSubscription) {
		r.log.LogAttrs(context.Background(), slog.LevelWarn, "unsubscribe", slog.String("subject", sub.Subject),
			slog.Any("err", err))
	}
}

// intend records a client's subscription frame before it is published:
// the instance subject is subscribed before the runtime can answer.
func (r *router) intend(rt *route, f protocol.Frame) error {
	var on, state bool
	switch f.Type {
	case protocol.TypeStateSub, protocol.TypeEventSub:
		on, state = true, f.Type == protocol.TypeStateSub
	case protocol.TypeStateUnsub, protocol.TypeEventUnsub:
		state = f.Type == protocol.TypeStateUnsub
	default:
		return nil
	}
	tok, err := natstransport.InstanceToken(f.Actor, f.ActorID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := rt.holds[tok]
	if h == nil {
		if !on {
			return nil
		}
		if h, err = r.acquire(rt, tok, f.Actor, f.ActorID); err != nil {
			return err
		}
	}
	if state {
		h.wantState = on
	} else {
		h.wantEvents = on
	}
	if on && state {
		h.askState++
	} else if on {
		h.askEvents++
	}
	return nil
}

// acquire makes rt a holder of the instance subject prefix+tok.
func (r *router) acquire(rt *route, tok, actor, actorID string) (*hold, error) {
	subject := rt.prefix + tok
	inst := r.instances[subject]
	if inst == nil {
		sub, err := r.g.cfg.NATS.ChanSubscribe(subject, r.ch)
		if err != nil {
			return nil, err
		}
		inst = &instance{subject: subject, sub: sub, holders: make(map[*route]*hold)}
		r.instances[subject] = inst
		r.bySub[sub] = inst
	}
	h := &hold{inst: inst, actor: actor, actorID: actorID}
	inst.holders[rt] = h
	rt.holds[tok] = h
	return h, nil
}

// release drops rt's hold; the last holder unsubscribes the instance.
func (r *router) release(rt *route, tok string, h *hold) {
	delete(rt.holds, tok)
	inst := h.inst
	delete(inst.holders, rt)
	if len(inst.holders) == 0 {
		r.unsubscribe(inst.sub)
		delete(r.instances, inst.subject)
	}
}

// dispatch handles one live message.
func (r *router) dispatch(m *nats.Msg) {
	if r.dropHook != nil && r.dropHook(m) {
		select { // as nats.go reports a slow consumer's drops
		case r.lost <- m.Sub:
		default:
		}
		return
	}
	target := r.bySub[m.Sub]
	if target == nil {
		return // unsubscribed meanwhile
	}
	seq, err := natstransport.ParseSeq(m.Header.Get(natstransport.HeaderSeq))
	if err != nil {
		r.g.stats.badOutbound.Add(1)
		r.log.LogAttrs(context.Background(), slog.LevelWarn,
			"outbound message without a sequence number skipped (is the runtime in consumer delivery?)",
			slog.String("subject", m.Subject), slog.Any("err", err))
		return
	}
	r.dispatchTo(target, m.Subject, frameMsg{header: m.Header, data: m.Data}, seq)
}

// dispatchTo handles one message of target's subject, live or replayed.
func (r *router) dispatchTo(target any, subject string, fm frameMsg, seq natstransport.Seq) {
	switch t := target.(type) {
	case *route:
		if r.admitSession(t, seq, fm) {
			r.sessionMsg(t, fm, nil)
		}
	case *instance:
		env, err := natstransport.DecodeFanout(fm.data)
		if err != nil {
			r.g.stats.badOutbound.Add(1)
			r.log.LogAttrs(context.Background(), slog.LevelWarn, "malformed fanout envelope skipped",
				slog.String("subject", subject), slog.Any("err", err))
			return
		}
		if r.admitInstance(t, seq, fm, env) {
			r.fanOut(t, env, seq, nil)
		}
	}
}

// admitSession checks a session-subject message's number: it reports
// whether the message is next in order. A message a recovery waits for is
// handed to it; one seen before is dropped; a gap starts a recovery, and
// the message is then delivered behind the placeholder.
func (r *router) admitSession(rt *route, seq natstransport.Seq, fm frameMsg) bool {
	tr := &rt.track
	if r.handOver(tr, seq, fm) {
		return false
	}
	switch {
	case seq.Epoch == tr.epoch && seq.N <= tr.last:
		r.g.stats.duplicates.Add(1)
		return false
	case seq.Epoch == tr.epoch && seq.N > tr.last+1:
		r.startRecovery(tr, rt.sub.Subject, rt, nil, seq.Epoch, tr.last+1, seq.N-1, 0)
	case seq.Epoch != tr.epoch && seq.N > 1: // a session's numbering starts at 1 with every epoch
		r.startRecovery(tr, rt.sub.Subject, rt, nil, seq.Epoch, 1, seq.N-1, 0)
	}
	tr.epoch, tr.last, tr.at = seq.Epoch, seq.N, time.Now()
	return true
}

// admitInstance is admitSession for an instance-subject message.
func (r *router) admitInstance(inst *instance, seq natstransport.Seq, fm frameMsg, env natstransport.FanoutEnvelope) bool {
	tr := &inst.track
	events := headerUint(fm.header, natstransport.HeaderEvents)
	if r.handOver(tr, seq, fm) {
		return false
	}
	switch {
	case tr.epoch == "":
		// No watch confirmed yet: nobody to deliver to, nothing to miss.
	case seq.Epoch != tr.epoch:
		// A new activation of the instance (evicted and activated again,
		// or its runtime restarted): numbers start afresh, and watches of
		// the old one are stale (fanTo asks for them again).
		r.finishAll(tr)
	case seq.N <= tr.last:
		r.g.stats.duplicates.Add(1)
		return false
	case seq.N > tr.last+1:
		before := events
		if env.Kind == natstransport.FanoutEvent {
			before--
		}
		r.gapTo(inst, tr.last+1, seq.N-1, before)
	}
	tr.epoch, tr.last, tr.events, tr.at = seq.Epoch, seq.N, events, time.Now()
	return true
}

// gapTo starts, or extends, the recovery of an instance's messages up to
// to, through which events events were sent.
func (r *router) gapTo(inst *instance, from, to, events uint64) {
	tr := &inst.track
	if n := len(tr.recs); n > 0 {
		if rec := tr.recs[n-1]; rec.epoch == tr.epoch && rec.to+1 == from {
			rec.events += events - tr.events
			rec.to = to
			return
		}
	}
	r.startRecovery(tr, inst.subject, nil, inst, tr.epoch, from, to, events-tr.events)
}

// handOver gives a recovery of tr the message it waits for.
func (r *router) handOver(tr *seqTrack, seq natstransport.Seq, fm frameMsg) bool {
	for _, rec := range tr.recs {
		if rec.wants(seq) {
			rec.found[seq.N] = fm
			if rec.complete() {
				r.finish(rec)
			}
			return true
		}
	}
	return false
}

func headerUint(h nats.Header, key string) uint64 {
	n, _ := strconv.ParseUint(h.Get(key), 10, 64)
	return n
}

// sessionMsg delivers a message of a session's subject to its socket, or
// into the placeholder ph.
func (r *router) sessionMsg(rt *route, fm frameMsg, ph *[][]byte) {
	env, err := natstransport.DecodeOutbound(fm.data)
	if err != nil {
		r.g.stats.badOutbound.Add(1)
		rt.s.log.LogAttrs(context.Background(), slog.LevelWarn, "malformed outbound envelope skipped", slog.Any("err", err))
		return
	}
	if bytes.HasPrefix(env.Message, subErrorPrefix) {
		r.refused(rt, env.Message)
	}
	tok := fm.header.Get(natstransport.HeaderInstance)
	if sub := fm.header.Get(natstransport.HeaderSub); sub != "" {
		r.position(rt, sub, tok, fm.header)
		if sub != protocol.TypeStateSub {
			return // for the gateway alone
		}
	} else if tok != "" && ph == nil {
		r.follow(rt, tok, fm.header)
	}
	if !rt.s.calls.admit(fm.header) {
		return
	}
	r.emit(rt, env.Message, nil, ph)
}

// subErrorPrefix starts every sub:error frame (protocol.AppendSubError).
var subErrorPrefix = []byte(`{"type":"` + protocol.TypeSubError + `"`)

// refused applies a runtime's refusal of a subscription (a sub:error frame,
// which carries no position): unless the session holds that subscription
// already (a repeated state:sub was refused) or has asked for it again
// since, the client's intent recorded by intend is void, the session
// forgets it (a resubscription must not ask again), and a hold left with
// nothing to watch is released. So a client cannot make the gateway keep
// instance subjects for subscriptions it was refused (by
// AuthorizeSubscription, or over MaxSubscriptions).
func (r *router) refused(rt *route, frame []byte) {
	f, err := protocol.Decode(frame)
	if err != nil || f.Type != protocol.TypeSubError {
		return
	}
	tok, err := natstransport.InstanceToken(f.Actor, f.ActorID)
	if err != nil {
		return
	}
	h := rt.holds[tok]
	if h == nil {
		return
	}
	switch f.Refused {
	case protocol.TypeStateSub:
		h.askState = max(h.askState-1, 0)
		if h.state != nil || h.askState > 0 {
			return
		}
		h.wantState = false
	case protocol.TypeEventSub:
		h.askEvents = max(h.askEvents-1, 0)
		if h.events != nil || h.askEvents > 0 {
			return
		}
		h.wantEvents = false
	default:
		return
	}
	rt.s.forget(f.Refused, f.Actor, f.ActorID)
	if h.state == nil && h.events == nil && !h.wantState && !h.wantEvents {
		r.release(rt, tok, h)
	}
}

// follow makes sure a session frame made on an instance the session
// watches comes after that instance's frames before it: if the instance's
// messages up to that point have not all arrived, they were lost, and the
// frame waits behind the placeholder of their recovery.
func (r *router) follow(rt *route, tok string, h nats.Header) {
	hd := rt.holds[tok]
	if hd == nil || (hd.state == nil && hd.events == nil) {
		return
	}
	at, err := natstransport.ParseSeq(h.Get(natstransport.HeaderInstanceSeq))
	tr := &hd.inst.track
	if err != nil || at.Epoch != tr.epoch || at.N <= tr.last {
		return
	}
	r.gapTo(hd.inst, tr.last+1, at.N, headerUint(h, natstransport.HeaderEvents))
	tr.last, tr.events = at.N, headerUint(h, natstransport.HeaderEvents)
}

// position applies the runtime's answer to a subscription change.
func (r *router) position(rt *route, sub, tok string, header nats.Header) {
	h := rt.holds[tok]
	if h == nil {
		return // the client has left the instance since
	}
	seq, err := natstransport.ParseSeq(header.Get(natstransport.HeaderInstanceSeq))
	if err != nil {
		r.g.stats.badOutbound.Add(1)
		return
	}
	w := &watch{epoch: seq.Epoch, from: seq.N}
	switch sub {
	case protocol.TypeStateSub:
		h.state = w
		h.askState = max(h.askState-1, 0)
	case protocol.TypeEventSub:
		h.events = w
		h.askEvents = max(h.askEvents-1, 0)
	case protocol.TypeStateUnsub:
		h.state = nil
	case protocol.TypeEventUnsub:
		h.events = nil
	}
	if h.state == nil && h.events == nil && !h.wantState && !h.wantEvents {
		r.release(rt, tok, h)
		return
	}
	if sub != protocol.TypeStateSub && sub != protocol.TypeEventSub {
		return
	}
	switch tr := &h.inst.track; {
	case tr.epoch != seq.Epoch:
		r.finishAll(tr)
		*tr = seqTrack{epoch: seq.Epoch, last: seq.N, events: headerUint(header, natstransport.HeaderEvents), at: time.Now()}
	case tr.last < seq.N:
		r.gapTo(h.inst, tr.last+1, seq.N, headerUint(header, natstransport.HeaderEvents))
		tr.last, tr.events = seq.N, headerUint(header, natstransport.HeaderEvents)
	case tr.last > seq.N && len(tr.recs) == 0:
		// Frames after the position went by before it (a retried
		// publish reordered them): ask again rather than miss them.
		r.resubscribe(rt, h, sub)
	}
}

// fanOut delivers a message of an instance subject to its watchers, or,
// with rec, into their placeholders for rec.
//
// The writers are woken once the frame is queued for every watcher. Woken
// one by one, thousands of them became runnable while the fan-out still
// ran; the Go scheduler then preempted it and queued it behind them, so a
// fan-out to 5,000 watchers spent about half its time waiting for the CPU
// (go tool trace -pprof=sched), and with it every frame after it.
func (r *router) fanOut(inst *instance, env natstransport.FanoutEnvelope, seq natstransport.Seq, rec *recovery) {
	r.quiet = true
	for rt, h := range inst.holders {
		r.fanTo(rt, h, inst, env, seq, rec)
	}
	r.quiet = false
	for _, c := range r.woken {
		c.Wake()
	}
	clear(r.woken)
	r.woken = r.woken[:0]
	if cap(r.woken) > 1<<16 {
		r.woken = nil // a rare huge fan-out does not pin its list
	}
}

// fanTo delivers an instance's frame to one holder if its watch wants it.
func (r *router) fanTo(rt *route, h *hold, inst *instance, env natstransport.FanoutEnvelope, seq natstransport.Seq, rec *recovery) {
	state := env.Kind == natstransport.FanoutState
	w, typ := h.events, protocol.TypeEventSub
	if state {
		w, typ = h.state, protocol.TypeStateSub
	}
	if w == nil || w.resub {
		return
	}
	if w.epoch != seq.Epoch {
		r.resubscribe(rt, h, typ)
		return
	}
	if seq.N <= w.from || (!state && slices.Contains(env.Except, rt.s.id)) {
		return
	}
	var ph *[][]byte
	if rec != nil {
		if ph = rt.placeholder(rec); ph == nil {
			return
		}
	}
	var patchOf *instance
	if state {
		patchOf = inst
	}
	r.emit(rt, env.Message, patchOf, ph)
}

// emit sends a frame to a session, or queues it behind a placeholder.
func (r *router) emit(rt *route, frame []byte, patchOf *instance, ph *[][]byte) {
	switch {
	case ph != nil:
		*ph = append(*ph, frame)
	case len(rt.outbox) == 0 && r.quiet:
		if rt.s.c.SendQuiet(frame) {
			r.woken = append(r.woken, rt.s.c)
		}
	case len(rt.outbox) == 0:
		rt.s.c.Send(frame)
	default:
		rt.outbox = append(rt.outbox, outEntry{frame: frame, inst: patchOf})
	}
}

// placeholder returns where rt's frames recovered by rec go, or nil.
func (rt *route) placeholder(rec *recovery) *[][]byte {
	for i := range rt.outbox {
		if rt.outbox[i].wait == rec {
			return &rt.outbox[i].frames
		}
	}
	return nil
}

// flush sends rt's held frames up to the first unfinished placeholder.
func (rt *route) flush() {
	i := 0
	for ; i < len(rt.outbox); i++ {
		e := &rt.outbox[i]
		if e.wait != nil && !e.wait.done {
			break
		}
		if e.wait != nil {
			for _, f := range e.frames {
				rt.s.c.Send(f)
			}
		} else {
			rt.s.c.Send(e.frame)
		}
	}
	rt.outbox = slices.Delete(rt.outbox, 0, i)
	if len(rt.outbox) == 0 {
		rt.outbox = nil
	}
}

// startRecovery puts a placeholder in every affected session's outbox
// and starts reading the missing messages from OUTBOUND.
func (r *router) startRecovery(tr *seqTrack, subject string, rt *route, inst *instance, epoch string, from, to, events uint64) {
	r.g.stats.gaps.Add(1)
	rec := &recovery{subject: subject, rt: rt, inst: inst, epoch: epoch, from: from, to: to, events: events,
		since: tr.at, found: make(map[uint64]frameMsg), stopped: make(chan struct{})}
	if rec.since.IsZero() {
		rec.since = time.Now()
	}
	tr.recs = append(tr.recs, rec)
	if rt != nil {
		rec.waiting = []*route{rt}
	} else {
		for w, h := range inst.holders {
			if h.state != nil || h.events != nil {
				rec.waiting = append(rec.waiting, w)
			}
		}
	}
	for _, w := range rec.waiting {
		w.outbox = append(w.outbox, outEntry{wait: rec})
	}
	r.log.LogAttrs(context.Background(), slog.LevelDebug, "frames missed; recovering from OUTBOUND",
		slog.String("subject", subject), slog.Uint64("from", from), slog.Uint64("to", to))
	r.wg.Go(func() { r.fetch(rec) })
}

// suspectLook is how often the dispatcher looks at the subscriptions NATS
// dropped messages of. A subscription whose drop count stayed the same for
// one look is probed: its last drop is then at least this old, so the
// dropped messages are stored in OUTBOUND.
const suspectLook = 200 * time.Millisecond

// suspect is a subscription NATS dropped messages of. nats.go reports
// the first drop of an episode only, and the dispatcher cannot tell when
// an episode ended (the report can overtake the messages queued before the
// drop). So a suspect stays one until it is unsubscribed, and is probed
// again whenever its drop count moved and then held still for a look.
type suspect struct {
	seen   int // drop count at the last look
	probed int // drop count at the last probe
}

// lookAtSuspects probes the suspects whose drops have stopped.
func (r *router) lookAtSuspects() {
	for sub, sp := range r.suspects {
		dropped, err := sub.Dropped()
		if err != nil { // unsubscribed
			delete(r.suspects, sub)
			continue
		}
		if dropped != sp.seen || r.probing[sub] { // a probe that began before the last drop may miss it
			sp.seen = dropped
			continue
		}
		if dropped != sp.probed {
			sp.probed = dropped
			r.probe(sub)
		}
	}
}

// trackOf returns the numbering of a session's or an instance's subject,
// or nil for anything else.
func trackOf(target any) *seqTrack {
	switch t := target.(type) {
	case *route:
		return &t.track
	case *instance:
		return &t.track
	}
	return nil
}

// probe reads what OUTBOUND holds after the last message of a
// subscription NATS dropped messages of: when the lost messages were the
// last ones, no later number reveals the loss. What it finds is handled
// as if it had just arrived (replay), so gaps and duplicates are treated
// as for live messages.
func (r *router) probe(sub *nats.Subscription) {
	target := r.bySub[sub]
	tr := trackOf(target)
	if tr == nil {
		return
	}
	if _, ok := target.(*instance); ok && tr.epoch == "" {
		return // no watch confirmed yet: nothing to deliver
	}
	r.probing[sub] = true
	since := tr.at
	r.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.g.cfg.RecoveryTimeout)
		defer cancel()
		msgs, err := r.readOutbound(ctx, sub.Subject, since.Add(-recoveryMargin))
		select {
		case r.probed <- probeResult{sub: sub, msgs: msgs, err: err}:
		case <-r.stop:
		}
	})
}

type probeResult struct {
	sub  *nats.Subscription
	msgs []frameMsg
	err  error
}

// replay handles what a probe found after the subject's last message.
func (r *router) replay(res probeResult) {
	delete(r.probing, res.sub)
	if res.err != nil {
		r.log.LogAttrs(context.Background(), slog.LevelWarn, "reading OUTBOUND after lost frames failed",
			slog.String("subject", res.sub.Subject), slog.Any("err", res.err))
	}
	target := r.bySub[res.sub]
	if target == nil {
		return
	}
	r.log.LogAttrs(context.Background(), slog.LevelDebug, "probed OUTBOUND after lost frames",
		slog.String("subject", res.sub.Subject), slog.Int("read", len(res.msgs)))
	for _, fm := range res.msgs { // in stream order, which is publish order
		seq, err := natstransport.ParseSeq(fm.header.Get(natstransport.HeaderSeq))
		if err != nil {
			continue
		}
		tr := trackOf(target)
		if (seq.Epoch == tr.epoch && seq.N > tr.last) || tr.epoch == "" { // "": nothing arrived yet
			r.g.stats.recovered.Add(1)
			r.dispatchTo(target, res.sub.Subject, fm, seq)
		}
	}
}

func (rec *recovery) wants(seq natstransport.Seq) bool {
	return !rec.done && seq.Epoch == rec.epoch && seq.N >= rec.from && seq.N <= rec.to
}

func (rec *recovery) complete() bool {
	return uint64(len(rec.found)) == rec.to-rec.from+1
}

// merge takes what a fetch read.
func (r *router) merge(res fetchResult) {
	rec := res.rec
	if rec.done {
		return
	}
	for _, fm := range res.msgs {
		seq, err := natstransport.ParseSeq(fm.header.Get(natstransport.HeaderSeq))
		if err == nil && rec.wants(seq) {
			rec.found[seq.N] = fm
		}
	}
	if rec.complete() || res.final {
		if res.err != nil {
			r.log.LogAttrs(context.Background(), slog.LevelWarn, "reading missed frames from OUTBOUND failed",
				slog.String("subject", rec.subject), slog.Any("err", res.err))
		}
		r.finish(rec)
	}
}

// finish delivers what rec found into the placeholders and deals with
// what it did not: a state watcher that missed only patches gets a fresh
// snapshot; a session that missed an event or a frame of its own is
// closed.
func (r *router) finish(rec *recovery) {
	if rec.done {
		return
	}
	rec.done = true
	close(rec.stopped)
	tr := rec.track()
	tr.recs = slices.DeleteFunc(tr.recs, func(x *recovery) bool { return x == rec })
	nums := make([]uint64, 0, len(rec.found))
	for n := range rec.found {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	r.g.stats.recovered.Add(int64(len(nums)))
	if r.log.Enabled(context.Background(), slog.LevelDebug) {
		r.log.LogAttrs(context.Background(), slog.LevelDebug, "recovery finished", slog.String("subject", rec.subject),
			slog.Uint64("from", rec.from), slog.Uint64("to", rec.to), slog.Int("found", len(nums)),
			slog.Int("waiting", len(rec.waiting)))
	}
	var envs []natstransport.FanoutEnvelope
	var seqs []natstransport.Seq
	lostPatches, lostEvents := false, false
	if rec.inst != nil {
		foundEvents := uint64(0)
		for _, n := range nums {
			env, err := natstransport.DecodeFanout(rec.found[n].data)
			if err != nil {
				continue // counted as lost below
			}
			if env.Kind == natstransport.FanoutEvent {
				foundEvents++
			}
			envs = append(envs, env)
			seqs = append(seqs, natstransport.Seq{Epoch: rec.epoch, N: n})
		}
		missing := rec.to - rec.from + 1 - uint64(len(envs))
		missingEvents := min(rec.events-min(foundEvents, rec.events), missing)
		lostEvents, lostPatches = missingEvents > 0, missing > missingEvents
	}
	lostOwn := rec.rt != nil && uint64(len(nums)) < rec.to-rec.from+1
	for _, rt := range rec.waiting {
		ph := rt.placeholder(rec)
		if ph == nil || rt.lost {
			continue
		}
		if rec.rt != nil {
			if lostOwn {
				r.closeLost(rt, rec)
				continue
			}
			for _, n := range nums {
				r.sessionMsg(rt, rec.found[n], ph)
			}
			continue
		}
		h := rec.inst.holders[rt]
		if h == nil {
			continue
		}
		if lostEvents && h.events != nil { // an event cannot be rebuilt
			r.closeLost(rt, rec)
			continue
		}
		for i, env := range envs {
			if lostPatches && env.Kind == natstransport.FanoutState {
				continue
			}
			r.fanTo(rt, h, rec.inst, env, seqs[i], rec)
		}
		if lostPatches && h.state != nil && !h.state.resub { // a fresh snapshot replaces the patches
			rt.dropPatches(rec.inst)
			r.resubscribe(rt, h, protocol.TypeStateSub)
		}
	}
	rec.found = nil
	for _, rt := range rec.waiting {
		rt.flush()
	}
}

// track returns the track of the subject rec recovers.
func (rec *recovery) track() *seqTrack {
	if rec.inst != nil {
		return &rec.inst.track
	}
	return &rec.rt.track
}

// dropPatches removes rt's held patches of inst: after a lost patch they
// no longer apply, and a fresh snapshot follows.
func (rt *route) dropPatches(inst *instance) {
	rt.outbox = slices.DeleteFunc(rt.outbox, func(e outEntry) bool { return e.inst == inst })
}

func (r *router) closeLost(rt *route, rec *recovery) {
	rt.lost = true
	rt.outbox = nil
	r.g.stats.framesLost.Add(1)
	if rt.s.c.Stop(websocket.StatusCode(protocol.CloseFramesLost), reasonFramesLost, true) {
		rt.s.log.LogAttrs(context.Background(), slog.LevelWarn, "session closed: frames lost",
			slog.String("subject", rec.subject), slog.Uint64("from", rec.from), slog.Uint64("to", rec.to))
	}
}

// resubscribe sends a session's subscription to an instance again, so
// that its runtime answers with a fresh position (and, for state, a
// snapshot); the watch's frames wait for it.
func (r *router) resubscribe(rt *route, h *hold, typ string) {
	w := h.events
	if typ == protocol.TypeStateSub {
		w = h.state
	}
	if w != nil {
		if w.resub {
			return
		}
		w.resub = true
	}
	r.g.stats.resubscribed.Add(1)
	s, actor, actorID := rt.s, h.actor, h.actorID
	r.wg.Go(func() {
		if s.c.IsStopped() {
			return
		}
		frame := protocol.AppendSubscription(nil, typ, actor, actorID)
		s.forward(context.Background(), protocol.Frame{Type: typ, Actor: actor, ActorID: actorID}, frame, nil)
	})
}

// fetch reads rec's messages from OUTBOUND until it has them all, or the
// recovery timeout passes, or the dispatcher is done with rec.
func (r *router) fetch(rec *recovery) {
	ctx, cancel := context.WithTimeout(context.Background(), r.g.cfg.RecoveryTimeout)
	defer cancel()
	poll := recoveryPollFirst
	for {
		msgs, err := r.readOutbound(ctx, rec.subject, rec.since.Add(-recoveryMargin))
		final := ctx.Err() != nil
		select {
		case r.fetched <- fetchResult{rec: rec, msgs: msgs, final: final, err: err}:
		case <-rec.stopped:
			return
		case <-r.stop:
			return
		}
		if final {
			return
		}
		t := time.NewTimer(poll)
		poll = min(2*poll, recoveryPollLast)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			// One last answer, final, so the dispatcher gives up.
			select {
			case r.fetched <- fetchResult{rec: rec, final: true, err: ctx.Err()}:
			case <-rec.stopped:
			case <-r.stop:
			}
			return
		case <-rec.stopped:
			t.Stop()
			return
		case <-r.stop:
			t.Stop()
			return
		}
	}
}

// readOutbound reads the messages of subject stored since start.
func (r *router) readOutbound(ctx context.Context, subject string, start time.Time) ([]frameMsg, error) {
	cons, err := r.g.js.OrderedConsumer(ctx, natstransport.OutboundStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.g.cfg.JetStreamTimeout)
			_ = r.g.js.DeleteConsumer(dctx, natstransport.OutboundStream, info.Name)
			cancel()
		}
	}()
	var out []frameMsg
	for ctx.Err() == nil {
		batch, err := cons.FetchNoWait(256) // what the stream holds now: the missing frames are older
		if err != nil {
			return out, err
		}
		n, pending := 0, uint64(0)
		for m := range batch.Messages() {
			n++
			out = append(out, frameMsg{header: m.Headers(), data: m.Data()})
			if md, err := m.Metadata(); err == nil {
				pending = md.NumPending
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return out, err
		}
		if n == 0 || pending == 0 {
			return out, nil
		}
	}
	return out, ctx.Err()
}

// announceAlive names the open sessions of every scope on session.alive
// every AliveInterval, so that runtimes can tell this gateway's sessions
// from those of a gateway that died.
func (r *router) announceAlive() {
	tick := time.NewTicker(r.g.cfg.AliveInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		r.g.smu.Lock()
		byScope := make(map[natstransport.Scope][]string, len(r.g.scoped))
		for scope, set := range r.g.scoped {
			for s := range set {
				byScope[scope] = append(byScope[scope], s.id)
			}
		}
		r.g.smu.Unlock()
		for scope, ids := range byScope {
			r.publishAlive(scope, ids)
		}
	}
}

// publishAlive sends ids in notices under the connection's max payload.
func (r *router) publishAlive(scope natstransport.Scope, ids []string) {
	subject, err := natstransport.SessionAliveSubject(scope)
	if err != nil {
		return
	}
	limit := int(r.g.maxPayload) / 2
	for len(ids) > 0 {
		n, size := 0, 256
		for n < len(ids) && size+len(ids[n])+3 < limit {
			size += len(ids[n]) + 3
			n++
		}
		n = max(n, 1)
		body, _ := json.Marshal(natstransport.SessionAlive{Scope: scope, SessionIDs: ids[:n]})
		if err := r.g.cfg.NATS.Publish(subject, body); err != nil {
			r.log.LogAttrs(context.Background(), slog.LevelWarn, "session.alive not published", slog.Any("err", err))
			return
		}
		ids = ids[n:]
	}
}
