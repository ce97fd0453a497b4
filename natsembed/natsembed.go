package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Default values of [Options].
const (
	DefaultHost         = "127.0.0.1"
	DefaultReadyTimeout = 10 * time.Second
)

// Options configures an embedded server. The zero value starts a JetStream
// server on a random loopback port with a temporary file store.
type Options struct {
	// Host is the address the client listener binds. Empty means
	// "127.0.0.1" (loopback only).
	Host string
	// Port is the client port. 0 or -1 means a random free port; RunCluster
	// requires 0 or -1.
	Port int
	// ServerName names the server in logs and in cluster views. Empty means
	// the server's generated id (Run) or "{ClusterName}-{i}" (RunCluster).
	ServerName string
	// ClusterName is the name of the cluster that RunCluster forms. Empty
	// means "zocket". Run ignores it.
	ClusterName string
	// StoreDir is the JetStream store directory (RunCluster gives each node a
	// subdirectory of it). Empty means a new temporary directory that
	// Shutdown removes. Streams choose memory or file storage themselves;
	// the directory always holds JetStream's own metadata.
	StoreDir string
	// MaxPayload is the largest message the server accepts, in bytes. Zero
	// means the nats-server default, 1 MiB.
	MaxPayload int32
	// MaxMemoryStore caps JetStream memory storage in bytes. Zero means the
	// nats-server default (75% of system memory).
	MaxMemoryStore int64
	// MaxFileStore caps JetStream file storage in bytes. Zero means the
	// nats-server default (up to 1 TB, bounded by free disk space).
	MaxFileStore int64
	// ReadyTimeout bounds how long Run waits for the server to accept
	// connections, and RunCluster for the cluster to elect a JetStream
	// leader. Zero means DefaultReadyTimeout (10 s) for Run and three times
	// that for RunCluster.
	ReadyTimeout time.Duration
	// Logger receives the server's log lines (notices at Info, warnings,
	// errors, debug at Debug, trace at Debug-4). Nil means no logging.
	Logger *slog.Logger
}

// Server is a running embedded nats-server. It is safe for concurrent use.
type Server struct {
	ns      *server.Server
	tempDir string // removed by Shutdown; empty when the caller owns the store
	once    sync.Once
}

// Run starts a nats-server with JetStream in this process and returns once it
// accepts connections. It returns an error, never panics, when the options
// are invalid or the server cannot start in time; nothing is left running in
// that case. The caller must call Shutdown.
func Run(opts Options) (*Server, error) {
	var tempDir string
	if opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "natsembed-")
		if err != nil {
			return nil, fmt.Errorf("natsembed: create store dir: %w", err)
		}
		tempDir, opts.StoreDir = dir, dir
	}
	sopts, err := serverOptions(opts)
	if err == nil {
		var s *Server
		s, err = start(sopts, opts, tempDir, DefaultReadyTimeout)
		if err == nil {
			return s, nil
		}
	}
	if tempDir != "" {
		_ = os.RemoveAll(tempDir)
	}
	return nil, err
}

// serverOptions maps opts onto nats-server options, without cluster
// settings.
func serverOptions(opts Options) (*server.Options, error) {
	if opts.Port < -1 || opts.Port > 65535 {
		return nil, fmt.Errorf("natsembed: port %d out of range", opts.Port)
	}
	if opts.MaxPayload < 0 || opts.MaxMemoryStore < 0 || opts.MaxFileStore < 0 || opts.ReadyTimeout < 0 {
		return nil, errors.New("natsembed: negative limit in options")
	}
	host := opts.Host
	if host == "" {
		host = DefaultHost
	}
	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return &server.Options{
		ServerName:         opts.ServerName,
		Host:               host,
		Port:               port,
		NoLog:              true,
		NoSigs:             true,
		MaxPayload:         opts.MaxPayload,
		JetStream:          true,
		StoreDir:           opts.StoreDir,
		JetStreamMaxMemory: opts.MaxMemoryStore,
		JetStreamMaxStore:  opts.MaxFileStore,
	}, nil
}

// start creates and starts one server and waits until it accepts
// connections with JetStream enabled. On error the server is shut down.
func start(sopts *server.Options, opts Options, tempDir string, defaultTimeout time.Duration) (*Server, error) {
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	if opts.Logger != nil {
		setLogger(ns, opts.Logger)
	}
	ns.Start()
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	if !ns.ReadyForConnections(timeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsembed: server not ready for connections after %s", timeout)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, errors.New("natsembed: JetStream failed to start")
	}
	return &Server{ns: ns, tempDir: tempDir}, nil
}

// ClientURL returns the URL clients connect to, such as
// "nats://127.0.0.1:41234".
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// NATS returns the underlying nats-server, for tests and diagnostics.
func (s *Server) NATS() *server.Server { return s.ns }

// StoreDir returns the JetStream store directory in use.
func (s *Server) StoreDir() string { return s.ns.StoreDir() }

// Shutdown stops the server, waits until it has stopped and removes a
// temporary store directory that Run created. Calling it again does nothing.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		if s.tempDir != "" {
			_ = os.RemoveAll(s.tempDir)
		}
	})
}
