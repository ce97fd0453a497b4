package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/inspect"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/runtime"
	"github.com/zocket-go/zocket/wsconfig"
)

const defaultNATSURL = "nats://localhost:4222"

func runtimeCommand(app *zocket.App) func(context.Context, Env, []string) error {
	return func(ctx context.Context, env Env, args []string) error {
		f := newFlags(env, "runtime", "Runs the app's actors on NATS JetStream: one durable consumer per actor type, GET /health on the API port.")
		role := f.roleFlags(defaultNATSURL, true)
		deployment := f.String("deployment", "DEPLOYMENT_ID", runtime.DefaultDeploymentID, "deployment id reported in /health")
		apiPort := f.String("api-port", "API_PORT", "8080", "port of the runtime's HTTP API (/health)")
		sweepFlag := f.String("session-sweep", "SESSION_SWEEP", runtime.DefaultSessionSweep.String(),
			"how often to check that a gateway still holds each session (a dead gateway's sessions expire); 0 turns it off")
		leaseFlag := f.String("lease-ttl", "LEASE_TTL", runtime.DefaultLeaseTTL.String(),
			"one runtime serves a workspace/project; others wait as standbys and take over this long after the serving one went silent (at once when it stops gracefully)")
		apiHost := f.String("api-host", "API_HOST", "", "interface of the runtime's HTTP API (empty: all)")
		actorLimits := f.actorLimitFlags()
		startMetrics := f.metricsFlag("")
		secure := f.tlsFlags()
		adminToken := f.adminTokenFlag(true)
		if ok, err := f.parse(args); !ok {
			return err
		}
		limits, err := actorLimits()
		if err != nil {
			return err
		}
		leaseTTL, err := time.ParseDuration(*leaseFlag)
		if err != nil || leaseTTL < runtime.MinLeaseTTL || leaseTTL > runtime.MaxLeaseTTL {
			return fmt.Errorf("%w: -lease-ttl %q: want a duration from %v to %v, such as 5s", ErrUsage, *leaseFlag, runtime.MinLeaseTTL, runtime.MaxLeaseTTL)
		}
		sweep, err := time.ParseDuration(*sweepFlag)
		if err != nil || sweep < 0 {
			return fmt.Errorf("%w: -session-sweep %q: want a duration such as 30s, or 0", ErrUsage, *sweepFlag)
		}
		if sweep == 0 {
			sweep = -1 // off; runtime.Config's zero means the default
		}
		rc, err := role()
		if err != nil {
			return err
		}
		defer rc.stopDebug()
		lis, err := secure(rc.log)
		if err != nil {
			return err
		}
		ms, err := startMetrics(rc.log)
		if err != nil {
			return err
		}
		defer ms.stop()
		nc, err := connectNATS(rc.natsURL, "zocket-runtime", rc.log, rc.natsOpts...)
		if err != nil {
			return err
		}
		defer nc.Close()
		rt, err := runtime.New(app, runtime.Config{
			NATS: nc, Scope: rc.scope, Streams: rc.streams, DeploymentID: *deployment, SessionSweep: sweep, Delivery: rc.delivery, LeaseTTL: leaseTTL,
			MaxInstances: limits.instances, MaxSubscriptions: limits.subscriptions, CallTimeout: limits.handlerTimeout,
			ControlPlaneURL: rc.cpURL, ControlPlaneToken: rc.cpToken, Logger: rc.log, Metrics: ms.m, TracerProvider: rc.tracer,
		})
		if err != nil {
			return err
		}
		ln, err := lis.listen(net.JoinHostPort(*apiHost, *apiPort))
		if err != nil {
			return fmt.Errorf("API port: %w", err)
		}
		fmt.Fprintf(env.Stdout, "zocket runtime: %s/%s on %s, actor types %s, health at %s://%s/health\n",
			rc.scope.WorkspaceID, rc.scope.ProjectID, nc.ConnectedUrlRedacted(), strings.Join(app.ActorTypes(), ", "),
			lis.scheme("http", "https"), displayAddr(ln.Addr()))
		api := rt.Handler()
		if *adminToken != "" { // never without: the inspector shows every instance's state
			api = mountInspector(rt.Engine, *adminToken, api)
			fmt.Fprintf(env.Stdout, "inspector at %s://%s%s (admin token required)\n", lis.scheme("http", "https"), displayAddr(ln.Addr()), inspect.Prefix)
		}
		ms.announce(env)
		return runAll(ctx,
			func(ctx context.Context) error { return rt.Run(ctx) },
			func(ctx context.Context) error { return serveHTTP(ctx, ln, api) },
		)
	}
}

