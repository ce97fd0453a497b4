package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// resetAttempts bounds how often nats.go tries to re-create a session's
// ordered consumer in one recovery cycle (after a missed heartbeat or a
// deleted consumer). Its default is "forever", which would leave a session
// open and deaf while OUTBOUND refuses consumers; after these attempts the
// error reaches consumeError and the session is closed.
const resetAttempts = 3

// session is one WebSocket client. Its goroutines:
//
//   - the HTTP handler goroutine (serveSession, run) owns the others: it
//     creates the OUTBOUND consumer, waits for the session to stop, deletes
//     the consumer, announces the disconnect, and waits for the rest;
//   - the reader decodes client frames and publishes them to INBOUND;
//   - the writer drains the bounded send queue to the socket and performs
//     the close handshake;
//   - the pinger (unless pings are disabled) checks that the peer is alive;
//   - nats.go's goroutines of the ordered consumer call deliver.
//
// Socket reads and writes use contexts without deadlines; time limits are
// deadlines on the raw net.Conn, which is also how a socket is severed.
type session struct {
	g     *Gateway
	id    string
	ident identity
	ws    *websocket.Conn
	raw   net.Conn
	log   *slog.Logger

	out    chan []byte  // the send queue
	qbytes atomic.Int64 // bytes in out

	mu      sync.Mutex
	code    websocket.StatusCode
	reason  string
	flush   bool          // write what is queued before closing
	stopped chan struct{} // closed by the first stop

	buf []byte // envelope buffer, used by the reader only
}

// serveSession runs one session from authorization to close.
func (g *Gateway) serveSession(w http.ResponseWriter, r *http.Request) {
	if !g.track() {
		http.Error(w, reasonShutdown, http.StatusServiceUnavailable)
		return
	}
	defer g.wg.Done()

	ident, err := g.authorize(r)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, errRefused) {
			status = http.StatusUnauthorized
			g.stats.authRefused.Add(1)
		} else {
			g.stats.authUnavailable.Add(1)
		}
		g.log.LogAttrs(r.Context(), slog.LevelWarn, "upgrade refused", slog.Int("status", status),
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
		http.Error(w, http.StatusText(status), status)
		return
	}

	hw := &hijackWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, g.accept)
	if err != nil { // Accept has answered the request
		g.log.LogAttrs(r.Context(), slog.LevelDebug, "upgrade failed",
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
		return
	}
	ws.SetReadLimit(g.cfg.MaxFrameBytes)
	id := rand.Text() // 26 characters of A-Z2-7: a safe subject token and consumer name
	s := &session{
		g:     g,
		id:    id,
		ident: ident,
		ws:    ws,
		raw:   hw.conn,
		log: g.log.With(slog.String("ws", ident.scope.WorkspaceID), slog.String("proj", ident.scope.ProjectID),
			slog.String("session_id", id)),
		out:     make(chan []byte, g.cfg.SendQueue),
		stopped: make(chan struct{}),
	}
	s.send(protocol.AppendWelcome(nil, id)) // first in the queue, before any other frame can be
	g.stats.open.Add(1)
	g.stats.total.Add(1)
	if !g.register(s) {
		s.stop(websocket.StatusGoingAway, reasonShutdown, true)
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "session opened", slog.String("remote", r.RemoteAddr))
	s.run()
	g.sessions.Delete(id)
	g.stats.open.Add(-1)
}

