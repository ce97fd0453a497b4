package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket/internal/tracing"
	"github.com/zocket-go/zocket/internal/wsconn"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/natstransport"
)

// Gateway terminates WebSockets and joins them to the NATS fabric. Create it
// with [New], serve it with [Gateway.Run] or mount [Gateway.Handler], and
// stop it with [Gateway.Shutdown]. A Gateway runs once: after Shutdown it
// refuses new sessions for good. All methods are safe for concurrent use.
type Gateway struct {
	cfg        Config
	log        *slog.Logger
	js         jetstream.JetStream
	actors     *actorCache
	maxPayload int64
	h          http.Handler
	hub        *wsconn.Hub // the live sessions' connections
	admit      *wsconn.Admission
	srv        *wsconn.Server
	// metrics is Config.Metrics (nil: off); publishObs and the call
	// observers are its series the sessions use.
	metrics       *metrics.Metrics
	tracer        trace.Tracer // Config.TracerProvider's; nil: tracing off
	publishObs    prometheus.Observer
	callObs       [numCallOutcomes]prometheus.Observer
	detachMetrics func()
	// abortCtx is cancelled when Shutdown runs out of time: sessions then
	// skip deleting their consumers.
	abortCtx context.Context
	abort    context.CancelFunc

	// sessions by scope, for closing a scope's sessions when its runtime
	// restarts; readySub receives those runtime.ready notices.
	smu      sync.Mutex
	scoped   map[natstransport.Scope]map[*session]struct{}
	readySub *nats.Subscription
	// statusCh receives the NATS connection's status changes for
	// watchNATS, which closes watchDone when Shutdown removes it.
	statusCh  chan nats.Status
	watchDone chan struct{}
	// repair asks watchNATS to ensure the streams again; streamsOK is the
	// last outcome (see ReadyPath).
	repair    chan struct{}
	streamsOK atomic.Bool
	// watchCtx bounds watchNATS's stream repairs; Shutdown cancels it so
	// that a repair in progress does not hold the shutdown up.
	watchCtx  context.Context
	stopWatch context.CancelFunc
	// router delivers live frames in DeliveryCore; nil in
	// DeliveryConsumer.
	router *router

	stats stats
}

