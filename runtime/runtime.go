package runtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/tracing"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/natstransport"
)

// ErrAlreadyStarted is returned by a second call of [Runtime.Run].
var ErrAlreadyStarted = errors.New("runtime: Run called twice")

// Runtime hosts the actor types of a [zocket.App] for one (workspace,
// project) on NATS JetStream. Create it with [New], run it with
// [Runtime.Run], and serve [Runtime.Handler] for /health. A Runtime runs
// once. All methods are safe for concurrent use.
type Runtime struct {
	tracer trace.Tracer // Config.TracerProvider's; nil: tracing off
	app    *zocket.App
	cfg    Config
	log    *slog.Logger
	js     jetstream.JetStream
	types  []*actorType
	names  []string // actor type names, sorted
	discon string   // session.disconnected.{ws}.{proj}
	readyS string   // runtime.ready.{ws}.{proj}
	aliveS string   // session.alive.{ws}.{proj}
	// alive collects the sessions named on session.alive since the last
	// sweep (DeliveryCore).
	aliveMu sync.Mutex
	alive   map[string]struct{}
	health  http.Handler
	lease   *lease // one runtime serves the scope: the one holding this

	started     atomic.Bool
	ready       chan struct{} // closed once consuming
	deployCount atomic.Int64
	stats       counters
	// publishObs is Config.Metrics' OUTBOUND publish latency; nil
	// without metrics.
	publishObs prometheus.Observer

	// Set by Run before any message arrives; read-only afterwards.
	engine *engine.Engine
	pub    *publisher
	flight tracker
	// fabricOK is whether the last check found the streams and consumers
	// in place (see watchFabric).
	fabricOK atomic.Bool
	// current is engine for readers outside Run (Engine): Run replaces
	// engine when it takes the lease again.
	current atomic.Pointer[engine.Engine]
	// stopping is set once the consumers are drained: a message that still
	// arrives is nak'd so that another runtime handles it.
	stopping atomic.Bool
}

// actorType is one actor type with its durable consumer.
type actorType struct {
	rt       *Runtime
	name     string
	consumer jetstream.ConsumerConfig
	log      *slog.Logger
	// With Config.Metrics, the consumer's pending and ack pending counts.
	pending, ackPending prometheus.Gauge
}

// New returns a runtime for app. It does no I/O: streams and consumers are
// set up by Run. It fails, wrapping zocket.ErrInvalidOption, when app is
// nil, cfg.NATS is nil or a setting is out of range.
func New(app *zocket.App, cfg Config) (*Runtime, error) {
	if app == nil {
		return nil, fmt.Errorf("runtime: %w: nil app", zocket.ErrInvalidOption)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.NATS,
		jetstream.WithPublishAsyncMaxPending(cfg.PublishWindow),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		return nil, fmt.Errorf("runtime: jetstream: %w", err)
	}
	discon, err := natstransport.SessionDisconnectedSubject(cfg.Scope)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w: %v", zocket.ErrInvalidOption, err)
	}
	readyS, err := natstransport.RuntimeReadySubject(cfg.Scope)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w: %v", zocket.ErrInvalidOption, err)
	}
	aliveS, err := natstransport.SessionAliveSubject(cfg.Scope)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w: %v", zocket.ErrInvalidOption, err)
	}
	rt := &Runtime{
		tracer: tracing.Tracer(cfg.TracerProvider),
		aliveS: aliveS,
		alive:  make(map[string]struct{}),
		app:    app,
		cfg:    cfg,
		js:     js,
		discon: discon,
		readyS: readyS,
		ready:  make(chan struct{}),
		log: cfg.Logger.With(slog.String("component", "runtime"),
			slog.String("ws", cfg.Scope.WorkspaceID), slog.String("proj", cfg.Scope.ProjectID)),
	}
	for name := range cfg.ActorMaxAckPending {
		if !slices.Contains(app.ActorTypes(), name) {
			return nil, fmt.Errorf("runtime: %w: ActorMaxAckPending names %q, which is not an actor type of the app",
				zocket.ErrInvalidOption, name)
		}
	}
	for _, info := range app.Actors() {
		mp := cmp.Or(cfg.ActorMaxAckPending[info.Name], cfg.MaxAckPending)
		cc, err := natstransport.RuntimeConsumerConfig(cfg.Scope, info.Name, mp)
		if err != nil {
			return nil, fmt.Errorf("runtime: actor type %q: %w: %v", info.Name, zocket.ErrInvalidOption, err)
		}
		cc.AckWait = cfg.AckWait
		t := &actorType{rt: rt, name: info.Name, consumer: cc, log: rt.log.With(slog.String("actor", info.Name))}
		if m := cfg.Metrics; m != nil {
			t.pending = m.ConsumerPending.WithLabelValues(info.Name)
			t.ackPending = m.ConsumerAckPending.WithLabelValues(info.Name)
		}
		rt.types = append(rt.types, t)
		rt.names = append(rt.names, info.Name)
	}
	if rt.lease, err = newLease(rt); err != nil {
		return nil, fmt.Errorf("runtime: %w: %v", zocket.ErrInvalidOption, err)
	}
	rt.flight.init()
	rt.health = http.HandlerFunc(rt.serveHTTP)
	if m := cfg.Metrics; m != nil {
		rt.publishObs = m.PublishDuration.WithLabelValues(natstransport.OutboundStream)
	}
	return rt, nil
}

