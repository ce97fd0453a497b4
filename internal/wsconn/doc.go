// Package wsconn is the WebSocket connection plumbing shared by the hosts
// that terminate client sockets (standalone and gateway): a bounded send
// queue drained by a writer goroutine, the reader, the pinger, write
// timeouts, close codes, and the set of live connections a host shuts down.
//
// A host creates one [Hub], accepts each upgrade with [Hub.Accept], starts
// the connection with [Conn.Start] and a frame handler, and ends it with
// [Conn.Close]; what a frame means (engine dispatch, NATS publish) and who
// may connect stay in the host.
//
// The writer takes everything queued when it wakes (up to 32 KiB) and
// writes it to the socket with one system call, so a client that fell
// behind a fan-out costs a write per batch, not per frame.
//
// # Concurrency
//
// Each Conn has a reader, a writer and (unless pings are disabled) a pinger;
// [Conn.Close] returns after all of them have. A Hub that watches writes runs
// one watchdog goroutine, stopped by [Hub.EndShutdown]. All methods are safe
// for concurrent use.
package wsconn
