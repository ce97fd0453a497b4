package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/tracing"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// consumeLoop pulls one actor type's messages with jetstream's Consume. The
// handler runs on one goroutine per ConsumeContext, so messages are
// dispatched in delivery order; the engine's per-instance queues keep that
// order per instance while different instances run in parallel, up to the
// consumer's max ack pending.
type consumeLoop struct {
	t  *actorType
	mu sync.Mutex
	c  jetstream.Consumer
	cc jetstream.ConsumeContext // the current one; replaced by restarts
}

// pullExpiry is how long one pull request waits on the server; its
// heartbeats come at half of it.
const pullExpiry = 5 * time.Second

// Restart backoff of a consumer whose ConsumeContext ended unexpectedly.
const (
	restartMinBackoff = 100 * time.Millisecond
	restartMaxBackoff = 5 * time.Second
)

func (l *consumeLoop) start(c jetstream.Consumer) error {
	t := l.t
	batch := t.consumer.MaxAckPending // the server never has more in flight
	cc, err := c.Consume(t.handle,
		jetstream.PullMaxMessages(batch),
		// nats.go notices a pull that went nowhere (a consumer leader
		// moved in a cluster, "no responders" while it was elected) only
		// after two missed heartbeats, by default 30 s; with 5 s pulls that
		// is 5 s, and the runtime serves again that much sooner.
		jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			t.log.LogAttrs(context.Background(), slog.LevelWarn, "consumer error",
				slog.String("durable", t.consumer.Durable), slog.Any("err", err))
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", t.consumer.Durable, err)
	}
	l.mu.Lock()
	l.c, l.cc = c, cc
	l.mu.Unlock()
	return nil
}

func (l *consumeLoop) current() jetstream.ConsumeContext {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cc
}

func (l *consumeLoop) consumer() jetstream.Consumer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c
}

// supervise restarts the consumption when it ends on its own (the consumer
// was deleted on the server, say), re-creating the consumer, until ctx is
// cancelled. If the NATS connection is closed, it reports that as fatal.
func (l *consumeLoop) supervise(ctx context.Context, s *runState) {
	defer s.wg.Done()
	t := l.t
	backoff := restartMinBackoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.current().Closed():
		}
		if t.rt.cfg.NATS.IsClosed() {
			s.fatal <- fmt.Errorf("consumer %s: NATS connection closed", t.consumer.Durable)
			return
		}
		t.log.LogAttrs(ctx, slog.LevelError, "consumer stopped unexpectedly; restarting",
			slog.String("durable", t.consumer.Durable))
		for {
			timer := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			backoff = min(2*backoff, restartMaxBackoff)
			c, err := natstransport.EnsureConsumer(ctx, t.rt.js, natstransport.InboundStream, t.consumer)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				// NATS came back without its (memory) streams.
				err = natstransport.EnsureStreams(ctx, t.rt.js, t.rt.cfg.Streams)
				if err == nil {
					c, err = natstransport.EnsureConsumer(ctx, t.rt.js, natstransport.InboundStream, t.consumer)
				}
			}
			if err == nil {
				err = l.start(c)
			}
			if err == nil {
				t.log.LogAttrs(ctx, slog.LevelInfo, "consumer restarted", slog.String("durable", t.consumer.Durable))
				backoff = restartMinBackoff
				break
			}
			if t.rt.cfg.NATS.IsClosed() {
				s.fatal <- fmt.Errorf("consumer %s: NATS connection closed", t.consumer.Durable)
				return
			}
			if ctx.Err() == nil {
				t.log.LogAttrs(ctx, slog.LevelError, "consumer restart failed", slog.Any("err", err))
			}
		}
	}
}

// reclaim takes over the messages a previous runtime received and never
// settled: it crashed, or lost its connection, before acking them. Left to
// JetStream they would wait out the ack wait (30 s) and then be
// redelivered after the calls sent meanwhile, out of order. A consumer
// made anew on the work-queue stream starts at the oldest message still
// stored, so they come back at once and in the order they were accepted.
// Only the project's one runtime may do this (a second one would take the
// first one's work away); it runs at boot, before consuming starts.
func (t *actorType) reclaim(ctx context.Context, c jetstream.Consumer) (jetstream.Consumer, error) {
	info := c.CachedInfo()
	if info == nil || info.NumAckPending == 0 {
		return c, nil
	}
	t.log.LogAttrs(ctx, slog.LevelWarn, "taking over messages a previous runtime left unacknowledged",
		slog.String("durable", t.consumer.Durable), slog.Int("messages", info.NumAckPending))
	t.rt.stats.reclaimed.Add(int64(info.NumAckPending))
	if err := t.rt.js.DeleteConsumer(ctx, natstransport.InboundStream, t.consumer.Durable); err != nil &&
		!errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("reclaim %s: delete consumer: %w", t.consumer.Durable, err)
	}
	c, err := natstransport.EnsureConsumer(ctx, t.rt.js, natstransport.InboundStream, t.consumer)
	if err != nil {
		return nil, fmt.Errorf("reclaim %s: %w", t.consumer.Durable, err)
	}
	return c, nil
}

