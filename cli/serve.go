package cli

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/inspect"
	"github.com/zocket-go/zocket/standalone"
)

func serveCommand(app *zocket.App, opts *Options) func(context.Context, Env, []string) error {
	return func(ctx context.Context, env Env, args []string) error {
		f := newFlags(env, "serve", "Serves the app from one process: WebSocket endpoint at /, GET /health.")
		port := f.String("port", "PORT", "3000", "TCP port to listen on")
		host := f.String("host", "HOST", "", "interface to listen on (empty: all)")
		webSocket := f.webSocketFlags()
		actorLimits := f.actorLimitFlags()
		newLogger := f.logFlags()
		startDebug := f.debugFlag()
		setGC := f.gcFlag()
		startMetrics := f.metricsFlag("")
		newFront := f.frontFlags(false)
		adminToken := f.adminTokenFlag(false)
		newTracer := f.traceFlags()
		if ok, err := f.parse(args); !ok {
			return err
		}
		if err := setGC(); err != nil {
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
		log, err := newLogger()
		if err != nil {
			return err
		}
		stopDebug, err := startDebug(log)
		if err != nil {
			return err
		}
		tp, stopTrace, err := newTracer("zocket-serve", log)
		if err != nil {
			stopDebug()
			return err
		}
		defer stopTrace()
		defer stopDebug()
		ms, err := startMetrics(log)
		if err != nil {
			return err
		}
		defer ms.stop()
		fr, err := newFront(log)
		if err != nil {
			return err
		}
		defer fr.close()
		var srv *standalone.Server // set before it serves a request
		srv, err = standalone.New(app, standalone.Config{
			Authenticator:    fr.authn,
			Logger:           log,
			Pages:            mountInspector(func() *engine.Engine { return srv.Engine() }, *adminToken, opts.Pages),
			WebSocket:        ws,
			MaxInstances:     limits.instances,
			MaxSubscriptions: limits.subscriptions,
			CallTimeout:      limits.handlerTimeout,
			Metrics:          ms.m,
			TracerProvider:   tp,
		})
		if err != nil {
			return err
		}
		ln, err := fr.listen(net.JoinHostPort(*host, *port))
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "zocket standalone: %s://%s/  (actor types: %s)\n", fr.scheme("ws", "wss"), displayAddr(ln.Addr()), strings.Join(app.ActorTypes(), ", "))
		if opts.Pages != nil {
			fmt.Fprintf(env.Stdout, "open %s://%s/ in a browser\n", fr.scheme("http", "https"), displayAddr(ln.Addr()))
		}
		fmt.Fprintf(env.Stdout, "inspector at %s://%s%s\n", fr.scheme("http", "https"), displayAddr(ln.Addr()), inspect.Prefix)
		ms.announce(env)
		return srv.Serve(ctx, ln)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// displayAddr turns a listener address into something a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := "localhost"
	if !tcp.IP.IsUnspecified() && !tcp.IP.IsLoopback() {
		host = tcp.IP.String()
	}
	return net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}