func (s *session) run() {
	ctx := context.Background()
	var wg sync.WaitGroup
	writerDone := make(chan struct{})
	wg.Go(s.readLoop)
	wg.Go(func() {
		defer close(writerDone)
		s.writeLoop()
	})
	if s.g.cfg.PingInterval > 0 {
		wg.Go(s.pingLoop)
	}
	s.announceConnected()
	cc, cons := s.consume()

	<-s.stopped
	s.release(cc, cons)
	s.announceDisconnected()
	<-writerDone // the close handshake is bounded by WriteTimeout
	s.sever()
	_ = s.ws.CloseNow()
	wg.Wait()
	s.mu.Lock()
	code, reason := s.code, s.reason
	s.mu.Unlock()
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
	if s.isStopped() {
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
	cons, err := s.g.js.OrderedConsumer(ctx, natstransport.OutboundStream, cfg)
	cancel()
	if err != nil {
		s.consumerFailed(err, reasonNoConsumer)
		// A request that timed out may still have created it.
		if errors.Is(err, context.DeadlineExceeded) {
			s.deleteConsumer(s.id + "_1")
		}
		return nil, nil
	}
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
	if s.stop(websocket.StatusTryAgainLater, reason, true) {
		s.g.stats.consumerFailures.Add(1)
		s.log.LogAttrs(context.Background(), slog.LevelError, "session closed: "+reason, slog.Any("err", err))
	}
}

// consumeError receives the ordered consumer's errors. nats.go calls it
// with the consumer's lock held: it must not call the consumer.
func (s *session) consumeError(_ jetstream.ConsumeContext, err error) {
	switch {
	case errors.Is(err, jetstream.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionClosed):
		if s.stop(websocket.StatusInternalError, reasonNATSClosed, true) {
			s.log.LogAttrs(context.Background(), slog.LevelError, "session closed: NATS connection closed")
		}
	case fatalConsumeError(err):
		s.consumerFailed(err, reasonConsumerLost)
	default:
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "outbound consumer recovering", slog.Any("err", err))
	}
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
	s.send(env.Message)
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

// send queues frame for the writer without blocking. A full queue closes
// the session (the client does not read) and drops the frame.
func (s *session) send(frame []byte) {
	if s.isStopped() {
		return
	}
	n := int64(len(frame))
	if len(s.out) > 0 && s.qbytes.Load()+n > int64(s.g.cfg.SendQueueBytes) {
		s.slow()
		return
	}
	s.qbytes.Add(n)
	select {
	case s.out <- frame:
	default:
		s.qbytes.Add(-n)
		s.slow()
	}
}

func (s *session) slow() {
	if s.stop(websocket.StatusPolicyViolation, reasonSlow, false) {
		s.g.stats.slow.Add(1)
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "slow client disconnected",
			slog.Int("queued_frames", len(s.out)), slog.Int64("queued_bytes", s.qbytes.Load()))
	}
}

// stop begins closing the session with code and reason; with flush, the
// frames already queued are written first. Only the first call counts; it
// reports whether this was it.
func (s *session) stop(code websocket.StatusCode, reason string, flush bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isStopped() {
		return false
	}
	s.code, s.reason, s.flush = code, reason, flush
	close(s.stopped)
	return true
}

func (s *session) isStopped() bool {
	select {
	case <-s.stopped:
		return true
	default:
		return false
	}
}

// sever closes the socket at once; every blocked read and write returns.
func (s *session) sever() {
	if s.raw != nil {
		_ = s.raw.Close()
	}
}

func (s *session) readLoop() {
	ctx := context.Background() // no per-frame timers; sever unblocks Read
	for {
		_, data, err := s.ws.Read(ctx)
		if err != nil {
			code, reason := websocket.StatusNormalClosure, "connection lost"
			switch {
			case errors.Is(err, websocket.ErrMessageTooBig):
				code, reason = websocket.StatusMessageTooBig, reasonFrameTooBig
				s.log.LogAttrs(ctx, slog.LevelWarn, "frame too big", slog.Int64("limit", s.g.cfg.MaxFrameBytes))
			case websocket.CloseStatus(err) != -1:
				code, reason = websocket.CloseStatus(err), reasonClosedByClient
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
			default:
				if !s.isStopped() {
					s.log.LogAttrs(ctx, slog.LevelDebug, "read failed", slog.Any("err", err))
				}
				code, reason = websocket.StatusProtocolError, "read failed"
			}
			s.stop(code, reason, false)
			return
		}
		if s.isStopped() {
			continue // keep reading until the peer answers the close
		}
		s.g.stats.framesIn.Add(1)
		s.handle(ctx, data)
	}
}