// Engine returns the engine of the runtime's current term, for read-only
// uses such as package inspect, or nil while the runtime does not serve
// (booting, a standby, stopped). Each term that holds the lease has an
// engine of its own.
func (rt *Runtime) Engine() *engine.Engine { return rt.current.Load() }

// Ready returns a channel that is closed once Run has booted and holds
// the scope's lease: streams and consumers exist, session disconnects are
// subscribed, messages flow, and nats-server has the runtime.ready notice
// (a gateway started after Ready does not get it). A standby's stays open
// until it takes over (see Role).
func (rt *Runtime) Ready() <-chan struct{} { return rt.ready }

// Run boots the runtime and serves until ctx is cancelled, then shuts down
// gracefully. Boot (the runtime contract, docs/ARCHITECTURE.md) ensures the INBOUND and OUTBOUND
// streams, the lease bucket and one durable consumer per actor type, then
// waits for the scope's lease (see Config.LeaseTTL): while another runtime
// holds it, this one is a standby and consumes nothing. Holding it, Run
// subscribes to session.disconnected, starts consuming, announces
// runtime.ready and, with a control plane configured, reports "ready" (or
// "failed" with the boot error). A runtime that loses its lease stops
// consuming at once, drains as on cancellation and waits as a standby
// again, with a fresh engine: the instances it held are gone.
//
// On cancellation Run stops pulling messages, lets the calls already
// received finish and be acked, runs OnDeactivate on every instance,
// waits for the last publishes and acks, unsubscribes and releases the
// lease, so that a standby takes over at once, all within
// Config.DrainTimeout. Work unfinished by then is nak'd for redelivery; a
// handler still running is left to return on its own, and what it
// produces is dropped. Apart from such handlers, Run returns only after
// every goroutine it started has returned. It never closes Config.NATS.
//
// The error is nil after a cancellation once booted (as a standby too);
// otherwise it is the boot error (a cancellation during boot included) or
// the reason the runtime could not go on (its NATS connection was
// closed). Run may be called once; later calls return ErrAlreadyStarted.
func (rt *Runtime) Run(ctx context.Context) error {
	if !rt.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	defer rt.lease.setRole(RoleStopped)
	defer metrics.Attach(rt.cfg.Metrics, rt.Stats)()
	stopKeepAlive := make(chan struct{})
	keepAliveDone := make(chan struct{})
	go rt.keepAlive(stopKeepAlive, keepAliveDone)
	defer func() {
		close(stopKeepAlive)
		<-keepAliveDone
	}()

	if err := rt.prepare(ctx); err != nil {
		if ctx.Err() == nil {
			rt.log.LogAttrs(ctx, slog.LevelError, "boot failed", slog.Any("err", err))
			rt.report(ctx, statusFailed, err.Error())
		}
		return fmt.Errorf("runtime: boot: %w", err)
	}
	for {
		if err := rt.lease.acquire(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // stopped as a standby: nothing to drain
			}
			return fmt.Errorf("runtime: %w", err)
		}
		lost, err := rt.serve(ctx)
		if lost == nil || ctx.Err() != nil {
			return err
		}
		if rt.cfg.NATS.IsClosed() {
			return fmt.Errorf("runtime: %w", lost)
		}
		rt.log.LogAttrs(ctx, slog.LevelInfo, "standing by again after losing the lease")
	}
}

