package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugFlag adds -debug-addr: an address for Go's profiling endpoints
// (/debug/pprof/), off by default. It is meant for loopback; the endpoints
// have no authorization. The returned function starts the server, if
// asked for, and returns its stop function.
func (f *flags) debugFlag() func(*slog.Logger) (stop func(), err error) {
	addr := f.String("debug-addr", "DEBUG_ADDR", "", "serve Go profiles at http://ADDR/debug/pprof/ (empty: off; use a loopback address)")
	return func(log *slog.Logger) (func(), error) {
		if *addr == "" {
			return func() {}, nil
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return nil, fmt.Errorf("listen on -debug-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.LogAttrs(context.Background(), slog.LevelWarn, "debug server stopped", slog.Any("err", err))
			}
		}()
		log.LogAttrs(context.Background(), slog.LevelInfo, "profiles served", slog.String("url", "http://"+ln.Addr().String()+"/debug/pprof/"))
		return func() {
			_ = srv.Close() // profiles in progress are cut off: the process is stopping
			<-done
		}, nil
	}
}
