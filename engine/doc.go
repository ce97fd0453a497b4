// Package engine is the machinery a host uses to run the actors of a
// [zocket.App]: an [Engine] creates instances on demand, runs each
// instance's calls and hooks one at a time, and hands the frames they
// produce to the host's [Host].
//
// Application authors do not import it. Package standalone (one process)
// and package runtime (behind the gateway, over NATS JetStream) both drive
// an Engine, so actor semantics are identical in either shape.
package engine
