// Package integration holds the cross-shape end-to-end tests of Zocket: the
// same conformance suite, written against the Go client alone, runs against
// the standalone shape (standalone behind httptest) and the distributed
// shape (an embedded nats-server, a runtime and one or more gateways, all
// in-process on loopback), which shows that clients work unchanged against
// either shape. Distributed-only tests cover several gateways, ordering
// under concurrency, a runtime restart, session cleanup on the NATS server,
// the streams and consumers read back from JetStream, a three-node NATS
// cluster losing a node, and session churn.
//
// The package has no exported API; run it with
//
//	go test -race ./integration/
//
// and add -short for a reduced session churn (150 sequential and 120
// concurrent sessions instead of 1,500 and 1,200).
//
// # Concurrency
//
// Every test starts its own servers (its own JetStream store), so tests run
// in parallel. Tests wait on conditions with deadlines derived from
// t.Context(), never on sleeps.
package integration