// prepare does what a standby may do: it ensures the streams, the lease
// bucket and the consumers. Ensuring the consumers before the lease makes
// a durable name another scope holds (see natstransport.DurableName) a
// boot error of every runtime, standbys included.
func (rt *Runtime) prepare(ctx context.Context) error {
	if err := natstransport.EnsureStreams(ctx, rt.js, rt.cfg.Streams); err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			return fmt.Errorf("JetStream is not enabled on the NATS server: %w", err)
		}
		return err
	}
	if err := rt.lease.open(ctx); err != nil {
		return err
	}
	for _, t := range rt.types {
		if _, err := natstransport.EnsureConsumer(ctx, rt.js, natstransport.InboundStream, t.consumer); err != nil {
			return err
		}
	}
	return nil
}

// serve runs one term of the runtime as the lease holder: it boots with a
// fresh engine and publisher, serves until ctx is cancelled, the runtime
// cannot go on or the lease is lost, and shuts down. lost is why the lease
// was lost, if it was (Run then stands by again); otherwise err is what
// Run returns. The lease is refreshed until the shutdown is over, so that
// no standby starts while this runtime still finishes calls, and released
// after it.
func (rt *Runtime) serve(ctx context.Context) (lost, err error) {
	// No goroutine of a previous term uses these any more: its shutdown
	// waited for the consumers, subscriptions and supervisors that read
	// them, and its engine delivers to its own publisher.
	rt.pub = newPublisher(rt)
	rt.engine = engine.New(rt.app, engine.Config{
		Host:             rt.pub,
		IdleTimeout:      rt.cfg.IdleTimeout,
		MaxQueue:         rt.cfg.MaxQueue,
		MaxSessionQueue:  rt.cfg.MaxSessionQueue,
		MaxSubscriptions: rt.cfg.MaxSubscriptions,
		CallTimeout:      rt.cfg.CallTimeout,
		MaxInstances:     rt.cfg.MaxInstances,
		Fanout:           rt.cfg.Delivery == natstransport.DeliveryCore,
		Logger:           rt.log,
		Metrics:          rt.cfg.Metrics,
		TracerProvider:   rt.cfg.TracerProvider,
	})
	rt.current.Store(rt.engine)
	defer rt.current.Store(nil)
	rt.stopping.Store(false)
	first := rt.deployCount.Load() == 0

	hctx, stopHold := context.WithCancel(context.WithoutCancel(ctx))
	holdDone := make(chan struct{})
	var holdErr error
	go func() {
		defer close(holdDone)
		holdErr = rt.lease.hold(hctx)
	}()
	// From here on, everything started is stopped by shutdown. Active
	// from the start of boot, which may hand the first message to the
	// engine before it returns.
	rt.lease.setRole(RoleActive)
	sctx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	s := &runState{rt: rt, stopLoops: stopLoops, fatal: make(chan error, len(rt.types))}
	if err := rt.boot(ctx, sctx, s); err != nil {
		rt.shutdown(ctx, s)
		stopHold()
		<-holdDone
		if holdErr == nil {
			rt.lease.release(ctx)
		}
		if ctx.Err() == nil {
			rt.log.LogAttrs(ctx, slog.LevelError, "boot failed", slog.Any("err", err))
			rt.report(ctx, statusFailed, err.Error())
		}
		return nil, fmt.Errorf("runtime: boot: %w", err)
	}
	if first {
		rt.deployCount.Store(1)
	}
	rt.log.LogAttrs(ctx, slog.LevelInfo, "runtime ready",
		slog.String("deployment", rt.cfg.DeploymentID), slog.Any("actor_types", rt.names))
	rt.announceReady(ctx)
	if first {
		// After the notice has reached nats-server: a gateway started once
		// Ready is closed must not get it late and take this boot for a
		// restart, sending its sessions' subscriptions again.
		close(rt.ready)
	}

	reportDone := make(chan struct{})
	reportCtx, cancelReport := context.WithCancel(ctx)
	go func() {
		defer close(reportDone)
		rt.report(reportCtx, statusReady, "")
	}()

	select {
	case <-ctx.Done():
	case err = <-s.fatal:
		rt.log.LogAttrs(ctx, slog.LevelError, "runtime stopping", slog.Any("err", err))
	case <-holdDone:
		lost = holdErr
		rt.log.LogAttrs(ctx, slog.LevelError, "lease lost: stopping consumption", slog.Any("err", lost))
	}
	cancelReport()
	<-reportDone
	rt.lease.setRole(RoleDraining)
	rt.shutdown(ctx, s)
	stopHold()
	<-holdDone
	switch {
	case lost != nil:
	case holdErr != nil: // lost while draining
		rt.log.LogAttrs(ctx, slog.LevelWarn, "lease lost while draining", slog.Any("err", holdErr))
		if ctx.Err() == nil && err == nil {
			lost = holdErr
		}
	default:
		rt.lease.release(ctx)
	}
	return lost, err
}

