// Command chat serves the chat room actor. Run it with
//
//	go run ./examples/chat          # standalone on $PORT (3000)
//
// and the other subcommands of package cli (dev, runtime).
package main

import (
	"fmt"
	"os"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/examples/actors/chat"
)

func main() {
	app, err := zocket.NewApp(chat.Actor())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cli.Main(app, &cli.Options{Default: "serve"})
}