// Stats is a snapshot of a gateway's counters. With Config.Metrics, every
// scrape reads the fields with a metric tag (docs/METRICS.md); call
// timeouts and sessions closed for lost frames are counted there by
// zocket_gateway_call_duration_seconds and zocket_connections_closed_total.
type Stats struct {
	SessionsOpen  int64 `metric:"zocket_connections"`              // sessions open now (a closing session no longer counts)
	SessionsTotal int64 `metric:"zocket_connections_opened_total"` // sessions accepted since New
	// Upgrades by what authentication made of them (all zero without an
	// authenticator, except ConnLimited).
	AuthOK            int64 `metric:"zocket_auth_total,result=ok"`                            // admitted by the authenticator
	AuthRefused       int64 `metric:"zocket_auth_total,result=refused"`                       // upgrades refused with 401 (control plane said no)
	AuthUnavailable   int64 `metric:"zocket_auth_total,result=unavailable"`                   // upgrades refused with 503 (control plane unreachable, slow or nonsensical)
	AuthThrottled     int64 `metric:"zocket_auth_total,result=throttled"`                     // refused at once: the address was refused too often lately (429)
	ConnLimited       int64 `metric:"zocket_auth_total,result=over_limit"`                    // refused: too many connections from the address or user (429)
	ConsumerFailures  int64 `metric:"zocket_gateway_consumer_failures_total"`                 // sessions closed because their OUTBOUND consumer could not be created or failed
	ConsumerLeftovers int64 `metric:"zocket_gateway_consumer_leftovers_total"`                // consumers of closed sessions the gateway could not delete (they expire on their own)
	PublishFailures   int64 `metric:"zocket_jetstream_publish_failures_total,stream=INBOUND"` // client frames JetStream did not acknowledge
	UnknownActor      int64 `metric:"zocket_gateway_unknown_actor_total"`                     // client frames for actor types no runtime serves
	SlowDisconnects   int64 `metric:"zocket_slow_clients_closed_total"`                       // sessions closed because their send queue was full
	FramesIn          int64 `metric:"zocket_frames_received_total"`                           // client frames read
	FramesOut         int64 `metric:"zocket_frames_sent_total"`                               // server frames written to sockets
	SocketWrites      int64 `metric:"zocket_socket_writes_total"`                             // socket writes of those frames (a backlog goes out in one)
	BytesIn           int64 `metric:"zocket_bytes_received_total"`                            // bytes of the client frames read
	BytesOut          int64 `metric:"zocket_bytes_sent_total"`                                // bytes of the server frames written
	Queued            int64 `metric:"zocket_send_queue_frames"`                               // frames waiting in send queues now
	Dropped           int64 `metric:"zocket_frames_dropped_total"`                            // frames for sessions that were closing or gone
	BadFrames         int64 `metric:"zocket_frames_refused_total"`                            // client frames refused by the protocol decoder
	RateLimited       int64 `metric:"zocket_rate_limited_total"`                              // rpcs refused for going over the frame rate (wsconfig.Settings.MaxFrameRate)
	BadOutbound       int64 `metric:"zocket_gateway_bad_outbound_total"`                      // malformed outbound envelopes skipped
	Resubscribed      int64 `metric:"zocket_gateway_resubscribed_total"`                      // subscriptions sent again because their runtime (re)started, or to get a fresh position
	CallTimeouts      int64 // calls answered with protocol.ErrCallTimeout (Config.CallTimeout)
	AnswersDropped    int64 `metric:"zocket_gateway_answers_dropped_total"` // rpc:results dropped because their call was answered already (a redelivery, or after its timeout)
	WindowWaits       int64 `metric:"zocket_gateway_window_waits_total"`    // times a session's reader waited for an answer before publishing its next call (Config.MaxCallsInFlight)
	// DeliveryCore only:
	Gaps       int64 `metric:"zocket_gateway_gaps_total"`             // skipped sequence numbers seen (each starts a recovery from OUTBOUND)
	Recovered  int64 `metric:"zocket_gateway_recovered_frames_total"` // frames read back from OUTBOUND after a gap
	Duplicates int64 `metric:"zocket_gateway_duplicate_frames_total"` // live frames seen twice (a retried publish) and dropped
	FramesLost int64 // sessions closed with protocol.CloseFramesLost
}

// stats are the gateway's own counters; the connections' are the hub's,
// authentication's the admission's.
type stats struct {
	open, total, consumerFailures, leftovers,
	publishFailures, unknownActor, badOutbound, resubscribed,
	gaps, recovered, duplicates, framesLost,
	callTimeouts, answersDropped, windowWaits atomic.Int64
}