// GatewayCommand returns the app-independent gateway subcommand. pages, if
// not nil, is served for plain HTTP requests.
func GatewayCommand(pages http.Handler) Command {
	return Command{
		Summary: "run a WebSocket gateway to NATS JetStream (runs no actor code)",
		Run: printingUsage("gateway", func(ctx context.Context, env Env, args []string) error {
			f := newFlags(env, "gateway", "Terminates WebSockets at / and relays frames through NATS JetStream; GET /health.")
			port := f.String("port", "PORT", "3000", "TCP port to listen on")
			host := f.String("host", "HOST", "", "interface to listen on (empty: all)")
			webSocket := f.webSocketFlags()
			callTimeout := f.String("call-timeout", "CALL_TIMEOUT", gateway.DefaultCallTimeout.String(),
				"answer a call with a timeout error when no result came within this long (it may or may not have run); 0 waits forever")
			role := f.roleFlags(defaultNATSURL, false)
			startMetrics := f.metricsFlag("")
			newFront := f.frontFlags(true)
			if ok, err := f.parse(args); !ok {
				return err
			}
			ws, err := webSocket()
			if err != nil {
				return err
			}
			ct, err := time.ParseDuration(*callTimeout)
			if err != nil || ct < 0 {
				return fmt.Errorf("%w: -call-timeout %q: want a duration such as 30s, or 0", ErrUsage, *callTimeout)
			}
			if ct == 0 {
				ct = -1 // forever; gateway.Config's zero means the default
			}
			rc, fr, ms, stop, err := startFront(role, newFront, startMetrics)
			if err != nil {
				return err
			}
			defer stop()
			nc, err := connectNATS(rc.natsURL, "zocket-gateway", rc.log, rc.natsOpts...)
			if err != nil {
				return err
			}
			defer nc.Close()
			cfg := gatewayConfig(rc, fr, ms, nc, ws, pages)
			cfg.CallTimeout = ct
			gw, err := gateway.New(cfg)
			if err != nil {
				return err
			}
			ln, err := fr.listen(net.JoinHostPort(*host, *port))
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "zocket gateway: %s://%s/ via %s\n", fr.scheme("ws", "wss"), displayAddr(ln.Addr()), nc.ConnectedUrlRedacted())
			ms.announce(env)
			return gw.Serve(ctx, ln)
		}),
	}
}

// startFront reads the role's configuration and starts what a command
// serving WebSockets in the distributed shape (gateway, dev) runs before
// NATS: the front (authentication, TLS) and the metrics listener. stop
// undoes all of it; on error nothing is left running.
func startFront(role func() (roleConfig, error), newFront func(*slog.Logger) (front, error),
	startMetrics func(*slog.Logger) (*metricsServer, error)) (rc roleConfig, fr front, ms *metricsServer, stop func(), err error) {
	if rc, err = role(); err != nil {
		return rc, fr, nil, nil, err
	}
	if fr, err = newFront(rc.log); err != nil {
		rc.stopDebug()
		return rc, fr, nil, nil, err
	}
	if ms, err = startMetrics(rc.log); err != nil {
		fr.close()
		rc.stopDebug()
		return rc, fr, nil, nil, err
	}
	return rc, fr, ms, func() { ms.stop(); fr.close(); rc.stopDebug() }, nil
}

// gatewayConfig is the gateway's configuration in both commands that run
// one (gateway, dev), from the role, the front and the metrics, over nc.
func gatewayConfig(rc roleConfig, fr front, ms *metricsServer, nc *nats.Conn, ws wsconfig.Settings, pages http.Handler) gateway.Config {
	return gateway.Config{
		NATS: nc, Streams: rc.streams, Scope: rc.scope, Delivery: rc.delivery, Logger: rc.log,
		WebSocket: ws, Pages: pages, Authenticator: fr.authn, ControlPlaneURL: fr.cpURL, ControlPlaneToken: fr.cpToken,
		Metrics: ms.m, TracerProvider: rc.tracer,
	}
}

// roleConfig is what the distributed roles read from flags and environment.
type roleConfig struct {
	log            *slog.Logger
	streams        natstransport.StreamSettings
	scope          natstransport.Scope
	natsURL        string
	natsOpts       []nats.Option // credentials and TLS (NATSAuth)
	delivery       natstransport.Delivery
	cpURL, cpToken string
	// stopDebug stops the -debug-addr server; the command defers it.
	stopDebug func()
	// tracer is -otlp-endpoint's exporter (nil: tracing off); stopDebug
	// flushes and stops it too.
	tracer trace.TracerProvider
}

