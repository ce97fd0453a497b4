// Package natstest starts embedded NATS servers for tests of other packages.
//
// [Run] gives a test its own JetStream server on a random loopback port with
// a store under t.TempDir; [RunCluster] gives it a JetStream cluster;
// [Connect] and [JetStream] open clients. Everything is released by
// t.Cleanup, and failures end the test with t.Fatal.
//
// # Concurrency
//
// The helpers may be called from parallel tests: every call starts its own
// server, so tests never share a JetStream store.
package natstest
