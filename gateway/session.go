package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/internal/tracing"
	"github.com/zocket-go/zocket/internal/wsconn"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// resetAttempts bounds how often nats.go tries to re-create a session's
// ordered consumer in one recovery cycle (after a missed heartbeat or a
// deleted consumer). Its default is "forever", which would leave a session
// open and deaf while OUTBOUND refuses consumers; after these attempts the
// error reaches consumeError and the session is closed.
const resetAttempts = 3

// createAttempts bounds the tries to create a session's consumer when NATS
// reconnects meanwhile (all within Config.JetStreamTimeout).
const createAttempts = 3

// resyncPoll and resyncWait pace the wait for a re-created consumer (see
// resyncAfterReset): nats.go's attempts back off 1, 2 and 4 s.
const (
	resyncPoll = 50 * time.Millisecond
	resyncWait = time.Minute
)

// session is one WebSocket client. Its goroutines:
//
//   - the HTTP handler goroutine (serveSession, run) owns the others: it
//     creates the OUTBOUND consumer, waits for the session to stop,
//     announces the disconnect, deletes the consumer, and waits for the rest;
//   - the connection's reader (it calls handle, which publishes client
//     frames to INBOUND), writer and pinger (see wsconn.Conn);
//   - nats.go's goroutines of the ordered consumer call deliver.
type session struct {
	g     *Gateway
	c     *wsconn.Conn
	id    string
	ident identity
	log   *slog.Logger

	buf []byte // envelope buffer, used by the reader only
	// frames counts the frames forwarded, the client's and the
	// resubscriptions', for their request ids.
	frames atomic.Uint64

	calls calls // rpcs published and not yet answered

	subMu sync.Mutex
	// subs are the subscriptions to replay after a runtime restart, each
	// with the number of times it was asked for and not refused since
	// (DeliveryConsumer: see refusedAsk).
	subs map[subKey]int

	// cons is the session's ordered consumer, set before consuming starts.
	// synced is the name of the server-side consumer the session's
	// subscriptions were last sent under; resyncing guards the one
	// resync goroutine, which bg waits for once closing is set.
	cons      jetstream.Consumer
	route     *route // DeliveryCore: the session's live delivery
	syncMu    sync.Mutex
	synced    string
	resyncing bool
	closing   bool
	bg        sync.WaitGroup
}