// roleFlags adds the flags every distributed role shares. An empty
// natsDefault means the embedded server (dev).
func (f *flags) roleFlags(natsDefault string, controlPlane bool) func() (roleConfig, error) {
	natsUsage := "NATS server URL(s), comma-separated"
	if natsDefault == "" {
		natsUsage = "use this NATS server instead of the embedded one"
	}
	natsURL := f.String("nats", "NATS_URL", natsDefault, natsUsage)
	natsAuth := AddNATSAuthFlags(f.FlagSet, f.env.Getenv)
	ws := f.String("workspace", "WORKSPACE_ID", runtime.DefaultWorkspaceID, "workspace id (the gateway uses it without a control plane)")
	proj := f.String("project", "PROJECT_ID", runtime.DefaultProjectID, "project id (the gateway uses it without a control plane)")
	var cpURL, cpToken *string
	if controlPlane {
		cpURL = f.String("control-plane", "CONTROL_PLANE_URL", "", "control plane base URL (empty: none; dev scope, no authorization)")
		cpToken = f.String("control-plane-token", "CONTROL_PLANE_INTERNAL_TOKEN", "", "bearer token for the control plane")
	}
	delivery := f.String("delivery", "DELIVERY", string(natstransport.DeliveryCore),
		"how frames reach gateways: core (core NATS subscriptions, one message per change) or consumer (one ordered consumer per session); gateways and runtimes must agree")
	streams := f.streamFlags()
	newLogger := f.logFlags()
	startDebug := f.debugFlag()
	setGC := f.gcFlag()
	newTracer := f.traceFlags()
	return func() (rc roleConfig, err error) {
		if err := setGC(); err != nil {
			return rc, err
		}
		rc = roleConfig{natsURL: *natsURL, scope: natstransport.Scope{WorkspaceID: *ws, ProjectID: *proj}}
		if rc.natsURL == "" && !natsAuth.IsZero() {
			return rc, fmt.Errorf("%w: the NATS credentials and TLS flags are for a server given with -nats (NATS_URL); the embedded one needs none", ErrUsage)
		}
		if rc.natsOpts, err = natsAuth.Options(); err != nil {
			return rc, err
		}
		if rc.log, err = newLogger(); err != nil {
			return rc, err
		}
		if rc.streams, err = streams(); err != nil {
			return rc, err
		}
		if rc.delivery, err = natstransport.ParseDelivery(*delivery); err != nil {
			return rc, fmt.Errorf("%w: -delivery: %v", ErrUsage, err)
		}
		if controlPlane {
			rc.cpURL, rc.cpToken = *cpURL, *cpToken
		}
		tp, stopTrace, err := newTracer(strings.ReplaceAll(f.Name(), " ", "-"), rc.log)
		if err != nil {
			return rc, err
		}
		stopDebug, err := startDebug(rc.log) // last: nothing can fail after it
		if err != nil {
			stopTrace()
			return rc, err
		}
		rc.tracer, rc.stopDebug = tp, func() { stopDebug(); stopTrace() }
		return rc, nil
	}
}