// New returns a gateway for cfg after ensuring the INBOUND and OUTBOUND
// streams (natstransport.EnsureStreams with cfg.Streams, bounded by
// cfg.BootTimeout). It fails, wrapping protocol.ErrInvalidOption, when a Config
// field is out of range, or with the EnsureStreams error (for example a
// *natstransport.MismatchError) when the streams cannot be set up. Call
// [Gateway.Shutdown] (Run and Serve do) to release what New starts: a
// subscription, and a goroutine that watches the NATS connection.
func New(cfg Config) (*Gateway, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.NATS)
	if err != nil {
		return nil, fmt.Errorf("gateway: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.BootTimeout)
	defer cancel()
	if err := natstransport.EnsureStreams(ctx, js, cfg.Streams); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{
		cfg:        cfg,
		tracer:     tracing.Tracer(cfg.TracerProvider),
		log:        cfg.Logger.With(slog.String("component", "gateway")),
		js:         js,
		actors:     newActorCache(js, cfg.ActorCheckTTL, cfg.JetStreamTimeout),
		maxPayload: cfg.NATS.MaxPayload(),
		hub: wsconn.NewHub(wsconn.Config{
			Settings: cfg.WebSocket,
			// One watchdog per gateway, as in standalone: a socket deadline
			// set and cleared around every write was 5% of the gateway's
			// CPU under a 5,000-watcher fan-out.
			WatchWrites: true,
			Metrics:     cfg.Metrics,
		}),
		metrics: cfg.Metrics,
	}
	if m := cfg.Metrics; m != nil {
		g.publishObs = m.PublishDuration.WithLabelValues(natstransport.InboundStream)
		for o := range numCallOutcomes {
			g.callObs[o] = m.CallDuration.WithLabelValues(callOutcomeNames[o])
		}
	}
	g.abortCtx, g.abort = context.WithCancel(context.Background())
	g.scoped = make(map[natstransport.Scope]map[*session]struct{})
	if g.readySub, err = cfg.NATS.Subscribe(natstransport.RuntimeReadyPrefix+".>", g.onRuntimeReady); err != nil {
		return nil, fmt.Errorf("gateway: subscribe %s.>: %w", natstransport.RuntimeReadyPrefix, err)
	}
	if cfg.Delivery == natstransport.DeliveryCore {
		g.router = newRouter(g)
	}
	g.statusCh = cfg.NATS.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED)
	g.watchDone = make(chan struct{})
	g.repair = make(chan struct{}, 1)
	g.watchCtx, g.stopWatch = context.WithCancel(context.Background())
	g.streamsOK.Store(true) // ensured above
	go g.watchNATS()
	g.admit = wsconn.NewAdmission(g.authenticator(), cfg.WebSocket, g.log)
	g.h = wsconn.Handler(g.admit.Wrap(g.serveSession), func() bool { return true }, g.ready, cfg.Pages)
	g.detachMetrics = metrics.Attach(cfg.Metrics, g.Stats)
	g.srv = &wsconn.Server{
		Name: "gateway", Handler: g.h, Logger: g.log, DrainTimeout: cfg.DrainTimeout, Shutdown: g.Shutdown,
	}
	return g, nil
}

// Handler returns the gateway's HTTP handler:
//
//   - GET /health answers 200 {"ok":true};
//   - GET /ready (ReadyPath) answers 200 {"ready":true} while NATS is
//     connected and the streams were in place at the last look, 503
//     {"ready":false} otherwise;
//   - a WebSocket upgrade at "/" opens a session: it is authenticated first
//     (without an authenticator: Config.Scope, user id null, claims {};
//     with one, such as auth.JWT or the control plane's POST
//     {ControlPlaneURL}/api/registry/authorize: 401 with the reason when it
//     refuses, 503 when it cannot be asked or names an unusable scope, and
//     429 with Retry-After, without asking it, for an address refused 10
//     times within 10 s, until those 10 s are over);
//   - any other plain request goes to Config.Pages, or gets 426 Upgrade
//     Required at "/" and 404 elsewhere when Pages is nil.
//
// A session gets a welcome frame at once, then the server frames of its
// OUTBOUND subject in order. Its socket is closed with 1001 on shutdown,
// 1008 when the client does not read ("send queue full") or answer pings
// ("ping timeout"), 1009 for a frame over WebSocket.MaxFrameBytes, 1013
// when its OUTBOUND consumer cannot be created or fails, 1011 when the
// NATS connection is closed, protocol.CloseFramesLost (4001) when frames
// it missed cannot be recovered, and protocol.CloseAuthExpired (4002) when
// its credential expires.
// Sessions outlive the HTTP request: stop them with [Gateway.Shutdown].
func (g *Gateway) Handler() http.Handler { return g.h }

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	s, hc, ac := &g.stats, g.hub.Counters(), g.admit.Counts()
	return Stats{
		SessionsOpen:      s.open.Load(),
		SessionsTotal:     s.total.Load(),
		AuthOK:            ac.OK,
		AuthRefused:       ac.Refused,
		AuthUnavailable:   ac.Unavailable,
		AuthThrottled:     ac.Throttled,
		ConnLimited:       ac.OverLimit,
		ConsumerFailures:  s.consumerFailures.Load(),
		ConsumerLeftovers: s.leftovers.Load(),
		PublishFailures:   s.publishFailures.Load(),
		UnknownActor:      s.unknownActor.Load(),
		SlowDisconnects:   hc.Slow.Load(),
		FramesIn:          hc.FramesIn.Load(),
		FramesOut:         hc.FramesOut.Load(),
		SocketWrites:      hc.Writes.Load(),
		BytesIn:           hc.BytesIn.Load(),
		BytesOut:          hc.BytesOut.Load(),
		Queued:            hc.Queued.Load(),
		Dropped:           hc.Dropped.Load(),
		BadFrames:         hc.BadFrames.Load(),
		RateLimited:       hc.RateLimited.Load(),
		BadOutbound:       s.badOutbound.Load(),
		Resubscribed:      s.resubscribed.Load(),
		CallTimeouts:      s.callTimeouts.Load(),
		AnswersDropped:    s.answersDropped.Load(),
		WindowWaits:       s.windowWaits.Load(),
		Gaps:              s.gaps.Load(),
		Recovered:         s.recovered.Load(),
		Duplicates:        s.duplicates.Load(),
		FramesLost:        s.framesLost.Load(),
	}
}

