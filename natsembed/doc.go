// Package natsembed runs nats-server with JetStream inside the current
// process, for the one-command dev mode and for tests.
//
// [Run] starts one server on a loopback port and reports its [Server.ClientURL];
// [RunCluster] starts an n-node JetStream cluster on loopback. Both return
// errors instead of panicking, keep the server silent unless [Options.Logger]
// is set, and clean up temporary stores in Shutdown. Package natstest wraps
// them for tests.
//
// # Concurrency
//
// A [Server] or [Cluster] is safe for concurrent use; Shutdown may be called
// more than once and returns after the server has stopped.
package natsembed