func devCommand(app *zocket.App, opts *Options) func(context.Context, Env, []string) error {
	return func(ctx context.Context, env Env, args []string) error {
		f := newFlags(env, "dev", "Starts NATS with JetStream in-process (unless NATS_URL is set), a gateway and the runtime, on localhost.")
		port := f.String("port", "PORT", "3000", "gateway port (WebSocket at /, pages, /health, runtime health at /runtime/health)")
		natsPort := f.String("nats-port", "NATS_PORT", "4222", "port of the embedded NATS server (0: any free port)")
		dataDir := f.String("data-dir", "DATA_DIR", "", "JetStream store directory of the embedded server (empty: a temporary one)")
		role := f.roleFlags("", false)
		webSocket := f.webSocketFlags()
		actorLimits := f.actorLimitFlags()
		newFront := f.frontFlags(true)
		adminToken := f.adminTokenFlag(false)
		startMetrics := f.metricsFlag(devMetricsAddr)
		if ok, err := f.parse(args); !ok {
			return err
		}
		ws, err := webSocket()
		if err != nil {
			return err
		}
		limits, err := actorLimits()
		if err != nil {
			return err
		}
		rc, fr, ms, stop, err := startFront(role, newFront, startMetrics)
		if err != nil {
			return err
		}
		defer stop()
		log, settings, scope := rc.log, rc.streams, rc.scope
		url := rc.natsURL
		if url == "" {
			var p int
			if _, err := fmt.Sscan(*natsPort, &p); err != nil {
				return fmt.Errorf("%w: -nats-port %q: not a number", ErrUsage, *natsPort)
			}
			// nats-server's notices (its banner) would drown the roles' logs.
			natsLog := slog.New(minLevel{log.Handler(), slog.LevelWarn}).With("component", "nats")
			srv, err := natsembed.Run(natsembed.Options{Port: p, StoreDir: *dataDir, Logger: natsLog})
			if err != nil {
				return fmt.Errorf("start embedded NATS: %w (set -nats-port 0 for any free port, or NATS_URL to use a running server)", err)
			}
			defer srv.Shutdown()
			url = srv.ClientURL()
		}
		// Separate connections, as in production: the gateway's traffic
		// never queues behind the runtime's.
		gwConn, err := connectNATS(url, "zocket-dev-gateway", log, rc.natsOpts...)
		if err != nil {
			return err
		}
		defer gwConn.Close()
		rtConn, err := connectNATS(url, "zocket-dev-runtime", log, rc.natsOpts...)
		if err != nil {
			return err
		}
		defer rtConn.Close()
		rt, err := runtime.New(app, runtime.Config{NATS: rtConn, Scope: scope, Streams: settings, DeploymentID: "dev",
			Delivery: rc.delivery, Logger: log, MaxInstances: limits.instances, MaxSubscriptions: limits.subscriptions,
			CallTimeout: limits.handlerTimeout, Metrics: ms.m, TracerProvider: rc.tracer})
		if err != nil {
			return err
		}
		ln, err := fr.listen(net.JoinHostPort("localhost", *port))
		if err != nil {
			return err
		}
		defer ln.Close()

		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		rtDone := make(chan error, 1)
		go func() { rtDone <- rt.Run(ctx) }()
		select { // the gateway checks for the runtime's consumers, so boot it first
		case <-rt.Ready():
		case err := <-rtDone:
			return fmt.Errorf("runtime: %w", err)
		}
		gw, err := gateway.New(gatewayConfig(rc, fr, ms, gwConn, ws, opts.Pages))
		if err != nil {
			cancel()
			<-rtDone
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/runtime/", http.StripPrefix("/runtime", rt.Handler()))
		mux.Handle(inspect.Prefix, mountInspector(rt.Engine, *adminToken, nil))
		mux.Handle("/", gw.Handler())
		addr := displayAddr(ln.Addr())
		metricsURL := ms.url
		if metricsURL == "" {
			metricsURL = "off"
		}
		fmt.Fprintf(env.Stdout, `zocket dev is running
  open       %[6]s://%[1]s/            (counter, chat, canvas demos)
  websocket  %[7]s://%[1]s/
  health     %[6]s://%[1]s/health   %[6]s://%[1]s/runtime/health   %[6]s://%[1]s/ready
  inspector  %[6]s://%[1]s/_inspect/
  metrics    %[8]s
  NATS       %[2]s   (try: nats --server %[2]s stream ls)
  scope      %[3]s/%[4]s, actor types %[5]s
Press Ctrl-C to stop.
`, addr, url, scope.WorkspaceID, scope.ProjectID, strings.Join(app.ActorTypes(), ", "), fr.scheme("http", "https"), fr.scheme("ws", "wss"), metricsURL)
		gwErr := serveGateway(ctx, gw, ln, mux)
		cancel()
		rtErr := <-rtDone
		return errors.Join(gwErr, rtErr)
	}
}

// serveGateway serves handler (the gateway's plus extra routes) on ln until
// ctx is done, then shuts the gateway down (closing its sockets with 1001)
// and the HTTP server.
func serveGateway(ctx context.Context, gw *gateway.Gateway, ln net.Listener, h http.Handler) error {
	return runAll(ctx, func(ctx context.Context) error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		return gw.Shutdown(sctx)
	}, func(ctx context.Context) error {
		return serveHTTP(ctx, ln, h)
	})
}

// serveHTTP serves h on ln until ctx is done, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// runAll runs fns until ctx is done or one of them fails, then cancels the
// rest and waits for all of them.
func runAll(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx)
			cancel()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// minLevel drops records below min; everything else goes to the handler.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(attrs), m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.min}
}
