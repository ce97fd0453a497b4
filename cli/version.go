package cli

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// modulePath is Zocket's module path, looked up among an app's dependencies.
const modulePath = "github.com/zocket-go/zocket"

// versionCommand prints what the binary was built from: "version" and the
// flags -version and --version of the top level.
func versionCommand() Command {
	return Command{
		Summary: "print the version of this binary and of Zocket, from its build information",
		Run: func(ctx context.Context, env Env, args []string) error {
			f := newFlags(env, "version", "Prints the main module's version (and VCS revision, time and modified flag when stamped), Zocket's version when the binary is an app that depends on it, and the Go version.")
			if ok, err := f.parse(args); !ok {
				return err
			}
			bi, ok := debug.ReadBuildInfo()
			if !ok {
				bi = nil
			}
			writeVersion(env.Stdout, env.Name, bi)
			return nil
		},
	}
}

// writeVersion writes the version report of a binary named name built as bi
// (nil when the binary carries no build information):
//
//	zocket v1.2.3
//	module    github.com/zocket-go/zocket
//	revision  0123abcd (modified)
//	time      2026-01-02T03:04:05Z
//	go        go1.26.8
//
// The first line's version is the main module's: a tag such as v1.2.3 for
// "go install module@v1.2.3", a version derived from the VCS tag or a
// pseudo-version for "go build" in a checkout, "(devel)" for "go run" and
// tests. A binary of another module also gets a "zocket" line with the
// version of Zocket it was built with.
func writeVersion(w io.Writer, name string, bi *debug.BuildInfo) {
	if bi == nil {
		fmt.Fprintf(w, "%s (unknown: built without module information)\n", name)
		return
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	fmt.Fprintf(w, "%s %s\n", name, version)
	line := func(k, v string) { fmt.Fprintf(w, "%-9s %s\n", k, v) }
	if bi.Main.Path != "" {
		line("module", bi.Main.Path)
	}
	if bi.Main.Path != modulePath {
		for _, dep := range bi.Deps {
			if dep.Path != modulePath {
				continue
			}
			v := dep.Version
			if dep.Replace != nil {
				v += " => " + dep.Replace.Path
				if dep.Replace.Version != "" {
					v += " " + dep.Replace.Version
				}
			}
			line("zocket", v)
		}
	}
	var revision, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision != "" {
		if modified == "true" {
			revision += " (modified)"
		}
		line("revision", revision)
	}
	if when != "" {
		line("time", when)
	}
	if bi.GoVersion != "" {
		line("go", bi.GoVersion)
	}
}
