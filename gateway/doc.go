// Package gateway is the WebSocket front of distributed Zocket: it
// authorizes each session, publishes its client frames to JetStream INBOUND
// (acknowledged, in inbound envelopes) and forwards the session's OUTBOUND
// messages to its socket through an ordered consumer that it deletes when
// the socket closes; it runs no actor code (SPEC sections 4 and 5).
//
// Create a gateway with [New] (it ensures the streams), then call
// [Gateway.Run] or mount [Gateway.Handler] and call [Gateway.Shutdown].
//
// # Concurrency
//
// Each session has a reader, a writer draining a bounded send queue and a
// pinger, owned by its HTTP handler goroutine; [Gateway.Shutdown] and
// [Gateway.Run] return only after all of them have. All methods are safe
// for concurrent use.
package gateway