// infoTimeout bounds the consumer info requests of shutdown.
const infoTimeout = 2 * time.Second

// runState is what one Run started and shutdown stops.
type runState struct {
	rt        *Runtime
	loops     []*consumeLoop
	wg        sync.WaitGroup     // consumeLoop.supervise goroutines and the session sweep
	stopLoops context.CancelFunc // stops the supervisors
	fatal     chan error         // a supervisor that cannot go on

	sub     *nats.Subscription
	subDone chan struct{}
	alive   *nats.Subscription // DeliveryCore: session.alive, for the sweep
}

// boot runs the boot sequence. The consumer supervisors run
// until sctx is cancelled.
func (rt *Runtime) boot(ctx, sctx context.Context, s *runState) error {
	if err := natstransport.EnsureStreams(ctx, rt.js, rt.cfg.Streams); err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			return fmt.Errorf("JetStream is not enabled on the NATS server: %w", err)
		}
		return err
	}
	consumers := make([]jetstream.Consumer, len(rt.types))
	for i, t := range rt.types {
		c, err := natstransport.EnsureConsumer(ctx, rt.js, natstransport.InboundStream, t.consumer)
		if err == nil {
			c, err = t.reclaim(ctx, c)
		}
		if err != nil {
			return err
		}
		consumers[i] = c
	}
	s.subDone = make(chan struct{})
	sub, err := rt.cfg.NATS.Subscribe(rt.discon, rt.onDisconnected)
	if err != nil {
		close(s.subDone)
		return fmt.Errorf("subscribe %s: %w", rt.discon, err)
	}
	sub.SetClosedHandler(func(string) { close(s.subDone) })
	s.sub = sub
	if rt.cfg.Delivery == natstransport.DeliveryCore && rt.cfg.SessionSweep > 0 {
		if s.alive, err = rt.cfg.NATS.Subscribe(rt.aliveS, rt.onAlive); err != nil {
			return fmt.Errorf("subscribe %s: %w", rt.aliveS, err)
		}
	}
	for i, t := range rt.types {
		l := &consumeLoop{t: t}
		if err := l.start(consumers[i]); err != nil {
			return err
		}
		s.loops = append(s.loops, l)
	}
	for _, l := range s.loops {
		s.wg.Add(1)
		go l.supervise(sctx, s)
	}
	if rt.cfg.SessionSweep > 0 {
		s.wg.Go(func() { rt.sweepSessions(sctx) })
	}
	rt.fabricOK.Store(true)
	s.wg.Go(func() { rt.watchFabric(sctx, s) })
	return nil
}