// serveSession runs one session from authorization to close.
func (g *Gateway) serveSession(w http.ResponseWriter, r *http.Request) {
	if !g.hub.Track() {
		http.Error(w, reasonShutdown, http.StatusServiceUnavailable)
		return
	}
	defer g.hub.Untrack()

	ident := g.identityOf(r) // admitted (authenticated) by g.admission

	id := rand.Text() // 26 characters of A-Z2-7: a safe subject token and consumer name
	log := g.log.With(slog.String("ws", ident.scope.WorkspaceID), slog.String("proj", ident.scope.ProjectID),
		slog.String("session_id", id))
	c, err := g.hub.Accept(w, r, id, log)
	if err != nil { // Accept has answered the request
		g.log.LogAttrs(r.Context(), slog.LevelDebug, "upgrade failed",
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
		return
	}
	s := &session{g: g, c: c, id: id, ident: ident, log: log}
	s.calls.init(s)
	c.Send(protocol.AppendWelcome(nil, id)) // first in the queue, before any other frame can be
	c.CloseAt(ident.expires, protocol.CloseAuthExpired, reasonAuthExpired)
	g.stats.open.Add(1)
	g.stats.total.Add(1)
	if !g.hub.Register(c) {
		c.Stop(websocket.StatusGoingAway, reasonShutdown, true)
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "session opened", slog.String("remote", r.RemoteAddr))
	s.run()
}

func (s *session) run() {
	ctx := context.Background()
	s.g.track(s)
	var cc jetstream.ConsumeContext
	var cons jetstream.Consumer
	if s.g.router != nil {
		// Subscribed before the first client frame can be read, so no
		// answer can come before it.
		rt, err := s.g.router.open(s)
		if err != nil {
			s.consumerFailed(err, reasonNoConsumer)
		}
		s.route = rt
		s.c.Start(func(data []byte) { s.handle(ctx, data) })
		s.announceConnected()
	} else {
		s.c.Start(func(data []byte) { s.handle(ctx, data) })
		s.announceConnected()
		cc, cons = s.consume()
	}

	<-s.c.Stopped()
	s.g.stats.open.Add(-1) // before the disconnect notice, which observers wait for
	s.g.untrack(s)
	s.calls.close()
	// Announce first: the runtimes' OnDisconnect matters more than the
	// consumer, which expires by itself if deleting it fails. When thousands
	// of sessions close at once (shutdown), the deletes queue up in the
	// JetStream API for seconds, and the notices must not wait behind them.
	s.announceDisconnected()
	if s.route != nil {
		s.g.router.closeRoute(s.route)
	}
	s.release(cc, cons)
	s.syncMu.Lock()
	s.closing = true // no resync starts after this
	s.syncMu.Unlock()
	s.bg.Wait()                 // one running sees the session stopped and returns
	code, reason := s.c.Close() // the close handshake is bounded by WriteTimeout
	s.log.LogAttrs(ctx, slog.LevelDebug, "session closed", slog.Int("code", int(code)), slog.String("reason", reason))
}

// consume creates the session's ordered consumer on OUTBOUND and starts
// forwarding its messages. On failure it closes the session (1013) and
// returns nils: a session must never stay open without its consumer.
//
// The consumer delivers all messages of the session's subject
// (natstransport.OutboundConsumerConfig), so frames that runtimes publish
// before it exists (replies to frames the client sent right after the
// welcome) are delivered too: the subject is new with the session.
func (s *session) consume() (jetstream.ConsumeContext, jetstream.Consumer) {
	if s.c.IsStopped() {
		return nil, nil
	}
	cfg, err := natstransport.OutboundConsumerConfig(s.ident.scope, s.id)
	if err != nil { // cannot happen: scope and id were checked
		s.consumerFailed(err, reasonNoConsumer)
		return nil, nil
	}
	// Names {session id}_{n}: nats consumer ls OUTBOUND shows whose
	// consumer it is, and the first name is known before it is created.
	cfg.NamePrefix = s.id
	cfg.MaxResetAttempts = resetAttempts
	ctx, cancel := context.WithTimeout(context.Background(), s.g.cfg.JetStreamTimeout)
	var cons jetstream.Consumer
	for range createAttempts {
		cons, err = s.g.js.OrderedConsumer(ctx, natstransport.OutboundStream, cfg)
		// A NATS reconnect cuts the requests in flight; nats.go holds
		// the next one until the connection is back.
		if !errors.Is(err, nats.ErrDisconnected) {
			break
		}
		s.log.LogAttrs(ctx, slog.LevelDebug, "outbound consumer creation cut by a NATS reconnect; trying again")
	}
	cancel()
	if err != nil {
		s.consumerFailed(err, reasonNoConsumer)
		// A request that timed out may still have created it.
		if errors.Is(err, context.DeadlineExceeded) {
			s.deleteConsumer(s.id + "_1")
		}
		return nil, nil
	}
	s.cons, s.synced = cons, consumerName(cons)
	cc, err := cons.Consume(s.deliver, jetstream.ConsumeErrHandler(s.consumeError))
	if err != nil {
		s.consumerFailed(err, reasonNoConsumer)
		s.deleteConsumer(consumerName(cons))
		return nil, nil
	}
	return cc, cons
}

// release stops consuming and deletes the consumer on the server, so that
// it neither lingers for its inactive threshold nor counts against
// OUTBOUND's max_consumers. nats.go's Stop only ends the pull requests; it
// leaves the server-side consumer in place.
func (s *session) release(cc jetstream.ConsumeContext, cons jetstream.Consumer) {
	if cc == nil {
		return
	}
	cc.Stop()
	t := time.NewTimer(s.g.cfg.JetStreamTimeout)
	select {
	case <-cc.Closed():
	case <-t.C:
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "outbound consumer did not stop in time")
	case <-s.g.abortCtx.Done():
	}
	t.Stop()
	s.deleteConsumer(consumerName(cons))
}

