// Package natstransport holds what the gateway and the runtime share about
// the NATS fabric: stream and subject names, the envelopes that travel on
// them, and the idempotent setup of streams and consumers (docs/ARCHITECTURE.md, "NATS fabric").
//
// Build subjects with [InboundSubject], [OutboundSubject] and friends: every
// id is escaped by [EncodeToken] (letters, digits and "-_@+=" stay, any
// other byte becomes %XX), so ids such as "room.1" or "a b" work, two ids
// never share a subject, and no id can reach another actor, project or
// session. Empty ids and ids over [MaxTokenLength] bytes are
// [ErrInvalidToken]. At boot call [EnsureStreams] and, in a runtime,
// [EnsureConsumer] with [RuntimeConsumerConfig]; encode envelopes with
// [AppendOutbound] or json.Marshal and check incoming ones with
// [DecodeInbound] and its siblings. [Delivery] names how frames reach
// gateways; delivery.go has the instance subject, the fanout envelope and
// the headers that number frames.
//
// # Concurrency
//
// Every function is safe for concurrent use. EnsureStreams and
// EnsureConsumer may run at the same time in many processes against one
// server; they converge on the same streams and consumers or fail with a
// [*MismatchError] naming the fields that differ.
package natstransport
