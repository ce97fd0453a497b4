// Package standalone serves a [zocket.App] from one process: it terminates
// WebSockets speaking the Zocket protocol and runs the actors in the same
// process, with the same semantics as the distributed shape.
//
// Create a server with [New], then either call [Server.Run] (listen, serve
// until the context is cancelled, shut down gracefully) or mount
// [Server.Handler] in your own mux and call [Server.Shutdown] when done.
//
// # Concurrency
//
// Each connection has a reader, a writer draining a bounded send queue, and
// a pinger, all owned by the connection's HTTP handler goroutine, plus one
// write watchdog per server; [Server.Shutdown] and [Server.Run] return only
// after all of them have.
// Actor calls run on the engine's per-instance goroutines (see
// [engine.Engine]). All Server methods are safe for concurrent use.
package standalone