// consumerName is the name of cons's current server-side consumer, which
// changes when nats.go re-creates it.
func consumerName(cons jetstream.Consumer) string {
	if info := cons.CachedInfo(); info != nil {
		return info.Name
	}
	return ""
}

func (s *session) deleteConsumer(name string) {
	if name == "" {
		return
	}
	// Bounded by JetStreamTimeout, and cut short when Shutdown runs out of
	// time (the consumer then expires on its own).
	ctx, cancel := context.WithTimeout(s.g.abortCtx, s.g.cfg.JetStreamTimeout)
	defer cancel()
	err := s.g.js.DeleteConsumer(ctx, natstransport.OutboundStream, name)
	if err == nil || errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return
	}
	s.g.stats.leftovers.Add(1)
	s.log.LogAttrs(ctx, slog.LevelWarn, "outbound consumer not deleted; it expires on its own",
		slog.String("consumer", name), slog.Any("err", err))
}

// consumerFailed closes the session because it cannot receive.
func (s *session) consumerFailed(err error, reason string) {
	if s.c.Stop(websocket.StatusTryAgainLater, reason, true) {
		s.g.stats.consumerFailures.Add(1)
		s.log.LogAttrs(context.Background(), slog.LevelError, "session closed: "+reason, slog.Any("err", err))
	}
}

// consumeError receives the ordered consumer's errors. nats.go calls it
// with the consumer's lock held: it must not call the consumer.
func (s *session) consumeError(_ jetstream.ConsumeContext, err error) {
	switch {
	case errors.Is(err, jetstream.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionClosed):
		if s.c.Stop(websocket.StatusInternalError, reasonNATSClosed, true) {
			s.log.LogAttrs(context.Background(), slog.LevelError, "session closed: NATS connection closed")
		}
	case fatalConsumeError(err):
		s.consumerFailed(err, reasonConsumerLost)
	default:
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "outbound consumer recovering", slog.Any("err", err))
		// The errors on which nats.go re-creates the consumer. After a
		// freeze longer than the inactive threshold, the old consumer's
		// pull requests find no responders.
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrNoHeartbeat) ||
			errors.Is(err, nats.ErrNoResponders) {
			s.resyncAfterReset()
		}
	}
}

// resyncAfterReset sends the session's subscriptions again once nats.go
// has re-created its consumer. The server lost the old one (deleted for
// inactivity while this gateway was frozen, or with a cluster node), so
// runtimes may have expired the session meanwhile (runtime.Config.
// SessionSweep), and it would stay open but deaf to patches and events.
// It runs on nats.go's error callback, which holds the consumer's lock, so
// the wait for the new consumer happens on a goroutine of its own.
func (s *session) resyncAfterReset() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.resyncing || s.closing || s.cons == nil {
		return
	}
	s.resyncing = true
	s.bg.Go(func() {
		defer func() {
			s.syncMu.Lock()
			s.resyncing = false
			s.syncMu.Unlock()
		}()
		tick := time.NewTicker(resyncPoll)
		defer tick.Stop()
		give := time.NewTimer(resyncWait)
		defer give.Stop()
		for {
			s.syncMu.Lock()
			old := s.synced
			s.syncMu.Unlock()
			if name := consumerName(s.cons); name != "" && name != old {
				s.syncMu.Lock()
				s.synced = name
				s.syncMu.Unlock()
				break
			}
			select {
			case <-tick.C:
			case <-give.C: // the re-creation failed: consumeError closes the session
				return
			case <-s.c.Stopped():
				return
			}
		}
		n := s.resubscribe(context.Background())
		s.g.stats.resubscribed.Add(int64(n))
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "outbound consumer re-created: subscriptions sent again",
			slog.Int("subscriptions", n))
	})
}

