// Command zocket runs Zocket's roles for the demo app (counter, chat and
// canvas actors with their browser pages):
//
//	zocket dev       embedded NATS + gateway + runtime on localhost
//	zocket serve     the demo app standalone (one process)
//	zocket runtime   the demo app's actors on an existing NATS (NATS_URL)
//	zocket gateway   a WebSocket gateway for any app (runs no actor code)
//	zocket bench     the load tool (package bench)
//	zocket gen ts    TypeScript declarations of the demo app's actor types
//
// Application authors give their own binaries the same commands with
// cli.Main(app, nil).
package main

import (
	"fmt"
	"os"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/examples/actors/canvas"
	"github.com/zocket-go/zocket/examples/actors/chat"
	"github.com/zocket-go/zocket/examples/actors/counter"
	"github.com/zocket-go/zocket/internal/bench"
	"github.com/zocket-go/zocket/web"
)

func main() {
	app, err := zocket.NewApp(counter.Actor(), chat.Actor(), canvas.Actor())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cli.Main(app, &cli.Options{
		Name:  "zocket",
		Pages: web.Handler(),
		Extra: map[string]cli.Command{"bench": bench.Command()},
	})
}
