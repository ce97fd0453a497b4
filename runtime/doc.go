// Package runtime hosts the actor types of a [zocket.App] in the
// distributed shape: it consumes client frames from the JetStream INBOUND
// stream (one durable consumer per actor type), runs them on a
// [zocket.Engine], and publishes replies, patches and events to each
// session's OUTBOUND subject.
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
