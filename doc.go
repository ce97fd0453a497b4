// Package zocket defines stateful realtime actors that clients reach over
// WebSockets with the Zocket JSON protocol.
//
// Define actor types with [NewActor], [Method], [NewEvent] and the lifecycle
// hooks, register them with [NewApp], and serve the app with package
// standalone (one process) or with packages gateway and runtime (distributed
// over NATS JetStream). Both hosts run it on the same engine (package
// engine, which applications need not import), so actor semantics are
// identical in either shape.
//
// # Concurrency
//
// Calls and hooks on one instance run one at a time, on a goroutine owned
// by the instance; handlers need no locks for their state. Each client's
// calls to an instance run in the order they arrived; clients with calls
// waiting take turns, one call each, so a client that sends thousands of
// calls does not hold up the others (see
// [github.com/zocket-go/zocket/engine.Config.MaxQueue]).
// Different instances run in parallel. After each call or hook that changed
// the state, every state subscriber receives one RFC 6902 patch. A handler
// that returns an error or panics leaves the state exactly as it was before
// the call, and its events are not sent.
//
// # State
//
// A state is its JSON form: patches are computed by diffing the JSON after
// each step, and a failed call restores the state by decoding the JSON it
// had before. Fields that JSON does not carry (unexported, `json:"-"`)
// therefore do not survive a rollback; keep all state in exported fields.
package zocket
