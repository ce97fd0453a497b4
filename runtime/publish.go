package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/tracing"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// publisher is the engine's engine.Host: the virtual connection of every
// session. Deliver, on the instance goroutine, publishes each frame to
// outbound.{ws}.{proj}.{sessionId} with PublishAsync, in order, and hands
// the futures to the acker; it never waits for acks, only for room in the
// publish window (backpressure). The acker, one goroutine, waits for each
// batch's acks, retries failed publishes, then acks the inbound message or
// naks it for redelivery.
//
// Frames for one session leave in Deliver order on one connection, so
// JetStream stores them in that order. The exception is a retry: a frame
// JetStream refused or did not confirm is published again after the frames
// sent in the meantime (the alternative, one round trip per frame and
// session, would serialize fan-out).
type publisher struct {
	rt       *Runtime
	overhead int // envelope bytes around a frame, without the session id

	// In DeliveryConsumer every frame is published with the Nats-Msg-Id
	// idPrefix + a sequence number. A publish whose ack timed out may
	// still have been stored; with the id, OUTBOUND's duplicate window
	// (its max age, 30 s by default) drops the retry instead of delivering
	// the frame twice, a stale patch after newer ones included. In
	// DeliveryCore the retry reaches the gateways' core subscriptions
	// whether or not JetStream stores it, so gateways drop repeats by
	// their sequence numbers (natstransport.HeaderSeq), live and when
	// reading OUTBOUND back; the id would only cost every publish a
	// header and the server a duplicate-window entry.
	idPrefix string
	idSeq    atomic.Uint64

	// seqMu keeps, in DeliveryCore, the numbering and the publishing of
	// frames in one order: a gateway takes a skipped number for a lost
	// frame. seqs numbers each session's frames (natstransport.HeaderSeq);
	// an entry's epoch is new each time it is made, so forgetting a
	// session is always safe.
	seqMu    sync.Mutex
	seqs     map[string]*sessionSeq
	seqEpoch uint64

	mu        sync.RWMutex // Deliver holds it for reading; close for writing
	closed    bool
	batches   chan *batch
	abort     chan struct{} // closed when the drain deadline passed
	abortOnce sync.Once
	done      chan struct{} // closed when the acker returned
}

// batch is the outbound frames of one Deliver call.
type batch struct {
	in    *inflight // the inbound message to settle; nil for hook frames
	items []item
}

type item struct {
	subject string
	msgID   string      // Nats-Msg-Id (DeliveryConsumer): a retry of a frame already stored is dropped as a duplicate
	header  nats.Header // DeliveryCore: sequence numbers and subscription changes
	data    []byte
	fut     jetstream.PubAckFuture
	err     error      // the publish failed (fut is then unusable)
	done    bool       // stored by JetStream, or given up for good
	sent    time.Time  // with Config.Metrics: when it was last published
	span    trace.Span // with tracing on, an rpc:result's publish, ended when its batch settles
}

// batchQueue is the acker's queue length. Each queued batch holds only
// publishes that occupy the publish window, so the window bounds memory.
const batchQueue = 1024

// errPublishAborted marks a frame not sent because the drain deadline passed.
var errPublishAborted = errors.New("runtime: drain deadline passed; frame not published")

// Retry backoff of failed outbound publishes.
const (
	retryMinBackoff = 50 * time.Millisecond
	retryMaxBackoff = time.Second
)

var rpcResultPrefix = []byte(`{"type":"rpc:result"`)

