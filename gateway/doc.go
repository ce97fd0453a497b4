// Package gateway is the WebSocket front of distributed Zocket: it
// authorizes each session, publishes its client frames to JetStream INBOUND
// (acknowledged, in inbound envelopes) and forwards the frames runtimes
// publish for the session to its socket; it runs no actor code. With
// natstransport.DeliveryCore (the default) it reads them through core NATS
// subscriptions, one per session and one per watched instance (a change is
// published once for all watchers and fanned out here), detects lost
// frames from their sequence numbers and reads them back from OUTBOUND;
// with DeliveryConsumer it reads each session's frames through an ordered
// consumer that it deletes when the socket closes.
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
