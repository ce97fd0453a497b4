package standalone

import (
	"crypto/rand"
	"log/slog"
	"net/http"

	"github.com/coder/websocket"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/wsconn"
	"github.com/zocket-go/zocket/protocol"
)

// serveWebSocket runs one connection from upgrade to close. It owns the
// connection's goroutines (see wsconn.Conn): it waits for the connection to
// stop, disconnects the session from the engine, and waits for the rest
// before returning.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !s.hub.Track() {
		http.Error(w, protocol.ErrShuttingDown.Error(), http.StatusServiceUnavailable)
		return
	}
	defer s.hub.Untrack()

	id := newClientID()
	log := s.log.With(slog.String("session_id", id))
	c, err := s.hub.Accept(w, r, id, log)
	if err != nil { // Accept has answered the request
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "upgrade refused",
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
		return
	}
	ident := wsconn.IdentityOf(r)
	c.Send(protocol.AppendWelcome(nil, id)) // first in the queue, before any Deliver can find c
	c.CloseAt(ident.Expires, protocol.CloseAuthExpired, protocol.ReasonAuthExpired)
	s.stats.conns.Add(1)
	s.stats.connsTotal.Add(1)
	if !s.hub.Register(c) {
		c.Stop(websocket.StatusGoingAway, protocol.ErrShuttingDown.Error(), true)
	}
	log.LogAttrs(c.Context(), slog.LevelDebug, "connection opened", slog.String("remote", r.RemoteAddr))

	var frames uint64 // the connection's frames so far, for their request ids; reader goroutine only
	c.Start(func(data []byte) {
		frames++
		s.handle(c, log, ident, frames, data)
	})
	<-c.Stopped()
	// Run OnDisconnect now, not after the close handshake: the client is
	// gone for the actors as soon as the server decided to close.
	s.engine.Disconnect(id)
	code, reason := c.Close()
	s.stats.conns.Add(-1)
	log.LogAttrs(c.Context(), slog.LevelDebug, "connection closed",
		slog.Int("code", int(code)), slog.String("reason", reason))
}

// handle decodes the n-th client frame of c and dispatches it. data is not
// reused: the frame's raw fields alias it.
func (s *Server) handle(c *wsconn.Conn, log *slog.Logger, ident auth.Identity, n uint64, data []byte) {
	ctx := c.Context()
	f, err := protocol.DecodeClient(data)
	if err != nil {
		c.Refuse(err)
		return
	}
	if !c.Admit(f) {
		return
	}
	rid := c.RequestID(n)
	if log.Enabled(ctx, slog.LevelDebug) {
		log.LogAttrs(ctx, slog.LevelDebug, "frame", slog.String("request_id", rid), slog.String("type", f.Type),
			slog.String("actor", f.Actor), slog.String("actor_id", f.ActorID), slog.String("method", f.Method))
	}
	if tr := s.tracer; tr != nil && f.Type == protocol.TypeRPC {
		// Ended by deliver, which the engine calls once per request, with
		// the call's rpc:result.
		ctx, _ = tr.Start(ctx, "zocket.rpc "+f.Actor+"."+f.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("zocket.actor", f.Actor), attribute.String("zocket.method", f.Method),
				attribute.String("zocket.session", c.ID()), attribute.String("zocket.request", rid)))
	}
	s.engine.Dispatch(&engine.Request{SessionID: c.ID(), RequestID: rid, UserID: ident.UserID, Claims: ident.Claims, Frame: f, Context: ctx})
}

// newClientID returns a fresh URL-safe random id (26 characters of base32,
// 130 bits of entropy).
func newClientID() string { return rand.Text() }
