package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
// Every message carries a sequence number (natstransport.HeaderSeq). A
// number skipped is a lost message (NATS dropped it for a slow consumer, or
// a reconnect lost it): the router keeps a placeholder at that point in
// each affected session's outbox, holds the session's later frames behind
// it, and reads the missing messages from OUTBOUND. A number seen again is
// a retried publish, dropped.
type router struct {
	g         *Gateway
	log       *slog.Logger
	ch        chan *nats.Msg
	fetched   chan fetchResult
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
	epoch string
	last  uint64
	at    time.Time // arrival of the last message in order: where a recovery starts reading
	rec   *recovery
}

// outEntry is a frame, or a placeholder for frames being recovered.
type outEntry struct {
	frame  []byte
	inst   *instance // the instance of a patch, nil otherwise
	wait   *recovery // a placeholder until wait is finished
	frames [][]byte  // what the placeholder resolved to
}

// recovery is the reading from OUTBOUND of the messages a subject missed.
type recovery struct {
	subject string
	rt      *route    // a session subject's, or
	inst    *instance // an instance subject's
	epoch   string
	from    uint64
	to      uint64 // 0: everything after from-1 that OUTBOUND has
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
// yet (a publish the runtime retries).
const recoveryPoll = 100 * time.Millisecond

func newRouter(g *Gateway) *router {
	r := &router{
		g:         g,
		log:       g.log,
		ch:        make(chan *nats.Msg, g.cfg.DeliveryBuffer),
		fetched:   make(chan fetchResult, 64),
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
			r.mu.Lock()
			r.tail(sub)
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
	rt := &route{s: s, holds: make(map[string]*hold), prefix: subject[:len(subject)-len(s.id)]}
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
		return
	}
	target := r.bySub[m.Sub]
	if target == nil {
		return // unsubscribed meanwhile
	}
	seq, err := natstransport.ParseSeq(m.Header.Get(natstransport.HeaderSeq))
	if err != nil {
		r.g.stats.badOutbound.Add(1)
		r.log.LogAttrs(context.Background(), slog.LevelWarn, "outbound message without a sequence number skipped (is the runtime in consumer delivery?)",
			slog.String("subject", m.Subject), slog.Any("err", err))
		return
	}
	fm := frameMsg{header: m.Header, data: m.Data}
	switch t := target.(type) {
	case *route:
		if r.admit(&t.track, seq, fm, m.Subject, t, nil) {
			r.sessionMsg(t, fm, nil)
		}
	case *instance:
		if t.track.epoch != "" && seq.Epoch != t.track.epoch {
			// A new activation of the instance (evicted and activated
			// again, or its runtime restarted): numbers start afresh, and
			// watches of the old one are stale.
			if t.track.rec != nil {
				r.finish(t.track.rec)
			}
			t.track = seqTrack{epoch: seq.Epoch, last: seq.N, at: time.Now()}
			r.instanceMsg(t, fm, seq, nil)
			return
		}
		if t.track.epoch == "" { // no watch confirmed yet: nobody to deliver to
			t.track = seqTrack{epoch: seq.Epoch, last: seq.N, at: time.Now()}
			r.instanceMsg(t, fm, seq, nil)
			return
		}
		if r.admit(&t.track, seq, fm, m.Subject, nil, t) {
			r.instanceMsg(t, fm, seq, nil)
		}
	}
}

// admit checks seq against tr: it reports whether the message is next in
// order. A message a recovery waits for is handed to it; one seen before
// is dropped; a gap starts a recovery, and the message is then delivered
// behind the placeholders.
func (r *router) admit(tr *seqTrack, seq natstransport.Seq, fm frameMsg, subject string, rt *route, inst *instance) bool {
	if rec := tr.rec; rec != nil && rec.wants(seq) {
		rec.found[seq.N] = fm
		if rec.complete() {
			r.finish(rec)
		}
		return false
	}
	switch {
	case seq.Epoch == tr.epoch && seq.N <= tr.last:
		r.g.stats.duplicates.Add(1)
		return false
	case seq.Epoch == tr.epoch && seq.N > tr.last+1:
		r.startRecovery(tr, subject, rt, inst, seq.Epoch, tr.last+1, seq.N-1)
	case seq.Epoch != tr.epoch && rt != nil && seq.N > 1:
		// A session's numbering starts at 1 with every epoch.
		r.startRecovery(tr, subject, rt, inst, seq.Epoch, 1, seq.N-1)
	}
	tr.epoch, tr.last, tr.at = seq.Epoch, seq.N, time.Now()
	return true
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
	if sub := fm.header.Get(natstransport.HeaderSub); sub != "" {
		r.position(rt, sub, fm.header.Get(natstransport.HeaderInstance), fm.header.Get(natstransport.HeaderInstanceSeq))
		if sub != protocol.TypeStateSub {
			return // for the gateway alone
		}
	}
	r.emit(rt, env.Message, nil, ph)
}

// position applies the runtime's answer to a subscription change.
func (r *router) position(rt *route, sub, tok, at string) {
	h := rt.holds[tok]
	if h == nil {
		return // the client has left the instance since
	}
	seq, err := natstransport.ParseSeq(at)
	if err != nil {
		r.g.stats.badOutbound.Add(1)
		return
	}
	w := &watch{epoch: seq.Epoch, from: seq.N}
	switch sub {
	case protocol.TypeStateSub:
		h.state = w
	case protocol.TypeEventSub:
		h.events = w
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
	inst := h.inst
	switch tr := &inst.track; {
	case tr.epoch != seq.Epoch:
		if tr.rec != nil {
			r.finish(tr.rec)
		}
		*tr = seqTrack{epoch: seq.Epoch, last: seq.N, at: time.Now()}
	case tr.last < seq.N:
		tr.last, tr.at = seq.N, time.Now()
	case tr.last > seq.N:
		// Frames after the position went by before it (a retried
		// publish reordered them): ask again rather than miss them.
		r.resubscribe(rt, h, sub)
	}
}

// instanceMsg fans a message of an instance subject out to its watchers,
// or, with rec, into their placeholders for rec.
func (r *router) instanceMsg(inst *instance, fm frameMsg, seq natstransport.Seq, rec *recovery) {
	env, err := natstransport.DecodeFanout(fm.data)
	if err != nil {
		r.g.stats.badOutbound.Add(1)
		r.log.LogAttrs(context.Background(), slog.LevelWarn, "malformed fanout envelope skipped",
			slog.String("subject", inst.subject), slog.Any("err", err))
		return
	}
	state := env.Kind == natstransport.FanoutState
	for rt, h := range inst.holders {
		r.fanTo(rt, h, inst, env, state, seq, rec)
	}
}

// fanTo delivers an instance's frame to one holder if its watch wants it.
func (r *router) fanTo(rt *route, h *hold, inst *instance, env natstransport.FanoutEnvelope, state bool,
	seq natstransport.Seq, rec *recovery) {
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
func (r *router) startRecovery(tr *seqTrack, subject string, rt *route, inst *instance, epoch string, from, to uint64) {
	if tr.rec != nil { // one at a time per subject: the older gap is given up
		r.finish(tr.rec)
	}
	r.g.stats.gaps.Add(1)
	rec := &recovery{subject: subject, rt: rt, inst: inst, epoch: epoch, from: from, to: to, since: tr.at,
		found: make(map[uint64]frameMsg), stopped: make(chan struct{})}
	if rec.since.IsZero() {
		rec.since = time.Now()
	}
	tr.rec = rec
	if rt != nil {
		rec.waiting = []*route{rt}
	} else {
		for w := range inst.holders {
			rec.waiting = append(rec.waiting, w)
		}
	}
	for _, w := range rec.waiting {
		w.outbox = append(w.outbox, outEntry{wait: rec})
	}
	r.log.LogAttrs(context.Background(), slog.LevelDebug, "frames missed; recovering from OUTBOUND",
		slog.String("subject", subject), slog.Uint64("from", from), slog.Uint64("to", to))
	r.wg.Go(func() { r.fetch(rec) })
}

// tail recovers whatever OUTBOUND holds after the last message of a
// subscription NATS dropped messages of.
func (r *router) tail(sub *nats.Subscription) {
	switch t := r.bySub[sub].(type) {
	case *route:
		if t.track.rec == nil && t.track.epoch != "" {
			r.startRecovery(&t.track, sub.Subject, t, nil, t.track.epoch, t.track.last+1, 0)
		}
	case *instance:
		if t.track.rec == nil && t.track.epoch != "" {
			r.startRecovery(&t.track, sub.Subject, nil, t, t.track.epoch, t.track.last+1, 0)
		}
	}
}

func (rec *recovery) wants(seq natstransport.Seq) bool {
	return !rec.done && seq.Epoch == rec.epoch && seq.N >= rec.from && (rec.to == 0 || seq.N <= rec.to)
}

func (rec *recovery) complete() bool {
	return rec.to != 0 && uint64(len(rec.found)) == rec.to-rec.from+1
}

func (rec *recovery) abandon() {
	if !rec.done {
		rec.done = true
		close(rec.stopped)
	}
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
// snapshot, any other session that missed frames is closed.
func (r *router) finish(rec *recovery) {
	if rec.done && rec.found == nil {
		return
	}
	rec.abandon()
	found := rec.found
	rec.found = nil
	var tr *seqTrack
	if rec.inst != nil {
		tr = &rec.inst.track
	} else {
		tr = &rec.rt.track
	}
	if tr.rec == rec {
		tr.rec = nil
	}
	nums := make([]uint64, 0, len(found))
	for n := range found {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	missing := rec.to != 0 && uint64(len(found)) < rec.to-rec.from+1 // a tail (to 0) has no count to miss
	r.g.stats.recovered.Add(int64(len(found)))
	for _, rt := range rec.waiting {
		ph := rt.placeholder(rec)
		if ph == nil || rt.lost {
			continue
		}
		switch {
		case rec.rt != nil:
			if missing {
				r.closeLost(rt, rec)
				continue
			}
			for _, n := range nums {
				r.sessionMsg(rt, found[n], ph)
			}
		case missing:
			h := rec.inst.holders[rt]
			if h == nil {
				continue
			}
			if h.events != nil {
				r.closeLost(rt, rec)
				continue
			}
			if h.state != nil { // patches only: a fresh snapshot replaces them
				rt.dropPatches(rec.inst)
				r.resubscribe(rt, h, protocol.TypeStateSub)
			}
		default:
			for _, n := range nums {
				seq, _ := natstransport.ParseSeq(found[n].header.Get(natstransport.HeaderSeq))
				r.instanceMsgTo(rt, rec, found[n], seq)
			}
		}
	}
	if rec.to == 0 && len(nums) > 0 && tr.epoch == rec.epoch && nums[len(nums)-1] > tr.last {
		tr.last = nums[len(nums)-1]
	}
	for _, rt := range rec.waiting {
		rt.flush()
	}
}

// instanceMsgTo delivers one recovered instance message to one watcher.
func (r *router) instanceMsgTo(rt *route, rec *recovery, fm frameMsg, seq natstransport.Seq) {
	h := rec.inst.holders[rt]
	if h == nil {
		return
	}
	env, err := natstransport.DecodeFanout(fm.data)
	if err != nil {
		r.g.stats.badOutbound.Add(1)
		return
	}
	r.fanTo(rt, h, rec.inst, env, env.Kind == natstransport.FanoutState, seq, rec)
}

// dropPatches removes rt's held patches of inst: after a lost patch they
// no longer apply, and a fresh snapshot follows.
func (rt *route) dropPatches(inst *instance) {
	rt.outbox = slices.DeleteFunc(rt.outbox, func(e outEntry) bool { return e.inst == inst })
}

// closeLost closes a session whose frames are lost for good.
func (r *router) closeLost(rt *route, rec *recovery) {
	rt.lost = true
	rt.outbox = nil
	r.g.stats.framesLost.Add(1)
	if rt.s.c.Stop(websocket.StatusCode(CloseFramesLost), reasonFramesLost, true) {
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
	for {
		msgs, err := r.readOutbound(ctx, rec.subject, rec.since.Add(-recoveryMargin))
		final := rec.to == 0 || ctx.Err() != nil
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
		t := time.NewTimer(recoveryPoll)
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
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(500*time.Millisecond))
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