// handle decodes one client frame and publishes it to INBOUND, answering
// an rpc with an rpc:result error whenever the frame does not get there.
func (s *session) handle(ctx context.Context, data []byte) {
	f, err := protocol.DecodeClient(data)
	if err != nil {
		s.g.stats.badFrames.Add(1)
		var de *protocol.DecodeError
		if errors.As(err, &de) && de.ID != "" {
			s.log.LogAttrs(ctx, slog.LevelDebug, "bad frame answered", slog.Any("err", err))
			s.send(protocol.AppendRPCError(nil, de.ID, err.Error()))
			return
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "bad frame ignored", slog.Any("err", err))
		return
	}
	fail := func(msg string) {
		if f.Type == protocol.TypeRPC {
			s.send(protocol.AppendRPCError(nil, f.ID, msg))
		}
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "frame", slog.String("type", f.Type), slog.String("actor", f.Actor),
			slog.String("actor_id", f.ActorID), slog.String("method", f.Method))
	}

	served, err := s.g.actors.served(ctx, s.ident.scope, f.Actor)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "actor check failed", slog.String("actor", f.Actor), slog.Any("err", err))
		fail(ErrUnavailable.Error() + ": try again later")
		return
	}
	if !served {
		s.g.stats.unknownActor.Add(1)
		s.log.LogAttrs(ctx, slog.LevelDebug, "frame for an actor type no runtime serves",
			slog.String("type", f.Type), slog.String("actor", f.Actor))
		fail(fmt.Sprintf("%s: %q", ErrUnknownActor, f.Actor))
		return
	}
	subject, err := natstransport.InboundSubject(s.ident.scope, f.Actor, f.ActorID)
	if err != nil { // the decoder already refuses empty and long ids
		fail("invalid frame: " + err.Error())
		return
	}
	s.buf, err = natstransport.AppendInbound(s.buf[:0], natstransport.InboundEnvelope{
		Scope: s.ident.scope, SessionID: s.id, UserID: s.ident.userID, Claims: s.ident.claims, Message: data,
	})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "envelope not encoded", slog.Any("err", err))
		fail(ErrNotDelivered.Error() + ": internal error")
		return
	}
	if int64(len(s.buf)) > s.g.maxPayload {
		s.log.LogAttrs(ctx, slog.LevelWarn, "envelope over the NATS max payload", slog.Int("bytes", len(s.buf)))
		fail(fmt.Sprintf("%s: %d bytes with its envelope, limit %d", ErrTooBig, len(s.buf), s.g.maxPayload))
		return
	}
	pctx, cancel := context.WithTimeout(ctx, s.g.cfg.PublishTimeout)
	_, err = s.g.js.Publish(pctx, subject, s.buf, jetstream.WithExpectStream(natstransport.InboundStream))
	cancel()
	if err != nil {
		s.g.stats.publishFailures.Add(1)
		s.log.LogAttrs(ctx, slog.LevelError, "publish to INBOUND failed", slog.String("subject", subject),
			slog.String("type", f.Type), slog.Any("err", err))
		fail(ErrNotDelivered.Error() + ": try again later")
	}
	if cap(s.buf) > 64<<10 {
		s.buf = nil // do not pin a large buffer for the life of the session
	}
}

func (s *session) writeLoop() {
	for {
		select {
		case frame := <-s.out:
			if !s.write(frame) {
				return
			}
			continue
		case <-s.stopped:
		}
		s.mu.Lock()
		flush := s.flush
		s.mu.Unlock()
		for flush {
			select {
			case frame := <-s.out:
				if !s.write(frame) {
					return
				}
			default:
				flush = false // drained
			}
		}
		s.closeSocket()
		return
	}
}

// write writes one frame under WriteTimeout; on failure it stops the
// session and severs the socket.
func (s *session) write(frame []byte) bool {
	s.qbytes.Add(-int64(len(frame)))
	if s.raw != nil {
		_ = s.raw.SetWriteDeadline(time.Now().Add(s.g.cfg.WriteTimeout))
	}
	err := s.ws.Write(context.Background(), websocket.MessageText, frame)
	if s.raw != nil {
		// Deadlines stick to the socket: clear it, or the next ping, written
		// long after, would inherit a deadline already past.
		_ = s.raw.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		if !s.isStopped() {
			s.log.LogAttrs(context.Background(), slog.LevelInfo, "write failed; dropping client", slog.Any("err", err))
		}
		s.stop(websocket.StatusAbnormalClosure, "write failed", false)
		s.sever()
		return false
	}
	s.g.stats.framesOut.Add(1)
	return true
}

func (s *session) closeSocket() {
	s.mu.Lock()
	code, reason := s.code, s.reason
	s.mu.Unlock()
	if code == websocket.StatusAbnormalClosure || code == websocket.StatusNoStatusRcvd {
		code = websocket.StatusInternalError // 1005 and 1006 cannot be sent
	}
	// The deadline bounds both writing the close frame and waiting for the
	// peer's answer.
	if s.raw != nil {
		_ = s.raw.SetDeadline(time.Now().Add(s.g.cfg.WriteTimeout))
	}
	_ = s.ws.Close(code, reason)
}

func (s *session) pingLoop() {
	every := s.g.cfg.PingInterval
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := s.ws.Ping(ctx)
		cancel()
		if err != nil {
			if s.stop(websocket.StatusPolicyViolation, reasonPing, false) {
				s.log.LogAttrs(context.Background(), slog.LevelInfo, "ping unanswered; dropping client", slog.Any("err", err))
			}
			return
		}
	}
}

// hijackWriter keeps the net.Conn that websocket.Accept hijacks, so that
// the session can set deadlines on it and sever it.
type hijackWriter struct {
	http.ResponseWriter
	conn net.Conn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	w.conn = c
	return c, brw, nil
}

func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