// fatalConsumeError reports whether nats.go will not recover from err by
// itself. It recovers from missed heartbeats, a deleted consumer and
// leadership changes (by re-creating the consumer) and from notices about
// pull requests. It does not recover from a bad request, and a re-creation
// that failed resetAttempts times reaches us as the JetStream API error or
// timeout of the last attempt.
func fatalConsumeError(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrBadRequest) || errors.As(err, &apiErr) ||
		errors.Is(err, context.DeadlineExceeded)
}

// deliver forwards one outbound envelope's message to the socket.
func (s *session) deliver(msg jetstream.Msg) {
	env, err := natstransport.DecodeOutbound(msg.Data())
	if err != nil {
		s.g.stats.badOutbound.Add(1)
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "malformed outbound envelope skipped",
			slog.String("subject", msg.Subject()), slog.Any("err", err))
		return
	}
	if bytes.HasPrefix(env.Message, subErrorPrefix) {
		if f, err := protocol.Decode(env.Message); err == nil && f.Type == protocol.TypeSubError {
			s.refusedAsk(f.Refused, f.Actor, f.ActorID)
		}
	}
	if !s.calls.admit(msg.Headers()) {
		return
	}
	s.c.Send(env.Message)
}

func (s *session) announceConnected() {
	subj, err := natstransport.SessionConnectedSubject(s.ident.scope)
	if err == nil {
		body, _ := json.Marshal(natstransport.SessionConnected{
			Scope: s.ident.scope, SessionID: s.id, UserID: s.ident.userID, ConnectedAt: time.Now().UnixMilli(),
		})
		err = s.g.cfg.NATS.Publish(subj, body)
	}
	if err != nil {
		s.log.LogAttrs(context.Background(), slog.LevelError, "session.connected not published", slog.Any("err", err))
	}
}

func (s *session) announceDisconnected() {
	subj, err := natstransport.SessionDisconnectedSubject(s.ident.scope)
	if err == nil {
		body, _ := json.Marshal(natstransport.SessionDisconnected{
			Scope: s.ident.scope, SessionID: s.id, DisconnectedAt: time.Now().UnixMilli(),
		})
		err = s.g.cfg.NATS.Publish(subj, body)
	}
	if err != nil {
		s.log.LogAttrs(context.Background(), slog.LevelError, "session.disconnected not published", slog.Any("err", err))
	}
}

// handle decodes one client frame and publishes it to INBOUND, answering
// an rpc with an rpc:result error whenever the frame does not get there.
func (s *session) handle(ctx context.Context, data []byte) {
	f, err := protocol.DecodeClient(data)
	if err != nil {
		s.c.Refuse(err)
		return
	}
	if !s.c.Admit(f) {
		return
	}
	s.buf = s.forward(ctx, f, data, s.buf[:0])
	if cap(s.buf) > 64<<10 {
		s.buf = nil // do not pin a large buffer for the life of the session
	}
}

