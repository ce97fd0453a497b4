// Package cli gives an application binary the Zocket command line: Main(app)
// adds the subcommands serve (standalone), runtime (distributed runtime on
// NATS), dev (embedded NATS, gateway and runtime in one process), gateway,
// version (also -version: the module version and VCS stamp from the
// binary's build information) and gen ("gen ts -o file": TypeScript
// declarations of the app's actor types for the browser client, read from
// the app's Go types).
//
// It is the only package that reads flags and environment variables and
// wires the roles together; every role is a library package that takes a
// Config. Commands run until their context is cancelled (SIGINT/SIGTERM in
// Main) and then shut down gracefully.
package cli
