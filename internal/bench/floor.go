package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// Floor kinds.
const (
	// FloorEcho is the standalone shape's floor: a bare WebSocket echo.
	FloorEcho = "echo"
	// FloorJetStream is the floor of the distributed shape with
	// natstransport.DeliveryConsumer: replies read with one ordered
	// consumer per client.
	FloorJetStream = "jetstream"
	// FloorJetStreamCore is the floor of the distributed shape with
	// natstransport.DeliveryCore: replies stored in JetStream as before,
	// but read through one core NATS subscription per client.
	FloorJetStreamCore = "jetstream-core"
)

// floorKinds lists the floor kinds for messages.
const floorKinds = "echo, jetstream or jetstream-core"

// ValidFloorKind reports whether kind is one of the floor kinds.
func ValidFloorKind(kind string) bool {
	switch kind {
	case FloorEcho, FloorJetStream, FloorJetStreamCore:
		return true
	}
	return false
}

// FloorConfig configures [Floor].
type FloorConfig struct {
	// Kind is FloorEcho, FloorJetStream or FloorJetStreamCore; required.
	Kind string
	// NATSURL is the NATS server of the JetStream floors. Empty means an
	// embedded nats-server in this process (natsembed.Run). The floor
	// creates its own two streams (BENCH_IN_*, BENCH_OUT_*) there and
	// deletes them at the end; it never touches INBOUND or OUTBOUND.
	NATSURL string
	// NATSOptions are extra nats.Connect options for NATSURL: credentials
	// and TLS (cli.NATSAuth.Options). They need NATSURL: the embedded
	// server has no authentication.
	NATSOptions []nats.Option
	// EchoURL is a running echo server for FloorEcho (such as "zocket bench
	// echo" in another process, so that the floor has the same process
	// layout as the server it is compared with). Empty means an EchoServer
	// in this process.
	EchoURL string
	// Load is the same call loop as the rpc mode's: the same clients,
	// duration, rate and frame.
	Load
	Options
}

// Floor measures what the same call loop reaches without a Zocket server:
//
//   - FloorEcho: a bare coder/websocket echo server in this process; each
//     client sends the rpc mode's frame and waits for it to come back. It is
//     the floor of the standalone shape.
//   - FloorJetStream: the distributed shape's two hops without the gateway
//     and runtime. Each client publishes the inbound envelope of its rpc
//     frame to a memory WorkQueue stream and waits for the publish ack; one
//     worker consumes that stream (explicit ack, max ack pending 256, as the
//     runtime's consumer), publishes an outbound envelope with an
//     rpc:result to a memory Limits stream (async, acking the inbound
//     message once the publish is acknowledged) and each client reads its
//     reply with its own ordered consumer, as the gateway does per session
//     with natstransport.DeliveryConsumer.
//   - FloorJetStreamCore: the same two hops and the same worker, but each
//     client reads its reply through a plain core NATS subscription on its
//     outbound subject (one per client, all on the callers' one
//     connection, made before the first call), as the gateway does with
//     natstransport.DeliveryCore: the reply is still stored in the
//     outbound stream, whose publish ack the worker awaits before acking
//     the inbound message, but no consumer delivers it.
//
// The floor server runs in the tool's process, so Report.CPU covers both
// sides. Errors and timing are as for [RPC].
func Floor(ctx context.Context, cfg FloorConfig) (*Report, error) {
	load, err := cfg.Load.withDefaults()
	if err != nil {
		return nil, err
	}
	opts, err := cfg.Options.withDefaults()
	if err != nil {
		return nil, err
	}
	switch cfg.Kind {
	case FloorEcho:
		return echoFloor(ctx, load, opts, cfg.EchoURL)
	case FloorJetStream, FloorJetStreamCore:
		if cfg.NATSURL == "" && len(cfg.NATSOptions) > 0 {
			return nil, fmt.Errorf("bench: %w: NATS credentials and TLS options need a NATS URL: the embedded server has no authentication", protocol.ErrInvalidOption)
		}
		return jetStreamFloor(ctx, load, opts, cfg.NATSURL, cfg.NATSOptions, cfg.Kind)
	case "":
		return nil, fmt.Errorf("bench: %w: floor kind is required: %s", protocol.ErrInvalidOption, floorKinds)
	}
	return nil, fmt.Errorf("bench: %w: floor kind %q: want %s", protocol.ErrInvalidOption, cfg.Kind, floorKinds)
}

// EchoServer is a bare WebSocket echo server on a loopback port: every text
// or binary message is written back unchanged. It is the standalone floor.
type EchoServer struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	mu   sync.Mutex
	conn map[*websocket.Conn]struct{}
	wg   sync.WaitGroup
	done chan struct{}
}

