// Command ledgerapp is the app the fault suite (package faults) runs as
// real processes: one actor type, "ledger", built with cli.Main, so it has
// the usual subcommands (serve, dev, runtime, gateway).
//
// A ledger adds amounts under operation ids chosen by the client and
// records how many times each operation was applied, so that a load can
// tell an effect applied twice from one applied once. With LEDGER_DIR set,
// every application is first appended to a journal file per ledger in that
// directory, and a ledger is rebuilt from its journal when a process first
// touches it: the ledger outlives a runtime killed with SIGKILL, as a
// database would, and the journal is the record the suite checks.
//
//	LEDGER_DIR=/tmp/ledgers ledgerapp runtime -nats nats://127.0.0.1:4222 -api-port 0
package main

import (
	"fmt"
	"os"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/cli"
)

func main() {
	app, err := zocket.NewApp(Actor(NewBooks(os.Getenv("LEDGER_DIR"))))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cli.Main(app, nil)
}