// Run listens on addr (":3000" when empty) and serves [Gateway.Handler]
// until ctx is cancelled, then shuts down gracefully within
// Config.DrainTimeout (see [Gateway.Shutdown]). It returns after every
// goroutine it started has returned: nil after a clean shutdown, otherwise
// the listen, serve or shutdown error.
func (g *Gateway) Run(ctx context.Context, addr string) error { return g.srv.Run(ctx, addr) }

// Serve is [Gateway.Run] on a listener it takes over and closes.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error { return g.srv.Serve(ctx, ln) }

// Shutdown stops the gateway gracefully: new upgrades get 503; every
// session stops consuming OUTBOUND, has the frames already queued written,
// and is closed with code 1001 ("server shutting down"); its consumer is
// deleted and its session.disconnected notice published. Shutdown then
// flushes the NATS connection (it does not close it; a flush that does not
// complete in time is logged) and returns once every session goroutine has
// returned. The sessions get ctx less a tenth of the
// time left (at most a second), which the flush keeps. When that runs out,
// the remaining sockets are severed and their consumers left to expire;
// Shutdown still waits for the goroutines (each step is bounded by the
// Config timeouts) and returns an error wrapping ctx's if a socket was
// severed before its 1001 could be written (a client that does not read),
// but not for a client that got it and did not answer. Calling it again
// waits for the first call.
func (g *Gateway) Shutdown(ctx context.Context) error {
	if first, err := g.hub.BeginShutdown(ctx); !first {
		return err
	}
	defer g.hub.EndShutdown()
	defer g.abort() // releases abortCtx
	defer g.detachMetrics()
	if err := g.readySub.Unsubscribe(); err != nil && g.cfg.NATS.IsConnected() {
		g.log.LogAttrs(ctx, slog.LevelWarn, "unsubscribe runtime.ready", slog.Any("err", err))
	}
	g.cfg.NATS.RemoveStatusListener(g.statusCh) // no resubscription starts from here on
	g.stopWatch()                               // nor does a stream repair go on
	g.log.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.Int64("sessions", g.stats.open.Load()))
	dctx, cancel := drainContext(ctx)
	defer cancel()
	var err error
	if derr := g.hub.Drain(dctx, websocket.StatusGoingAway, reasonShutdown, g.abort); derr != nil {
		err = fmt.Errorf("gateway: close sessions: %w", derr)
	}
	<-g.watchDone // one in progress skips the sessions Drain stopped
	if g.router != nil {
		g.router.close()
	}
	fctx := ctx
	if _, ok := ctx.Deadline(); !ok { // FlushWithContext needs one
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, flushReserve)
		defer cancel()
	}
	// Without a connection there is nothing to flush to, and a flush would
	// wait out fctx for a PONG that cannot come.
	// The flush is best effort: a notice that did not leave in time is
	// covered by the runtimes' session sweep, so it is logged, not
	// returned (Shutdown's error is about sockets).
	if g.cfg.NATS.IsConnected() {
		if ferr := g.cfg.NATS.FlushWithContext(fctx); ferr != nil && g.cfg.NATS.IsConnected() {
			g.log.LogAttrs(ctx, slog.LevelWarn, "NATS flush at shutdown did not complete; disconnect notices may be late",
				slog.Any("err", ferr))
		}
	}
	return err
}