// handle receives one inbound message: it checks the envelope and the frame
// and dispatches the frame to its instance. Everything that cannot be
// processed is acked here (and logged), so a bad message is never
// redelivered forever; rpc frames are still answered when they carry an id.
func (t *actorType) handle(msg jetstream.Msg) {
	rt := t.rt
	rt.stats.received.Add(1)
	if rt.stopping.Load() {
		// Drained and shutting down: leave it to the next runtime.
		if err := msg.Nak(); err != nil {
			t.log.LogAttrs(context.Background(), slog.LevelWarn, "nak during shutdown", slog.String("subject", msg.Subject()),
				slog.String("request_id", msg.Headers().Get(natstransport.HeaderRequest)), slog.Any("err", err))
		}
		rt.stats.naked.Add(1)
		return
	}
	env, err := natstransport.DecodeInbound(msg.Data())
	if err != nil {
		t.drop(msg, "malformed envelope", err)
		return
	}
	if env.Scope != rt.cfg.Scope {
		t.drop(msg, "envelope for another scope", fmt.Errorf("scope %s/%s", env.Scope.WorkspaceID, env.Scope.ProjectID))
		return
	}
	if _, err := natstransport.EncodeToken(env.SessionID); err != nil {
		t.drop(msg, "unusable session id", err) // nobody could be answered
		return
	}
	h := msg.Headers()
	in := &inflight{msg: msg, t: t, sessionID: env.SessionID, call: h.Get(natstransport.HeaderCall),
		requestID: h.Get(natstransport.HeaderRequest)}
	f, err := protocol.DecodeClient(env.Message)
	if err == nil {
		in.actorID = f.ActorID
		// The subject is the address the gateway chose; a frame naming
		// another actor must not reach it through this consumer.
		if !natstransport.IsInboundSubject(msg.Subject(), rt.cfg.Scope, f.Actor, f.ActorID) {
			de := &protocol.DecodeError{Type: f.Type, Err: protocol.ErrMalformed,
				Detail: "actor and actorId do not match the message subject"}
			if f.Type == protocol.TypeRPC {
				de.ID = f.ID
			}
			err = de
		}
	}
	if md, merr := msg.Metadata(); merr == nil {
		in.seq = md.Sequence.Stream
		if md.NumDelivered > 1 {
			rt.stats.redelivered.Add(1)
			t.log.LogAttrs(context.Background(), slog.LevelWarn, "redelivered message",
				in.attrs(slog.Uint64("seq", md.Sequence.Stream), slog.Uint64("delivery", md.NumDelivered))...)
		}
	}
	if !rt.flight.add(in) {
		rt.stats.duplicates.Add(1)
		t.log.LogAttrs(context.Background(), slog.LevelWarn, "redelivery of a message still in progress ignored",
			in.attrs(slog.Uint64("seq", in.seq))...)
		return
	}

	if err != nil {
		rt.stats.badFrames.Add(1)
		var de *protocol.DecodeError
		if errors.As(err, &de) && de.ID != "" {
			t.log.LogAttrs(context.Background(), slog.LevelDebug, "bad frame answered", in.attrs(slog.Any("err", err))...)
			req := &engine.Request{SessionID: env.SessionID, RequestID: in.requestID,
				Frame: protocol.Frame{Type: protocol.TypeRPC, ID: de.ID}, Tag: in}
			rt.pub.Deliver(req, []engine.Outgoing{{SessionID: env.SessionID, Frame: protocol.AppendRPCError(nil, de.ID, err.Error())}})
			return
		}
		t.log.LogAttrs(context.Background(), slog.LevelWarn, "bad frame ignored", in.attrs(slog.Any("err", err))...)
		rt.settle(in, outcomeAck)
		return
	}
	if t.log.Enabled(context.Background(), slog.LevelDebug) {
		t.log.LogAttrs(context.Background(), slog.LevelDebug, "frame",
			in.attrs(slog.String("type", f.Type), slog.String("method", f.Method))...)
	}
	var user string
	if env.UserID != nil {
		user = *env.UserID
	}
	req := &engine.Request{
		SessionID: env.SessionID,
		RequestID: in.requestID,
		UserID:    user,
		Claims:    env.Claims,
		Frame:     f,
		Tag:       in,
	}
	if tr := rt.tracer; tr != nil && f.Type == protocol.TypeRPC {
		// The gateway's span, from the message's headers, is the parent:
		// the gap between its publish and this span is the time the call
		// spent in JetStream.
		ctx := tracing.Extract(context.Background(), msg.Headers())
		req.Context, in.span = tr.Start(ctx, "zocket.process "+f.Actor+"."+f.Method, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("zocket.actor", f.Actor), attribute.String("zocket.actor_id", f.ActorID),
				attribute.String("zocket.method", f.Method), attribute.String("zocket.request", in.requestID),
				attribute.Int64("zocket.stream_seq", int64(in.seq))))
	}
	rt.engine.Dispatch(req)
}

// drop acks and logs a message that cannot be processed.
func (t *actorType) drop(msg jetstream.Msg, reason string, err error) {
	rt := t.rt
	rt.stats.malformed.Add(1)
	rid := msg.Headers().Get(natstransport.HeaderRequest)
	t.log.LogAttrs(context.Background(), slog.LevelWarn, reason+"; acked and dropped",
		slog.String("subject", msg.Subject()), slog.String("request_id", rid), slog.Any("err", err))
	if err := msg.Ack(); err != nil {
		t.log.LogAttrs(context.Background(), slog.LevelError, "ack failed",
			slog.String("subject", msg.Subject()), slog.String("request_id", rid), slog.Any("err", err))
		return
	}
	rt.stats.acked.Add(1)
}
