package cli_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/internal/tsgen"
)

func runGen(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = cli.Run(t.Context(), counterApp(t), append([]string{"gen"}, args...), cli.Env{Stdout: &out, Stderr: &errOut}, nil)
	return out.String(), errOut.String(), err
}

func TestGenTS(t *testing.T) {
	want, err := tsgen.Generate(actordef.AppOf(counterApp(t)), tsgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runGen(t, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatalf("gen ts printed\n%s\nwant\n%s", out, want)
	}
	for _, s := range []string{
		"export interface ZocketActors {",
		"set: { input: SetInput; result: number };",
		"changed: Change;",
		`import type * as zocket from "@zocket-go/client";`,
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	out, _, err = runGen(t, "ts", "-import", "/zocket.js")
	if err != nil || !strings.Contains(out, `from "/zocket.js";`) {
		t.Errorf("-import: %v\n%s", err, out)
	}
}

func TestGenTSFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "zocket.gen.ts")
	if _, _, err := runGen(t, "ts", "-o", file, "-check"); err == nil || !strings.Contains(err.Error(), "not up to date") {
		t.Fatalf("-check of a missing file: %v", err)
	}
	out, _, err := runGen(t, "ts", "-o", file)
	if err != nil || out != "" {
		t.Fatalf("gen ts -o: %v, printed %q", err, out)
	}
	first, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	stdout, _, _ := runGen(t, "ts")
	if string(first) != stdout {
		t.Fatal("-o wrote something else than gen ts prints")
	}
	// Unchanged output leaves the file alone (file watchers see nothing).
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runGen(t, "ts", "-o", file); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("unchanged output rewrote the file: %v %v", fi.ModTime(), err)
	}
	if _, _, err := runGen(t, "ts", "-o", file, "-check"); err != nil {
		t.Errorf("-check of a current file: %v", err)
	}
	if err := os.WriteFile(file, append(first, "// edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runGen(t, "ts", "-o", file, "-check"); err == nil || errors.Is(err, cli.ErrUsage) {
		t.Errorf("-check of a stale file: %v", err)
	}
	if _, _, err := runGen(t, "ts", "-o", file); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(file); !bytes.Equal(again, first) {
		t.Error("gen ts -o did not restore the file")
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if _, _, err := runGen(t, "ts", "-o", filepath.Join(t.TempDir(), "missing", "x.ts")); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

func TestGenUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"go"}, {"ts", "extra"}, {"ts", "-check"}, {"ts", "-nope"}} {
		if _, _, err := runGen(t, args...); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("gen %q: %v, want a usage error", args, err)
		}
	}
	for _, args := range [][]string{{"-h"}, {"ts", "-h"}} {
		if _, stderr, err := runGen(t, args...); err != nil || !strings.Contains(stderr, "gen ts") {
			t.Errorf("gen %q: %v\n%s", args, err, stderr)
		}
	}
	var errOut bytes.Buffer
	_ = cli.Run(t.Context(), counterApp(t), []string{"help"}, cli.Env{Stderr: &errOut}, nil)
	if !strings.Contains(errOut.String(), "  gen ") {
		t.Errorf("usage lacks gen:\n%s", errOut.String())
	}
}