func newPublisher(rt *Runtime) *publisher {
	p := &publisher{
		rt:       rt,
		idPrefix: rand.Text()[:16] + "-", // 80 random bits per runtime process
		overhead: len(natstransport.AppendOutbound(nil, rt.cfg.Scope, "", nil)),
		batches:  make(chan *batch, batchQueue),
		seqs:     make(map[string]*sessionSeq),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	go p.run()
	return p
}

// Deliver implements engine.Host. It is called exactly once per dispatched
// request, after processing, and for frames of hooks (req == nil).
func (p *publisher) Deliver(req *engine.Request, out []engine.Outgoing) {
	rt := p.rt
	var in *inflight
	if req != nil {
		in, _ = req.Tag.(*inflight)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		// A call that outlived the drain timeout: its message was nak'd
		// (or is now), and a new runtime will run it again.
		if len(out) > 0 {
			rt.stats.dropped.Add(int64(len(out)))
			log, attrs := rt.log, []slog.Attr{slog.Int("count", len(out))}
			if in != nil {
				log, attrs = in.t.log, in.attrs(attrs...)
			}
			log.LogAttrs(context.Background(), slog.LevelWarn, "frames produced after shutdown dropped", attrs...)
		}
		if in != nil {
			rt.settle(in, outcomeNakNow)
		}
		return
	}
	if len(out) == 0 {
		if in != nil {
			rt.settle(in, outcomeAck)
		}
		return
	}
	b := &batch{in: in, items: make([]item, 0, len(out))}
	if rt.cfg.Delivery == natstransport.DeliveryCore {
		p.seqMu.Lock() // numbered and published in one order
		defer p.seqMu.Unlock()
	}
	var lastFanout *engine.Fanout
	for i, o := range out {
		if o.Fanout != nil && o.Fanout == lastFanout {
			continue // the engine lists a fanout frame's recipients together; it is published once
		}
		b.items = append(b.items, item{})
		it := &b.items[len(b.items)-1]
		var err error
		if o.Fanout != nil {
			lastFanout = o.Fanout
			err = p.fanoutItem(it, o)
		} else {
			call := callOf(req, in, o)
			err = p.sessionItem(it, o, call)
			if err == nil && call != "" && rt.tracer != nil && req.Context != nil {
				// The answer carries the trace on: its headers hold the
				// context of a span that lasts until JetStream stored it.
				var ctx context.Context
				ctx, it.span = rt.tracer.Start(req.Context, "zocket.publish "+natstransport.OutboundStream,
					trace.WithSpanKind(trace.SpanKindProducer))
				tracing.Inject(ctx, it.header)
			}
		}
		if err != nil { // ids were checked on arrival; keep going regardless
			it.done = true
			rt.stats.dropped.Add(1)
			rt.log.LogAttrs(context.Background(), slog.LevelError, "frame for an unusable session or actor id dropped",
				slog.String("session_id", o.SessionID), slog.String("request_id", requestOf(req)), slog.Any("err", err))
			continue
		}
		if rt.cfg.Delivery != natstransport.DeliveryCore {
			it.msgID = p.nextMsgID()
		}
		p.send(it)
		if errors.Is(it.err, nats.ErrMaxPayload) {
			p.tooLarge(it, req, o, i == len(out)-1)
		}
	}
	p.batches <- b
}

// sessionItem makes it the message of o on its session's subject: the
// seed's outbound envelope, and in DeliveryCore the session's next
// sequence number and, for a subscription change, its position.
func (p *publisher) sessionItem(it *item, o engine.Outgoing, call string) error {
	scope := p.rt.cfg.Scope
	core := p.rt.cfg.Delivery == natstransport.DeliveryCore
	var seq *sessionSeq
	if core {
		seq = p.seqs[o.SessionID] // seqMu held
	}
	if seq != nil {
		it.subject = seq.subject
	} else {
		subject, err := natstransport.OutboundSubject(scope, o.SessionID)
		if err != nil {
			return err
		}
		it.subject = subject
	}
	frame := o.Frame
	if frame == nil {
		frame = controlMessage
	}
	it.data = natstransport.AppendOutbound(make([]byte, 0, p.overhead+len(o.SessionID)+len(frame)),
		scope, o.SessionID, frame)
	if !core {
		if call != "" {
			it.header = nats.Header{natstransport.HeaderCall: {call}}
		}
		return nil
	}
	// One backing array for the header values that every frame may carry.
	vals := make([]string, 2, 5)
	it.header = make(nats.Header, 5)
	if call != "" {
		vals[0] = call
		it.header[natstransport.HeaderCall] = vals[0:1:1]
	}
	if seq == nil {
		seq = p.newSessionSeq(o.SessionID, it.subject)
	}
	seq.n++
	vals[1] = natstransport.Seq{Epoch: seq.epoch, N: seq.n}.String()
	it.header[natstransport.HeaderSeq] = vals[1:2:2]
	pos := o.Position
	if pos != nil {
		it.header[natstransport.HeaderSub] = []string{pos.Sub}
	} else if o.After != nil && o.After.Seq > 0 {
		// An instance that has published nothing on its subject yet has
		// nothing for this frame to follow: spare the three headers, the
		// common case of a call on an instance nobody watches.
		pos = o.After
	}
	if pos != nil {
		tok, err := natstransport.InstanceToken(pos.Actor, pos.ActorID)
		if err != nil {
			return err
		}
		vals = append(vals, tok, natstransport.Seq{Epoch: p.instanceEpoch(pos.Epoch), N: pos.Seq}.String(),
			strconv.FormatUint(pos.Events, 10))
		it.header[natstransport.HeaderInstance] = vals[2:3:3]
		it.header[natstransport.HeaderInstanceSeq] = vals[3:4:4]
		it.header[natstransport.HeaderEvents] = vals[4:5:5]
	}
	return nil
}

// callOf returns the gateway's number of the call (natstransport.HeaderCall)
// when o is the rpc:result of req, or "".
func callOf(req *engine.Request, in *inflight, o engine.Outgoing) string {
	if in == nil || in.call == "" || req.Frame.Type != protocol.TypeRPC || o.SessionID != in.sessionID ||
		!bytes.HasPrefix(o.Frame, rpcResultPrefix) {
		return ""
	}
	return in.call
}

// requestOf returns req's request id, or "" for a hook's frames.
func requestOf(req *engine.Request) string {
	if req == nil {
		return ""
	}
	return req.RequestID
}

// controlMessage is the message of a subscription change that has no
// frame for the client (natstransport.HeaderSub).
var controlMessage = []byte(`{}`)

// fanoutItem makes it the one message of a frame for every subscriber of
// an instance, on the instance's subject, numbered in the instance's
// sequence.
func (p *publisher) fanoutItem(it *item, o engine.Outgoing) error {
	fo := o.Fanout
	subject, err := natstransport.InstanceSubject(p.rt.cfg.Scope, fo.Actor, fo.ActorID)
	if err != nil {
		return err
	}
	it.subject = subject
	kind := natstransport.FanoutState
	if fo.Events {
		kind = natstransport.FanoutEvent
	}
	it.data = natstransport.AppendFanout(make([]byte, 0, p.overhead+len(o.Frame)+32), p.rt.cfg.Scope, kind, fo.Except, o.Frame)
	it.header = nats.Header{
		natstransport.HeaderSeq:    {natstransport.Seq{Epoch: p.instanceEpoch(fo.Epoch), N: fo.Seq}.String()},
		natstransport.HeaderEvents: {strconv.FormatUint(fo.EventCount, 10)},
	}
	return nil
}

// instanceEpoch names one activation of an instance across runtimes: the
// engine's epochs restart with every process.
func (p *publisher) instanceEpoch(epoch uint64) string {
	return p.idPrefix + "i" + strconv.FormatUint(epoch, 36)
}

// sessionSeq numbers the frames of one session (guarded by seqMu) and
// keeps its outbound subject, built once.
type sessionSeq struct {
	epoch   string
	n       uint64
	subject string
}

// newSessionSeq starts the numbering of session's frames in a new epoch;
// called with seqMu held.
func (p *publisher) newSessionSeq(session, subject string) *sessionSeq {
	p.seqEpoch++
	s := &sessionSeq{epoch: p.idPrefix + "s" + strconv.FormatUint(p.seqEpoch, 36), subject: subject}
	p.seqs[session] = s
	return s
}

// forget drops a session's numbering once it disconnected or expired; a
// frame for it after all starts a new epoch, which gateways accept.
func (p *publisher) forget(session string) {
	p.seqMu.Lock()
	delete(p.seqs, session)
	p.seqMu.Unlock()
}

func (p *publisher) nextMsgID() string {
	var buf [32]byte
	return string(strconv.AppendUint(append(buf[:0], p.idPrefix...), p.idSeq.Add(1), 36))
}

// send publishes it, waiting up to Config.PublishTimeout for room in the
// publish window, or until the drain deadline passed (abort).
func (p *publisher) send(it *item) {
	deadline := time.Now().Add(p.rt.cfg.PublishTimeout)
	for {
		if p.isAborted() {
			it.fut, it.err = nil, errPublishAborted
			return
		}
		msg := &nats.Msg{Subject: it.subject, Data: it.data, Header: it.header}
		if p.rt.publishObs != nil {
			it.sent = time.Now()
		}
		if it.msgID != "" {
			it.fut, it.err = p.rt.js.PublishMsgAsync(msg, jetstream.WithMsgID(it.msgID))
		} else {
			it.fut, it.err = p.rt.js.PublishMsgAsync(msg)
		}
		if !errors.Is(it.err, jetstream.ErrTooManyStalledMsgs) || !time.Now().Before(deadline) {
			return
		}
	}
}

func (p *publisher) isAborted() bool {
	select {
	case <-p.abort:
		return true
	default:
		return false
	}
}

// tooLarge handles a frame over the server's max payload, which no retry
// can fix. A call's own result becomes an error result, so the rpc is still
// answered; any other frame is dropped and logged.
func (p *publisher) tooLarge(it *item, req *engine.Request, o engine.Outgoing, last bool) {
	rt := p.rt
	size := len(it.data)
	// The engine appends a call's rpc:result last, after its patches and
	// events.
	if req != nil && last && req.Frame.Type == protocol.TypeRPC && o.SessionID == req.SessionID &&
		bytes.HasPrefix(o.Frame, rpcResultPrefix) {
		it.data = natstransport.AppendOutbound(nil, rt.cfg.Scope, o.SessionID,
			protocol.AppendRPCError(nil, req.Frame.ID, protocol.ErrResultTooLarge.Error()))
		p.send(it)
		if it.err == nil {
			rt.log.LogAttrs(context.Background(), slog.LevelWarn, "rpc result too large; answered with an error",
				slog.String("session_id", o.SessionID), slog.String("request_id", req.RequestID), slog.String("actor", req.Frame.Actor),
				slog.String("actor_id", req.Frame.ActorID), slog.String("method", req.Frame.Method), slog.Int("bytes", size))
			return
		}
	}
	it.done, it.err = true, nil
	rt.stats.dropped.Add(1)
	attrs := []slog.Attr{slog.String("session_id", o.SessionID), slog.Int("bytes", size)}
	if req != nil {
		attrs = append(attrs, slog.String("request_id", req.RequestID), slog.String("actor", req.Frame.Actor),
			slog.String("actor_id", req.Frame.ActorID))
	}
	rt.log.LogAttrs(context.Background(), slog.LevelError, "frame larger than the NATS max payload dropped", attrs...)
}

// close stops accepting frames and waits for the acker to settle every
// queued batch, or for ctx; then it makes the acker nak what is still
// unconfirmed. It reports whether everything was confirmed in time.
func (p *publisher) close(ctx context.Context) bool {
	// The deadline also cuts short Deliver calls still waiting for room in
	// the publish window (close waits for them below), and the acker's
	// retries: without NATS each send could wait PublishTimeout, one frame
	// after another, for minutes.
	stop := context.AfterFunc(ctx, p.abortNow)
	defer stop()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	close(p.batches)
	select {
	case <-p.done:
		return true
	case <-ctx.Done():
		p.abortNow()
		<-p.done
		return false
	}
}

func (p *publisher) abortNow() { p.abortOnce.Do(func() { close(p.abort) }) }

// run is the acker.
func (p *publisher) run() {
	defer close(p.done)
	for b := range p.batches {
		o := p.await(b)
		for i := range b.items {
			if sp := b.items[i].span; sp != nil {
				if !b.items[i].done || b.items[i].err != nil {
					sp.SetStatus(codes.Error, "not stored")
				}
				sp.End()
			}
		}
		if b.in != nil {
			p.rt.settle(b.in, o)
		}
	}
}

// await waits until JetStream stored every frame of b, retrying failed
// publishes up to Config.PublishRetries times, and tells what to do with
// the inbound message.
func (p *publisher) await(b *batch) outcome {
	rt := p.rt
	for attempt := 0; ; attempt++ {
		failed := 0
		var firstErr error
		var firstSubject string
		for i := range b.items {
			it := &b.items[i]
			if it.done {
				continue
			}
			if it.err == nil {
				select {
				case <-it.fut.Ok():
					it.done = true
					rt.stats.published.Add(1)
					if rt.publishObs != nil {
						rt.publishObs.Observe(time.Since(it.sent).Seconds())
					}
					continue
				case err := <-it.fut.Err():
					it.err = err
				case <-p.abort:
					return p.aborted(b)
				}
			}
			failed++
			if firstErr == nil {
				firstErr, firstSubject = it.err, it.subject
			}
		}
		if failed == 0 {
			return outcomeAck
		}
		log := rt.log
		attrs := func(a ...slog.Attr) []slog.Attr { return a }
		if b.in != nil {
			log, attrs = b.in.t.log, b.in.attrs
		}
		if attempt >= rt.cfg.PublishRetries {
			rt.stats.publishFailures.Add(int64(failed))
			msg := "outbound publish failed; inbound message nak'd for redelivery"
			if b.in == nil {
				msg = "outbound publish of hook frames failed; frames lost"
			}
			log.LogAttrs(context.Background(), slog.LevelError, msg, attrs(slog.Int("failed", failed),
				slog.Int("attempts", attempt+1), slog.String("outbound_subject", firstSubject), slog.Any("err", firstErr))...)
			return outcomeNak
		}
		log.LogAttrs(context.Background(), slog.LevelWarn, "outbound publish failed; retrying", attrs(
			slog.Int("failed", failed), slog.String("outbound_subject", firstSubject), slog.Any("err", firstErr))...)
		timer := time.NewTimer(min(retryMinBackoff<<attempt, retryMaxBackoff))
		select {
		case <-timer.C:
		case <-p.abort:
			timer.Stop()
			return p.aborted(b)
		}
		for i := range b.items {
			it := &b.items[i]
			if it.done || it.err == nil {
				continue
			}
			rt.stats.publishRetries.Add(1)
			p.send(it)
		}
	}
}

// aborted is await after the drain deadline: without waiting, the message
// is acked only if every frame is already stored.
func (p *publisher) aborted(b *batch) outcome {
	for i := range b.items {
		it := &b.items[i]
		if it.done {
			continue
		}
		if it.err != nil {
			return outcomeNakNow
		}
		select {
		case <-it.fut.Ok():
			it.done = true
			p.rt.stats.published.Add(1)
		default:
			return outcomeNakNow
		}
	}
	return outcomeAck
}