// flushReserve is the most of a shutdown's time kept for the final flush,
// which lets the sessions' disconnect notices leave.
const flushReserve = time.Second

// drainContext returns the part of ctx that Shutdown gives the sessions:
// all but a tenth of the time left, at most flushReserve, so that the flush
// after them still fits in ctx (it once ran a second past it).
func drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-min(time.Until(deadline)/10, flushReserve)))
}

// track and untrack keep the sessions of each scope.
func (g *Gateway) track(s *session) {
	g.smu.Lock()
	defer g.smu.Unlock()
	set := g.scoped[s.ident.scope]
	if set == nil {
		set = make(map[*session]struct{})
		g.scoped[s.ident.scope] = set
	}
	set[s] = struct{}{}
}

func (g *Gateway) untrack(s *session) {
	g.smu.Lock()
	defer g.smu.Unlock()
	if set := g.scoped[s.ident.scope]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(g.scoped, s.ident.scope)
		}
	}
}

// onRuntimeReady sends the subscriptions of a scope's sessions again when
// its runtime (re)started: the new runtime knows none of them, so the
// sessions would stay open but deaf to patches and events. Subscribers get a
// fresh snapshot; sessions, and calls in flight, carry on.
func (g *Gateway) onRuntimeReady(msg *nats.Msg) {
	scope, err := natstransport.ParseRuntimeReadySubject(msg.Subject)
	if err != nil {
		g.log.LogAttrs(context.Background(), slog.LevelWarn, "bad runtime.ready subject",
			slog.String("subject", msg.Subject), slog.Any("err", err))
		return
	}
	sessions, n := g.resubscribe(func(sc natstransport.Scope) bool { return sc == scope })
	if sessions > 0 {
		g.log.LogAttrs(context.Background(), slog.LevelInfo, "runtime ready: subscriptions sent again",
			slog.String("ws", scope.WorkspaceID), slog.String("proj", scope.ProjectID),
			slog.Int("sessions", sessions), slog.Int("subscriptions", n))
	}
}

// resubscribe sends the subscriptions of the open sessions of the scopes
// that match again, and returns how many sessions and subscriptions that
// was.
func (g *Gateway) resubscribe(match func(natstransport.Scope) bool) (sessions, subs int) {
	g.smu.Lock()
	var list []*session
	for scope, set := range g.scoped {
		if match(scope) {
			for s := range set {
				list = append(list, s)
			}
		}
	}
	g.smu.Unlock()
	for _, s := range list {
		if !s.c.IsStopped() {
			subs += s.resubscribe(context.Background())
		}
	}
	g.stats.resubscribed.Add(int64(subs))
	return len(list), subs
}

// watchNATS sends every session's subscriptions again each time the NATS
// connection comes back. While it was down, runtimes may have taken the
// sessions for dead (runtime.Config.SessionSweep expires a session whose
// OUTBOUND consumer the server dropped, which a long enough outage does),
// and such a session would stay open but deaf to patches and events. The
// runtimes answer with fresh snapshots, as after a runtime restart. It runs
// until Shutdown removes statusCh.
//
// It also ensures the streams again when the connection comes back (a
// nats-server restarted with memory storage has lost them) and when a
// publish found one missing (repairSoon).
func (g *Gateway) watchNATS() {
	defer close(g.watchDone)
	lost := false
	for {
		var st nats.Status
		select {
		case s, ok := <-g.statusCh:
			if !ok {
				return
			}
			st = s
		case <-g.repair:
			g.ensureStreams("a publish found a stream missing")
			continue
		}
		switch st {
		case nats.DISCONNECTED, nats.RECONNECTING:
			lost = true
		case nats.CONNECTED:
			if !lost {
				continue
			}
			lost = false
			g.ensureStreams("NATS connection back")
			sessions, n := g.resubscribe(func(natstransport.Scope) bool { return true })
			g.log.LogAttrs(context.Background(), slog.LevelInfo, "NATS connection back: subscriptions sent again",
				slog.Int("sessions", sessions), slog.Int("subscriptions", n))
		}
	}
}
