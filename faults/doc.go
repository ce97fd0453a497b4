// Package faults is a fault suite that runs Zocket's distributed shape as
// real processes: nats-server (one server, or a three-node cluster), the
// runtime and the gateway of a small app (faults/ledgerapp), all started
// from binaries built once per test run. A load of WebSocket clients sends
// calls with unique operation ids while the suite kills and restarts
// processes on a schedule, then checks what every call got and what the
// ledger actually applied.
//
// The package holds only tests; see docs/FAULTS.md for how to run them,
// what they assert and the figures measured.
package faults
