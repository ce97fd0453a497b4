package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/zocket-go/zocket"
)

// Options adjusts the command line of an app binary.
type Options struct {
	// Name is the program name in usage text. Empty means the base name of
	// os.Args[0].
	Name string
	// Pages, when set, is served for plain HTTP requests on the WebSocket
	// port by dev and serve (for example web.Handler()).
	Pages http.Handler
	// Extra adds subcommands (for example "bench" in cmd/zocket).
	Extra map[string]Command
	// Default is the command run when none is given. Empty means print
	// the usage and fail.
	Default string
}

// Command is one subcommand: it parses args and runs until ctx is done.
type Command struct {
	Summary string
	Run     func(ctx context.Context, env Env, args []string) error
}

// Env is what a command gets from its surroundings.
type Env struct {
	Name   string
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads configuration variables; nil means os.Getenv.
	Getenv func(string) string
}

// ErrUsage is returned for a bad command line; the usage was printed.
var ErrUsage = errors.New("usage error")

// Main runs the command line of an app binary and exits: status 0 on
// success, 2 on a usage error, 1 on failure. SIGINT and SIGTERM start a
// graceful shutdown.
func Main(app *zocket.App, opts *Options) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, app, os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr}, opts)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, ErrUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// Run runs one subcommand of an app binary (args excludes the program name).
func Run(ctx context.Context, app *zocket.App, args []string, env Env, opts *Options) error {
	if opts == nil {
		opts = &Options{}
	}
	env = env.withDefaults(opts.Name)
	cmds := Commands(app, opts)
	if len(args) == 0 && opts.Default != "" {
		args = []string{opts.Default}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(env, cmds)
		if len(args) == 0 {
			return ErrUsage
		}
		return nil
	}
	if args[0] == "-version" || args[0] == "--version" {
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "%s: unknown command %q\n\n", env.Name, args[0])
		printUsage(env, cmds)
		return ErrUsage
	}
	return cmd.Run(ctx, env, args[1:])
}

// Commands returns the subcommands for app: serve, runtime, dev, gateway,
// version and gen, plus opts.Extra.
func Commands(app *zocket.App, opts *Options) map[string]Command {
	if opts == nil {
		opts = &Options{}
	}
	cmds := map[string]Command{
		"serve":   {Summary: "run the app standalone: one process, WebSockets and actors", Run: printingUsage("serve", serveCommand(app, opts))},
		"runtime": {Summary: "run the app's actors as a distributed runtime on NATS JetStream", Run: printingUsage("runtime", runtimeCommand(app))},
		"dev":     {Summary: "run NATS (embedded), a gateway and the runtime in one process", Run: printingUsage("dev", devCommand(app, opts))},
		"gateway": GatewayCommand(opts.Pages),
		"version": versionCommand(),
		"gen":     genCommand(app),
	}
	for name, c := range opts.Extra {
		cmds[name] = c
	}
	return cmds
}

func printUsage(env Env, cmds map[string]Command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(env.Stderr, "Usage: %s <command> [flags]\n\nCommands:\n", env.Name)
	for _, n := range names {
		fmt.Fprintf(env.Stderr, "  %-9s %s\n", n, cmds[n].Summary)
	}
	fmt.Fprintf(env.Stderr, "\nRun '%s <command> -h' for the flags of a command; every flag has an environment variable fallback.\n", env.Name)
}

func (env Env) withDefaults(name string) Env {
	if env.Name == "" {
		env.Name = name
	}
	if env.Name == "" {
		env.Name = "zocket"
		if len(os.Args) > 0 {
			parts := strings.Split(os.Args[0], "/")
			env.Name = parts[len(parts)-1]
		}
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	return env
}

// flags is a FlagSet whose defaults come from environment variables.
type flags struct {
	*flag.FlagSet
	env Env
}

func newFlags(env Env, cmd, summary string) *flags {
	fs := flag.NewFlagSet(env.Name+" "+cmd, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: %s %s [flags]\n\n%s\n\nFlags (environment variable in brackets):\n", env.Name, cmd, summary)
		fs.PrintDefaults()
	}
	return &flags{FlagSet: fs, env: env}
}

// String defines a string flag whose default is $envName, else def.
func (f *flags) String(name, envName, def, usage string) *string {
	if v := f.env.Getenv(envName); v != "" {
		def = v
	}
	if envName != "" {
		usage += " [" + envName + "]"
	}
	return f.FlagSet.String(name, def, usage)
}

// parse parses args; ok is false when the command should stop without
// error (help was printed).
func (f *flags) parse(args []string) (ok bool, err error) {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, nil
		}
		return false, usagePrinted{fmt.Errorf("%w: %v", ErrUsage, err)} // the flag package printed it
	}
	if f.NArg() > 0 {
		f.Usage()
		return false, fmt.Errorf("%w: unexpected arguments %q", ErrUsage, f.Args())
	}
	return true, nil
}

// usagePrinted marks a usage error whose message is printed already.
type usagePrinted struct{ error }

func (u usagePrinted) Unwrap() error { return u.error }

// printingUsage makes run print the usage errors it returns (ErrUsage:
// a flag value out of range, flags that clash) on stderr, as "zocket
// serve: usage error: ...", unless the flag package did: Main prints no
// usage error, since the usage was printed, but a value's parser prints
// nothing itself.
func printingUsage(cmd string, run func(context.Context, Env, []string) error) func(context.Context, Env, []string) error {
	return func(ctx context.Context, env Env, args []string) error {
		err := run(ctx, env, args)
		if errors.Is(err, ErrUsage) && !errors.As(err, new(usagePrinted)) && env.Stderr != nil {
			fmt.Fprintf(env.Stderr, "%s %s: %v\n", env.Name, cmd, err)
		}
		return err
	}
}

// logFlags adds -log-level and -log-format and returns a constructor.
func (f *flags) logFlags() func() (*slog.Logger, error) {
	level := f.String("log-level", "LOG_LEVEL", "info", "log level: debug, info, warn or error")
	format := f.String("log-format", "LOG_FORMAT", "text", "log format: text or json")
	return func() (*slog.Logger, error) {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(*level)); err != nil {
			return nil, fmt.Errorf("%w: -log-level %q: want debug, info, warn or error", ErrUsage, *level)
		}
		hopts := &slog.HandlerOptions{Level: lv}
		switch *format {
		case "text":
			return slog.New(slog.NewTextHandler(f.env.Stderr, hopts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(f.env.Stderr, hopts)), nil
		}
		return nil, fmt.Errorf("%w: -log-format %q: want text or json", ErrUsage, *format)
	}
}
