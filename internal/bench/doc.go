// Package bench is Zocket's load tool, the "zocket bench" subcommand
// ([Command]): it measures any server that speaks the Zocket wire protocol
// over WebSockets, beside floors measured the same way without one.
//
//   - [RPC]: clients loop calls; throughput and round-trip latency
//     (p50/p90/p99/p99.9/max), closed loop or open loop at a target rate
//     (latency from the intended send time: no coordinated omission).
//   - [Fanout]: subscribers watch one instance while a writer calls it at a
//     rate; per-subscriber delivery latency, deliveries per second, and
//     subscribers that missed a patch (which must be zero). The subscribers
//     can be spread over several gateways.
//   - [Connect]: many sessions opened at a ramp and held, one call each at
//     the end; connect latency and the server's resident memory.
//   - [Churn]: sessions opened and closed at a steady rate, one call each;
//     sessions left deaf (no answer) and, with a NATS URL, consumers left
//     behind on the OUTBOUND stream (both must be zero).
//   - [Floor]: the rpc loop against a bare WebSocket echo server (the
//     standalone floor) or through two JetStream hops (the distributed
//     floors: replies read by one ordered consumer per client, as gateways
//     do with -delivery consumer, or by one core NATS subscription per
//     client, as with -delivery core); [Compare] sets a run beside its
//     floor.
//
// Every run reports the tool's own CPU share ([CPU]), since the tool usually
// shares the machine with the server, and with Options.PIDs the servers'
// CPU and memory. Latencies go into a [Histogram] (log-linear buckets,
// relative error at most [HistogramError]).
//
// The tool speaks raw frames over coder/websocket and reads the server's
// frames with a small JSON scanner, so that it costs far less CPU per call
// than the server it measures.
//
// # Stopping
//
// Every run stops by itself: connections are opened within
// Options.ConnectTimeout each, calls run for Warmup + Duration, answers in
// flight get Options.Grace, and then every connection is closed and what
// is missing is counted. Cancelling the context stops a run early.
//
// # Concurrency
//
// The run functions are safe to call concurrently (each run has its own
// connections); a Report belongs to the caller.
package bench