// StartEchoServer starts an EchoServer listening on addr; empty means
// 127.0.0.1 at a random port. The caller must Close it.
func StartEchoServer(addr string) (*EchoServer, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: echo server: %w", err)
	}
	e := &EchoServer{ln: ln, url: "ws://" + ln.Addr().String() + "/", conn: map[*websocket.Conn]struct{}{}, done: make(chan struct{})}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second}
	e.wg.Go(func() { _ = e.srv.Serve(ln) })
	return e, nil
}

// URL returns the server's ws:// URL.
func (e *EchoServer) URL() string { return e.url }

func (e *EchoServer) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(maxFrame)
	e.mu.Lock()
	select {
	case <-e.done:
		e.mu.Unlock()
		_ = ws.CloseNow()
		return
	default:
	}
	e.conn[ws] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conn, ws)
		e.mu.Unlock()
		_ = ws.CloseNow()
		e.wg.Done()
	}()
	ctx := context.Background() // no per-frame timers; Close ends the loop
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if err := ws.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// Close stops the server and drops every connection; it returns once every
// handler has returned.
func (e *EchoServer) Close() error {
	e.mu.Lock()
	select {
	case <-e.done:
		e.mu.Unlock()
		return nil
	default:
	}
	close(e.done)
	for c := range e.conn {
		_ = c.CloseNow()
	}
	e.mu.Unlock()
	err := e.srv.Close()
	e.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func echoFloor(ctx context.Context, load Load, opts Options, echoURL string) (*Report, error) {
	target := echoURL + " (coder/websocket echo server)"
	if echoURL == "" {
		srv, err := StartEchoServer("")
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		echoURL = srv.URL()
		target = "in-process coder/websocket echo server"
	} else {
		var err error
		if echoURL, err = normalizeURL(echoURL); err != nil {
			return nil, err
		}
	}
	r := newReport("floor", target, load)
	r.Kind = FloorEcho
	d := newDialer(echoURL, opts)
	conns, err := dialAll(ctx, d, load.Clients, false, opts, "floor echo")
	if err != nil {
		return nil, err
	}
	callers := make([]caller, len(conns))
	for i, c := range conns {
		rc := newRPCCaller(c, load, i)
		callers[i] = &echoCaller{rpcCaller: rc}
	}
	r.FrameBytes = callers[0].(*echoCaller).frameLen(1)
	l := &loop{load: load, opts: opts, callers: callers}
	err = l.run(ctx, "floor echo", r)
	return r, err
}

// echoCaller sends the rpc frame and reads back one message.
type echoCaller struct{ *rpcCaller }

func (e *echoCaller) call(seq uint64) (bool, string, error) {
	r := e.rpcCaller
	r.id = strconv.AppendUint(r.id[:0], seq, 10)
	r.frame = append(append(append(r.frame[:0], r.prefix...), r.id...), r.suffix...)
	if err := r.c.write(r.frame); err != nil {
		return false, "", err
	}
	data, err := r.c.read()
	if err != nil {
		return false, "", err
	}
	if len(data) != len(r.frame) {
		return false, "", fmt.Errorf("%w: echo of %d bytes for %d sent", ErrProtocol, len(data), len(r.frame))
	}
	return false, "", nil
}

// jsTimeout bounds each JetStream API request of the floor's setup.
const jsTimeout = 10 * time.Second

// floorScope is the scope written into the floor's envelopes, so they are
// as large as the real ones.
var floorScope = natstransport.Scope{WorkspaceID: "local-workspace", ProjectID: "local-project"}

func jetStreamFloor(ctx context.Context, load Load, opts Options, natsURL string, natsOpts []nats.Option, kind string) (*Report, error) {
	core := kind == FloorJetStreamCore
	target := natsURL
	if natsURL == "" {
		srv, err := natsembed.Run(natsembed.Options{})
		if err != nil {
			return nil, fmt.Errorf("bench: embedded nats-server: %w", err)
		}
		defer srv.Shutdown()
		natsURL = srv.ClientURL()
		target = "in-process nats-server (embedded, JetStream memory streams)"
	}
	connect := func(name string) (*nats.Conn, error) {
		nc, err := nats.Connect(natsURL, append([]nats.Option{nats.Name(name), nats.Timeout(opts.ConnectTimeout), nats.MaxReconnects(0)}, natsOpts...)...)
		if err != nil {
			return nil, fmt.Errorf("%w: NATS %s: %v", ErrUnreachable, natsURL, err)
		}
		return nc, nil
	}
	// Two connections, as the gateway and the runtime have their own.
	callerNC, err := connect("bench-floor-callers")
	if err != nil {
		return nil, err
	}
	defer callerNC.Close()
	workerNC, err := connect("bench-floor-worker")
	if err != nil {
		return nil, err
	}
	defer workerNC.Close()
	js, err := jetstream.New(callerNC)
	if err != nil {
		return nil, err
	}
	wjs, err := jetstream.New(workerNC, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, err
	}

	var tok [6]byte
	_, _ = rand.Read(tok[:])
	run := hex.EncodeToString(tok[:])
	inCfg, err := natstransport.InboundStreamConfig(natstransport.StreamSettings{})
	if err != nil {
		return nil, err
	}
	outCfg, err := natstransport.OutboundStreamConfig(natstransport.StreamSettings{OutboundMaxConsumers: load.Clients + 16})
	if err != nil {
		return nil, err
	}
	inCfg.Name, inCfg.Subjects = "BENCH_IN_"+run, []string{"bench." + run + ".in.>"}
	outCfg.Name, outCfg.Subjects = "BENCH_OUT_"+run, []string{"bench." + run + ".out.>"}
	sctx, cancel := context.WithTimeout(ctx, jsTimeout)
	defer cancel()
	for _, sc := range []jetstream.StreamConfig{inCfg, outCfg} {
		if _, err := js.CreateStream(sctx, sc); err != nil {
			return nil, fmt.Errorf("bench: create stream %s: %w", sc.Name, err)
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jsTimeout)
			defer cancel()
			_ = js.DeleteStream(dctx, sc.Name)
		}()
	}
	ccfg, err := natstransport.RuntimeConsumerConfig(floorScope, "counter", 0)
	if err != nil {
		return nil, err
	}
	ccfg.Durable, ccfg.FilterSubject = "bench-"+run, "bench."+run+".in.>"
	cons, err := wjs.CreateConsumer(sctx, inCfg.Name, ccfg)
	if err != nil {
		return nil, fmt.Errorf("bench: create consumer: %w", err)
	}
	w := newFloorWorker(wjs, "bench."+run+".out.")
	cc, err := cons.Consume(w.handle, jetstream.PullMaxMessages(ccfg.MaxAckPending),
		jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	if err != nil {
		return nil, fmt.Errorf("bench: consume: %w", err)
	}
	defer w.stop(cc)

	r := newReport("floor", target, load)
	r.Kind = kind
	callers := make([]caller, load.Clients)
	defer func() {
		closeParallel(len(callers), func(i int) {
			if callers[i] != nil {
				callers[i].close()
			}
		})
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	var next int
	for range min(dialParallel, load.Clients) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				bad := firstErr != nil
				mu.Unlock()
				if i >= load.Clients || bad {
					return
				}
				var c *jsCaller
				var err error
				if core {
					c, err = newCoreCaller(callerNC, js, load, i, run)
				} else {
					c, err = newJSCaller(sctx, js, load, i, run, outCfg.Name)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil { // a nil *jsCaller in the interface would not compare nil
					callers[i] = c
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if core {
		// The server has every subscription before the first request: a
		// reply published before its subscription would be lost.
		if err := callerNC.FlushTimeout(jsTimeout); err != nil {
			return nil, fmt.Errorf("%w: NATS %s: flush subscriptions: %v", ErrUnreachable, natsURL, err)
		}
	}
	r.FrameBytes = len(callers[0].(*jsCaller).payload(1))
	l := &loop{load: load, opts: opts, callers: callers}
	err = l.run(ctx, "floor "+kind, r)
	return r, err
}

// floorWorker plays the runtime: reply to each inbound message on the
// caller's outbound subject, ack once the reply is stored.
type floorWorker struct {
	js     jetstream.JetStream
	prefix string
	reply  []byte
	acks   chan pendingAck
	quit   chan struct{}
	wg     sync.WaitGroup
}

type pendingAck struct {
	msg jetstream.Msg
	fut jetstream.PubAckFuture
}

func newFloorWorker(js jetstream.JetStream, outPrefix string) *floorWorker {
	w := &floorWorker{js: js, prefix: outPrefix, acks: make(chan pendingAck, 4096), quit: make(chan struct{})}
	w.reply = natstransport.AppendOutbound(nil, floorScope, "s0000000000000000000",
		protocol.AppendRPCResult(nil, "1000000", []byte("1000000")))
	w.wg.Go(w.acker)
	return w
}

func (w *floorWorker) handle(msg jetstream.Msg) {
	subj := msg.Subject()
	client := subj[strings.LastIndexByte(subj, '.')+1:]
	fut, err := w.js.PublishAsync(w.prefix+client, w.reply)
	if err != nil {
		_ = msg.Nak()
		return
	}
	select {
	case w.acks <- pendingAck{msg: msg, fut: fut}:
	case <-w.quit:
	}
}

func (w *floorWorker) acker() {
	for {
		var p pendingAck
		select {
		case p = <-w.acks:
		case <-w.quit:
			return
		}
		select {
		case <-p.fut.Ok():
			_ = p.msg.Ack()
		case <-p.fut.Err():
			_ = p.msg.Nak()
		case <-w.quit:
			return
		}
	}
}

func (w *floorWorker) stop(cc jetstream.ConsumeContext) {
	cc.Stop()
	t := time.NewTimer(jsTimeout)
	select {
	case <-cc.Closed():
	case <-t.C:
	}
	t.Stop()
	close(w.quit)
	w.wg.Wait()
}

// jsCaller publishes to the inbound stream and reads its replies with an
// ordered consumer (replies, cc) or a core NATS subscription (msgs, sub).
type jsCaller struct {
	js      jetstream.JetStream
	subject string
	env     []byte
	tmpl    natstransport.InboundEnvelope
	rpc     *rpcCaller
	replies chan struct{}            // ordered consumer; nil with a subscription
	cc      jetstream.ConsumeContext // ordered consumer
	msgs    chan *nats.Msg           // core subscription; nil with a consumer
	sub     *nats.Subscription       // core subscription
	done    chan struct{}
	once    sync.Once
}

// newCoreCaller makes a caller that reads its replies through a core NATS
// subscription on its outbound subject, delivered into a channel (no
// goroutine per subscription, as the gateway's). The caller flushes nc
// once every subscription is made.
func newCoreCaller(nc *nats.Conn, js jetstream.JetStream, load Load, i int, run string) (*jsCaller, error) {
	c := &jsCaller{
		js:      js,
		subject: fmt.Sprintf("bench.%s.in.%d", run, i),
		tmpl:    natstransport.InboundEnvelope{Scope: floorScope, SessionID: fmt.Sprintf("s%019d", i)},
		rpc:     newRPCCaller(nil, load, i),
		msgs:    make(chan *nats.Msg, 16), // one reply in flight; nats.go drops what does not fit
		done:    make(chan struct{}),
	}
	var err error
	if c.sub, err = nc.ChanSubscribe(fmt.Sprintf("bench.%s.out.%d", run, i), c.msgs); err != nil {
		return nil, fmt.Errorf("bench: subscribe to replies %d: %w", i, err)
	}
	return c, nil
}

func newJSCaller(ctx context.Context, js jetstream.JetStream, load Load, i int, run, outStream string) (*jsCaller, error) {
	c := &jsCaller{
		js:      js,
		subject: fmt.Sprintf("bench.%s.in.%d", run, i),
		tmpl:    natstransport.InboundEnvelope{Scope: floorScope, SessionID: fmt.Sprintf("s%019d", i)},
		rpc:     newRPCCaller(nil, load, i),
		replies: make(chan struct{}, 16),
		done:    make(chan struct{}),
	}
	cons, err := js.OrderedConsumer(ctx, outStream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{fmt.Sprintf("bench.%s.out.%d", run, i)},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: natstransport.DefaultOutboundInactiveThreshold,
	})
	if err != nil {
		return nil, fmt.Errorf("bench: ordered consumer %d: %w", i, err)
	}
	c.cc, err = cons.Consume(func(jetstream.Msg) {
		select {
		case c.replies <- struct{}{}:
		case <-c.done:
		}
	}, jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	if err != nil {
		return nil, fmt.Errorf("bench: consume replies %d: %w", i, err)
	}
	return c, nil
}

func (c *jsCaller) payload(seq uint64) []byte {
	r := c.rpc
	r.id = strconv.AppendUint(r.id[:0], seq, 10)
	r.frame = append(append(append(r.frame[:0], r.prefix...), r.id...), r.suffix...)
	c.tmpl.Message = r.frame
	c.env, _ = natstransport.AppendInbound(c.env[:0], c.tmpl) // the frame is valid JSON
	return c.env
}

func (c *jsCaller) call(seq uint64) (bool, string, error) {
	if _, err := c.js.Publish(context.Background(), c.subject, c.payload(seq)); err != nil {
		select {
		case <-c.done:
			return false, "", errClosed
		default:
		}
		return false, "", err
	}
	select {
	case <-c.replies: // nil with a core subscription
		return false, "", nil
	case <-c.msgs: // nil with an ordered consumer
		return false, "", nil
	case <-c.done:
		return false, "", errClosed
	}
}

func (c *jsCaller) close() {
	c.once.Do(func() {
		close(c.done)
		if c.cc != nil {
			c.cc.Stop()
		}
		if c.sub != nil {
			_ = c.sub.Unsubscribe()
		}
	})
}
