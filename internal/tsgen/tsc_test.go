package tsgen_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket/internal/tsgen"
)

// TestTypeScript compiles the generated declarations with the real
// TypeScript compiler: the client package as npm packs it
// (web/client) and typescript from the npm registry are installed into a
// fresh project, as web/client/test/pack.sh does, beside the declarations
// of the fixture app and of the demo app and testdata/tsc/*.ts, which use
// them. typed.ts must compile; errors.ts marks each mistake with
// "@ts-expect-error TSnnnn", so it compiles only if every marked line is an
// error, and compiled without the markers it must fail on exactly those
// lines with those codes.
//
// It needs node and npm (and the registry, or npm's cache): without them
// it skips, unless ZOCKET_TSC_TESTS=1 (CI), which makes it fail instead.
// TYPESCRIPT picks the version (default 5).
func TestTypeScript(t *testing.T) {
	required := os.Getenv("ZOCKET_TSC_TESTS") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		if required {
			t.Fatalf(format, args...)
		}
		t.Skipf(format+" (ZOCKET_TSC_TESTS=1 makes this a failure)", args...)
	}
	if testing.Short() && !required {
		t.Skip("-short: no npm install")
	}
	for _, tool := range []string{"node", "npm", "npx"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip("%s not found: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	run := func(dir string, name string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
		return cmd.CombinedOutput()
	}

	work := t.TempDir()
	clientDir, err := filepath.Abs(filepath.Join("..", "..", "web", "client"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(clientDir, "npm", "pack", "--silent", "--pack-destination", work)
	if err != nil {
		t.Fatalf("npm pack: %v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		t.Fatalf("npm pack printed no file name")
	}
	tarball := filepath.Join(work, fields[len(fields)-1])

	app := filepath.Join(work, "app")
	src := filepath.Join(app, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(app, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("package.json", []byte(`{ "name": "zocket-tsgen-test", "private": true, "type": "module" }`+"\n"))
	tsVersion := cmp.Or(os.Getenv("TYPESCRIPT"), "5")
	if out, err := run(app, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", tarball, "typescript@"+tsVersion); err != nil {
		skip("npm install typescript@%s: %v\n%s", tsVersion, err, out)
	}

	write("src/zocket.gen.ts", generate(t, fixtureApp(t), tsgen.Options{}))
	write("src/demo.gen.ts", generate(t, demoApp(t), tsgen.Options{}))
	typed, err := os.ReadFile(filepath.Join("testdata", "tsc", "typed.ts"))
	if err != nil {
		t.Fatal(err)
	}
	write("src/typed.ts", typed)
	mistakes, err := os.ReadFile(filepath.Join("testdata", "tsc", "errors.ts"))
	if err != nil {
		t.Fatal(err)
	}
	write("src/errors.ts", mistakes)

	tsc := func(resolution string) ([]byte, error) {
		module := map[string]string{"nodenext": "nodenext", "bundler": "esnext"}[resolution]
		write("tsconfig.json", fmt.Appendf(nil, `{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false,
    "target": "es2022",
    "lib": ["es2022", "dom"],
    "module": %q,
    "moduleResolution": %q,
    "types": []
  },
  "include": ["src"]
}
`, module, resolution))
		return run(app, "npx", "--no-install", "tsc", "-p", "tsconfig.json", "--pretty", "false")
	}
	for _, resolution := range []string{"nodenext", "bundler"} {
		if out, err := tsc(resolution); err != nil {
			t.Fatalf("tsc --noEmit (moduleResolution %s): %v\n%s", resolution, err, out)
		}
	}

	// errors.ts again, without its markers: each marked line must fail
	// with its code, and nothing else may.
	want := map[int]string{} // line (1-based) -> error code
	marker := regexp.MustCompile(`^(\s*)// @ts-expect-error (TS\d+)`)
	lines := strings.Split(string(mistakes), "\n")
	for i, line := range lines {
		if m := marker.FindStringSubmatch(line); m != nil {
			want[i+2] = m[2]
			lines[i] = m[1] + "// (marker removed)"
		}
	}
	if len(want) == 0 {
		t.Fatal("errors.ts has no markers")
	}
	write("src/errors.ts", []byte(strings.Join(lines, "\n")))
	out, err = tsc("nodenext")
	if err == nil {
		t.Fatalf("errors.ts without its markers compiled:\n%s", out)
	}
	got := map[int][]string{}
	diag := regexp.MustCompile(`(?m)^src/(\S+)\((\d+),\d+\): error (TS\d+): (.*)$`)
	for _, m := range diag.FindAllStringSubmatch(string(out), -1) {
		line, _ := strconv.Atoi(m[2])
		if m[1] != "errors.ts" || want[line] == "" {
			t.Errorf("unexpected error: %s", m[0])
			continue
		}
		got[line] = append(got[line], m[3])
	}
	for line, code := range want {
		if !slices.Contains(got[line], code) {
			t.Errorf("errors.ts:%d: want %s, got %v\n  %s", line, code, got[line], strings.TrimSpace(lines[line-1]))
		}
	}
	if t.Failed() {
		t.Logf("tsc output:\n%s", bytes.TrimSpace(out))
	}
}
