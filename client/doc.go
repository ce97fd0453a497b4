// Package client is the Go client of the Zocket protocol: [Dial] a server,
// address actor instances with [Client.Actor], run methods with [Actor.Call]
// (or [CallT]), keep a live copy of their state with [Actor.WatchState] (or
// [Watch]) and receive their events with [Actor.OnEvent].
//
// A [Client] reconnects on its own with exponential backoff and jitter, then
// subscribes again to every state and event it held (fresh snapshots replace
// the local copies); calls in flight when a connection drops fail with
// [ErrDisconnected] and are never resent. Everything is safe for concurrent
// use; event handlers run one at a time on one goroutine per client.
package client
