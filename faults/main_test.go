//go:build unix

package faults

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	// The binaries are built from cli (and everything it imports: gateway,
	// runtime, the engine, nats-server): importing it makes go test's
	// result cache depend on their sources, so a change there runs the
	// suite again. build reads ledgerapp's sources for the same reason.
	_ "github.com/zocket-go/zocket/cli"
)

// binDir holds the binaries the suite runs: ledgerapp and nats-server,
// built on first use by build, or taken from $ZOCKET_FAULTS_BIN (to run
// the suite against binaries built elsewhere, such as another commit).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zocket-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if prebuilt := os.Getenv("ZOCKET_FAULTS_BIN"); prebuilt != "" {
		binDir = prebuilt
		buildOnce.Do(func() {}) // nothing to build
	}
	code := m.Run()
	printSummary()
	os.RemoveAll(dir)
	os.Exit(code)
}

func binPath(name string) string { return filepath.Join(binDir, name) }

var (
	buildOnce sync.Once
	buildErr  error
	buildTook time.Duration
)

// build compiles ledgerapp and nats-server (the version go.mod requires)
// into binDir, once per test binary; tests that are skipped or filtered
// out never pay for it. It runs `go build`, without -race even when the
// tests run with it: the processes are what faults strike, not what the
// race detector checks.
func build(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		if err := readSources("ledgerapp"); err != nil {
			buildErr = err
			return
		}
		goTool, err := exec.LookPath("go") // go test puts its own go first in PATH
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command(goTool, "build", "-o", binDir+string(filepath.Separator),
			"./ledgerapp", "github.com/nats-io/nats-server/v2")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.Bytes())
			return
		}
		buildTook = time.Since(start)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// readSources reads the Go files of dir, so that go test's result cache,
// which records the files a test opens, knows the suite depends on them.
func readSources(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if _, err := os.ReadFile(f); err != nil {
			return err
		}
	}
	return nil
}