// forward checks that a runtime serves the frame's actor type, wraps the
// frame (data, decoded as f) in the inbound envelope in buf and publishes it
// to INBOUND with an ack; a failed rpc is answered with an error. It
// returns buf for reuse.
func (s *session) forward(ctx context.Context, f protocol.Frame, data, buf []byte) []byte {
	fail := func(msg string) {
		switch f.Type {
		case protocol.TypeRPC:
			s.c.Send(protocol.AppendRPCError(nil, f.ID, msg))
		case protocol.TypeStateSub, protocol.TypeEventSub:
			s.c.Send(protocol.AppendSubError(nil, f.ID, f.Actor, f.ActorID, f.Type, msg))
		}
	}
	rid := s.c.RequestID(s.frames.Add(1))
	// attrs are those of every line about the frame, besides the
	// session's own (ws, proj, session_id).
	attrs := func(extra ...slog.Attr) []slog.Attr {
		a := make([]slog.Attr, 0, 4+len(extra))
		a = append(a, slog.String("request_id", rid), slog.String("actor", f.Actor), slog.String("actor_id", f.ActorID))
		if f.Type == protocol.TypeRPC {
			a = append(a, slog.String("method", f.Method))
		} else {
			a = append(a, slog.String("type", f.Type))
		}
		return append(a, extra...)
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "frame", attrs()...)
	}

	if (f.Type == protocol.TypeStateUnsub || f.Type == protocol.TypeEventUnsub) && !s.subscribed(f) {
		// Nothing to end: the runtime would do nothing either (and send
		// nothing back), so spare INBOUND a message; a client sending
		// unsubscribes for ever new ids would otherwise cost two JetStream
		// publishes each.
		return buf
	}
	served, err := s.g.actors.served(ctx, s.ident.scope, f.Actor)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "actor check failed", attrs(slog.Any("err", err))...)
		fail(protocol.ErrUnavailable.Error() + ": try again later")
		return buf
	}
	if !served {
		s.g.stats.unknownActor.Add(1)
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "frame for an actor type no runtime serves", attrs()...)
		}
		fail(fmt.Sprintf("%s: %q", protocol.ErrUnknownActor, f.Actor))
		return buf
	}
	subject, err := natstransport.InboundSubject(s.ident.scope, f.Actor, f.ActorID)
	if err != nil { // the decoder already refuses empty and long ids
		fail(protocol.ErrInvalidFrame.Error() + ": " + err.Error())
		return buf
	}
	buf, err = natstransport.AppendInbound(buf, natstransport.InboundEnvelope{
		Scope: s.ident.scope, SessionID: s.id, UserID: s.ident.userID, Claims: s.ident.claims, Message: data,
	})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "envelope not encoded", attrs(slog.Any("err", err))...)
		fail(protocol.ErrNotDelivered.Error() + ": " + protocol.ErrInternal.Error())
		return buf
	}
	if int64(len(buf)) > s.g.maxPayload {
		s.log.LogAttrs(ctx, slog.LevelWarn, "envelope over the NATS max payload", attrs(slog.Int("bytes", len(buf)))...)
		fail(fmt.Sprintf("%s: %d bytes with its envelope, limit %d", protocol.ErrTooBig, len(buf), s.g.maxPayload))
		return buf
	}
	// The client's intent, recorded before the publish: a resubscription
	// that runs meanwhile (watchNATS, onRuntimeReady) must not send a
	// subscription the client has just ended, and one whose publish fails
	// is still what the client wants a resubscription to restore.
	s.remember(f)
	if s.route != nil {
		if err := s.g.router.intend(s.route, f); err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "instance subscription failed", attrs(slog.Any("err", err))...)
			fail(protocol.ErrUnavailable.Error() + ": try again later")
			return buf
		}
	}
	msg := &nats.Msg{Subject: subject, Data: buf}
	var call uint64
	var span trace.Span // the call's, with tracing on
	if f.Type == protocol.TypeRPC {
		if tr := s.g.tracer; tr != nil {
			ctx, span = tr.Start(ctx, "zocket.rpc "+f.Actor+"."+f.Method, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("zocket.actor", f.Actor), attribute.String("zocket.method", f.Method),
					attribute.String("zocket.session", s.id), attribute.String("zocket.request", rid)))
		}
		var ok bool
		if call, msg.Header, ok = s.calls.start(&f, rid, span); !ok {
			if span != nil {
				span.End()
			}
			return buf // closed while waiting for room: nobody to answer
		}
	} else {
		msg.Header = nats.Header{natstransport.HeaderRequest: {rid}}
	}
	var pubSpan trace.Span
	if span != nil {
		ctx, pubSpan = s.g.tracer.Start(ctx, "zocket.publish "+natstransport.InboundStream, trace.WithSpanKind(trace.SpanKindProducer))
		tracing.Inject(ctx, msg.Header)
	}
	var start time.Time
	if s.g.publishObs != nil {
		start = time.Now()
	}
	pctx, cancel := context.WithTimeout(ctx, s.g.cfg.PublishTimeout)
	_, err = s.g.js.PublishMsg(pctx, msg) // only INBOUND can hold inbound.> subjects: nats-server refuses overlapping streams
	cancel()
	if pubSpan != nil {
		if err != nil {
			pubSpan.RecordError(err)
			pubSpan.SetStatus(codes.Error, "publish failed")
		}
		pubSpan.End()
	}
	if err == nil && s.g.publishObs != nil {
		s.g.publishObs.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		if streamMissing(err) {
			s.g.repairSoon()
		}
		s.g.stats.publishFailures.Add(1)
		s.log.LogAttrs(ctx, slog.LevelError, "publish to INBOUND failed",
			attrs(slog.String("subject", subject), slog.Any("err", err))...)
		if f.Type == protocol.TypeRPC {
			detail := "try again later"
			if errors.Is(err, context.DeadlineExceeded) {
				// The message may have been stored and its ack lost: if a
				// runtime answers after all, calls drops that answer.
				detail = "no acknowledgement in time; the call may or may not run"
			}
			s.calls.fail(call, protocol.ErrNotDelivered.Error()+": "+detail)
		}
		return buf
	}
	return buf
}