// shutdown stops what boot started, in order: intake,
// in-flight work, OnDeactivate, publishes and acks, subscriptions.
func (rt *Runtime) shutdown(ctx context.Context, s *runState) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rt.cfg.DrainTimeout)
	defer cancel()
	start := time.Now()
	if rt.deployCount.Load() > 0 {
		rt.log.LogAttrs(ctx, slog.LevelInfo, "draining", slog.Duration("drain_timeout", rt.cfg.DrainTimeout))
	}

	s.stopLoops()
	s.wg.Wait() // supervisors and the sweep return promptly once stopped
	for _, l := range s.loops {
		l.current().Drain() // stop pulling; buffered messages still reach the handler
	}
	for _, l := range s.loops {
		cc := l.current()
		select {
		case <-cc.Closed():
		case <-dctx.Done():
			cc.Stop() // drops what is still buffered; JetStream redelivers it
			waitOrLog(ctx, rt.log, cc.Closed(), "consumer stop")
		}
	}
	rt.stopping.Store(true)

	clean := true
	if err := rt.engine.Close(dctx); err != nil {
		clean = false
		rt.log.LogAttrs(ctx, slog.LevelWarn, "drain timeout: calls still running are abandoned",
			slog.Duration("drain_timeout", rt.cfg.DrainTimeout))
	}
	if !rt.pub.close(dctx) {
		clean = false
	}
	if rt.flight.len() > 0 {
		// nats-server moves a redelivery it popped for a pull request
		// whose subscriber is gone (ours, just drained) to the back of
		// its redelivery queue, which would swap the first two messages
		// nak'd below. A consumer info request makes it drop such
		// requests first, so the naks keep stream order.
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), infoTimeout)
		for _, l := range s.loops {
			if _, err := l.consumer().Info(ictx); err != nil {
				rt.log.LogAttrs(ctx, slog.LevelDebug, "consumer info before naks", slog.Any("err", err))
			}
		}
		cancel()
	}
	if n := rt.flight.nakAll(); n > 0 {
		clean = false
		rt.log.LogAttrs(ctx, slog.LevelWarn, "unfinished inbound messages nak'd for redelivery", slog.Int("count", n))
	}

	if s.alive != nil {
		if err := s.alive.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) &&
			!errors.Is(err, nats.ErrBadSubscription) {
			rt.log.LogAttrs(ctx, slog.LevelWarn, "unsubscribe", slog.String("subject", rt.aliveS), slog.Any("err", err))
		}
	}
	if s.sub != nil {
		if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) &&
			!errors.Is(err, nats.ErrBadSubscription) {
			rt.log.LogAttrs(ctx, slog.LevelWarn, "unsubscribe", slog.String("subject", rt.discon), slog.Any("err", err))
		}
		waitOrLog(ctx, rt.log, s.subDone, "unsubscribe") // the closed handler runs last in the subscription's goroutine
	}
	if nc := rt.cfg.NATS; !nc.IsClosed() {
		// The last acks and naks are buffered in the connection: hand them
		// to the server before Run returns (and the caller may close it).
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), infoTimeout)
		if err := nc.FlushWithContext(fctx); err != nil {
			rt.log.LogAttrs(ctx, slog.LevelWarn, "flush", slog.Any("err", err))
		}
		cancel()
	}
	rt.js.CleanupPublisher() // drop the async-publish reply subscription on the caller's connection
	for _, t := range rt.types {
		t.unreport()
	}
	if rt.deployCount.Load() > 0 {
		rt.log.LogAttrs(ctx, slog.LevelInfo, "runtime stopped", slog.Bool("clean", clean),
			slog.Duration("took", time.Since(start)))
	}
}

// onDisconnected handles a session.disconnected notice: every instance the
// session touched runs OnDisconnect and forgets it.
func (rt *Runtime) onDisconnected(m *nats.Msg) {
	n, err := natstransport.DecodeSessionDisconnected(m.Data)
	if err != nil {
		rt.log.LogAttrs(context.Background(), slog.LevelWarn, "malformed session.disconnected notice ignored",
			slog.String("subject", m.Subject), slog.Any("err", err))
		return
	}
	if n.Scope != rt.cfg.Scope {
		rt.log.LogAttrs(context.Background(), slog.LevelWarn, "session.disconnected notice for another scope ignored",
			slog.String("session_id", n.SessionID), slog.String("notice_ws", n.Scope.WorkspaceID),
			slog.String("notice_proj", n.Scope.ProjectID))
		return
	}
	rt.log.LogAttrs(context.Background(), slog.LevelDebug, "session disconnected", slog.String("session_id", n.SessionID))
	rt.engine.Disconnect(n.SessionID)
	rt.pub.forget(n.SessionID)
}

// waitOrLog waits for done, at most infoTimeout; nats.go closes such
// channels promptly, so the bound only guards against a missed callback.
func waitOrLog(ctx context.Context, log *slog.Logger, done <-chan struct{}, what string) {
	timer := time.NewTimer(infoTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		log.LogAttrs(ctx, slog.LevelWarn, what+" did not complete", slog.Duration("waited", infoTimeout))
	}
}

// announceReady tells gateways that this runtime booted with no sessions
// and no subscriptions: they send their sessions' subscriptions of the
// scope again, so that clients get fresh snapshots rather than stay open
// and deaf. Core NATS, at most once: a gateway that misses it only misses
// a restart. It returns once nats-server has the notice (or after
// infoTimeout).
func (rt *Runtime) announceReady(ctx context.Context) {
	body, err := json.Marshal(natstransport.RuntimeReady{
		Scope: rt.cfg.Scope, DeploymentID: rt.cfg.DeploymentID, ActorTypes: rt.names, ReadyAt: time.Now().UnixMilli(),
	})
	if err == nil {
		err = rt.cfg.NATS.Publish(rt.readyS, body)
	}
	if err == nil {
		err = rt.cfg.NATS.FlushTimeout(infoTimeout)
	}
	if err != nil {
		rt.log.LogAttrs(ctx, slog.LevelWarn, "announce ready", slog.String("subject", rt.readyS), slog.Any("err", err))
	}
}
