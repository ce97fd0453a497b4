package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Environment variables of the browser tests.
const (
	// envRequire set to 1 turns a missing browser into a failure (CI).
	envRequire = "ZOCKET_BROWSER_TESTS"
	// envChromium names the browser binary; default: chromium on PATH,
	// then /usr/bin/chromium.
	envChromium = "ZOCKET_CHROMIUM"
	// envScreenshots set to 1 writes the demo screenshots to docs/screenshots.
	envScreenshots = "ZOCKET_UPDATE_SCREENSHOTS"
)

// The one Chromium process of this test binary, started by the first test
// that needs it and stopped by TestMain. Tests open tabs in it, each in a
// browser context of its own (separate cookies and storage).
var (
	browserOnce   sync.Once
	browserCtx    context.Context // a chromedp context whose browser is running
	browserErr    error
	browserCancel = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	browserCancel()
	os.Exit(code)
}

// chromiumPath returns the browser to run, or "" when there is none.
func chromiumPath() string {
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser returns the context of the shared Chromium process, starting it
// on first use. Without a browser it skips t, or fails it when
// ZOCKET_BROWSER_TESTS=1.
func browser(t *testing.T) context.Context {
	t.Helper()
	browserOnce.Do(startBrowser)
	if browserErr != nil {
		if os.Getenv(envRequire) == "1" {
			t.Fatalf("browser tests required (%s=1): %v", envRequire, browserErr)
		}
		t.Skipf("skipping browser test: %v (install Debian's chromium, or set %s; %s=1 makes this a failure)",
			browserErr, envChromium, envRequire)
	}
	return browserCtx
}

func startBrowser() {
	path := chromiumPath()
	if path == "" {
		browserErr = errors.New("no chromium found on PATH or at /usr/bin/chromium")
		return
	}
	dir, err := os.MkdirTemp("", "zocket-e2e-chromium-")
	if err != nil {
		browserErr = err
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	browserCancel = func() {
		// Close the browser gracefully, within bounds, then remove its profile.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelCtx()
		cancelAlloc()
		_ = os.RemoveAll(dir)
	}
	// Start the browser under a context with no deadline (its lifetime is
	// bound to it), but give up waiting after a while.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(30 * time.Second):
		err = errors.New("no answer within 30s")
	}
	if err != nil {
		browserErr = fmt.Errorf("start %s: %w", path, err)
		// chromedp v0.23.0's context cancel func waits forever for a
		// browser that never started; ending the allocator's context ends
		// the browser context too.
		browserCancel = func() {
			cancelAlloc()
			_ = os.RemoveAll(dir)
		}
		return
	}
	browserCtx = ctx
}
