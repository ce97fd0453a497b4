package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/internal/tsgen"
)

const genSummary = "generate code from the app's actor types: 'gen ts' writes TypeScript declarations"

// genCommand is "gen ts": the TypeScript declarations of the app's actor
// types (package tsgen), for the browser client.
func genCommand(app *zocket.App) Command {
	return Command{Summary: genSummary, Run: func(ctx context.Context, env Env, args []string) error {
		if len(args) == 0 || args[0] != "ts" {
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
				fmt.Fprintf(env.Stderr, "Usage: %s gen ts [flags]\n\n%s\n", env.Name, genSummary)
				return nil
			}
			fmt.Fprintf(env.Stderr, "Usage: %s gen ts [flags]   (run '%s gen ts -h' for its flags)\n", env.Name, env.Name)
			return fmt.Errorf("%w: gen: want a target: ts", ErrUsage)
		}
		f := newFlags(env, "gen ts", "Writes TypeScript declarations of the app's actor types (their states, method inputs\n"+
			"and results, and events, as encoding/json writes them) and typedClient(client), which\n"+
			"types a @zocket-go/client Client with them. Without -o it prints them.")
		out := f.String("o", "", "", "write to `file` (only if its content changes) instead of standard output")
		module := f.String("import", "", tsgen.DefaultImport, "`module` the declarations import the client's types from")
		check := f.Bool("check", false, "write nothing; fail if the -o file is not what gen ts would write")
		if ok, err := f.parse(args[1:]); !ok {
			return err
		}
		if *check && *out == "" {
			return fmt.Errorf("%w: -check needs -o", ErrUsage)
		}
		src, err := tsgen.Generate(actordef.AppOf(app), tsgen.Options{Import: *module})
		if err != nil {
			return err
		}
		if *out == "" {
			_, err := env.Stdout.Write(src)
			return err
		}
		old, err := os.ReadFile(*out)
		if *check {
			if err != nil || !bytes.Equal(old, src) {
				return fmt.Errorf("%s is not up to date: run '%s gen ts -o %s'", *out, env.Name, *out)
			}
			return nil
		}
		if err == nil && bytes.Equal(old, src) {
			return nil // unchanged: keep its modification time for file watchers
		}
		return writeFile(*out, src)
	}}
}

// writeFile replaces name with data through a temporary file beside it,
// so that readers never see half of it.
func writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
