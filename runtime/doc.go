// Package runtime hosts the actor types of a [zocket.App] in the
// distributed shape: it consumes client frames from the JetStream INBOUND
// stream (one durable consumer per actor type), runs them on a
// [engine.Engine], and publishes replies, patches and events to OUTBOUND:
// with natstransport.DeliveryCore (the default) a frame for every
// subscriber of an instance once on the instance's subject and the others
// on the session's, all numbered for the gateways' gap detection; with
// DeliveryConsumer a copy per session on its subject.
//
// Create a runtime with [New], call [Runtime.Run] (boot, serve until the
// context is cancelled, drain) and serve [Runtime.Handler] for GET /health.
//
// # Concurrency
//
// Calls on one instance run one at a time in stream order; different
// instances of a type run in parallel, up to the consumer's max ack
// pending. An inbound message is acked only after its call ran and
// JetStream stored every frame it produced, so delivery is at least once.
// All Runtime methods are safe for concurrent use.
package runtime