// subKey is one subscription of a session: a frame type to replay.
type subKey struct{ typ, actor, actorID string }

// remember keeps the session's current subscriptions, so that they can be
// sent again to a runtime that restarted without them.
func (s *session) remember(f protocol.Frame) {
	var typ string
	var on bool
	switch f.Type {
	case protocol.TypeStateSub, protocol.TypeStateUnsub:
		typ, on = protocol.TypeStateSub, f.Type == protocol.TypeStateSub
	case protocol.TypeEventSub, protocol.TypeEventUnsub:
		typ, on = protocol.TypeEventSub, f.Type == protocol.TypeEventSub
	default:
		return
	}
	k := subKey{typ, f.Actor, f.ActorID}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if on {
		if s.subs == nil {
			s.subs = make(map[subKey]int)
		}
		s.subs[k]++
	} else {
		delete(s.subs, k)
	}
}

// forget drops a subscription of type typ (state:sub or event:sub) from
// the session's current ones: the runtime refused it.
func (s *session) forget(typ, actor, actorID string) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	delete(s.subs, subKey{typ, actor, actorID})
}

// refusedAsk takes back one ask for a subscription the runtime refused
// (DeliveryConsumer, where the session reads its frames itself; with core
// delivery the router decides, and calls forget). The subscription is
// forgotten once every ask for it was refused: one asked for again before
// the refusal of an earlier ask arrived may yet be granted. So a client
// cannot make the gateway keep, and resend after every runtime restart,
// subscriptions it was refused.
func (s *session) refusedAsk(typ, actor, actorID string) {
	k := subKey{typ, actor, actorID}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if n := s.subs[k]; n > 1 {
		s.subs[k] = n - 1
	} else {
		delete(s.subs, k)
	}
}

// subscribed reports whether the session holds (or has asked for) the
// subscription that the unsubscribe f ends.
func (s *session) subscribed(f protocol.Frame) bool {
	typ := protocol.TypeStateSub
	if f.Type == protocol.TypeEventUnsub {
		typ = protocol.TypeEventSub
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	_, ok := s.subs[subKey{typ, f.Actor, f.ActorID}]
	return ok
}

// resubscribe sends the session's subscriptions again, as if the client had:
// the runtime answers state:sub with a fresh snapshot, which clients take
// in place of their copy, and events flow again. It returns how many it
// sent.
func (s *session) resubscribe(ctx context.Context) int {
	s.subMu.Lock()
	keys := make([]subKey, 0, len(s.subs))
	for k := range s.subs {
		keys = append(keys, k)
	}
	s.subMu.Unlock()
	var buf []byte
	for _, k := range keys {
		frame := protocol.AppendSubscription(nil, k.typ, k.actor, k.actorID)
		buf = s.forward(ctx, protocol.Frame{Type: k.typ, Actor: k.actor, ActorID: k.actorID}, frame, buf[:0])
	}
	return len(keys)
}
