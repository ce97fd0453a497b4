package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// waitTimeout bounds every wait on a page condition and every browser action.
// Generous: a 2-core machine under -race can be slow, and a passing test
// never waits this long.
const waitTimeout = 15 * time.Second

// Viewport of every page, so layouts and screenshots are reproducible.
const viewportW, viewportH = 1200, 800

// page is one browser tab, in a browser context of its own (its own
// cookies and storage: a separate visitor).
type page struct {
	t      *testing.T
	name   string
	ctx    context.Context // the tab's chromedp context
	cancel context.CancelFunc

	consoleDone chan struct{}
	mu          sync.Mutex
	console     []string // recent console lines, for failure reports
	exceptions  []string // uncaught exceptions and unhandled rejections
	closed      bool
}

// openPage opens a new tab on s at path (e.g. "/counter.html?id=x") and
// waits until the page's client is connected (#status[data-status=open]).
// The tab closes when the test ends; an uncaught exception on the page
// fails the test.
func openPage(t *testing.T, s *server, name, path string) *page {
	t.Helper()
	p := newPage(t, name)
	p.navigate(s.URL + path)
	p.waitStatus("open")
	return p
}

// newPage opens a blank tab.
func newPage(t *testing.T, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t), chromedp.WithNewBrowserContext())
	p := &page{t: t, name: name, ctx: ctx, cancel: cancel, consoleDone: make(chan struct{})}
	t.Cleanup(p.Close)

	// Open the tab under the tab's own context (it is bound to it), but do
	// not wait forever for it.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(ctx) }()
	select {
	case err := <-opened:
		if err != nil {
			close(p.consoleDone)
			t.Fatalf("%s: open tab: %v", name, err)
		}
	case <-time.After(waitTimeout):
		cancel()
		close(p.consoleDone)
		t.Fatalf("%s: open tab: no answer within %v", name, waitTimeout)
	}

	messages := chromedp.Console(ctx) // subscribes now, before any navigation
	go func() {
		defer close(p.consoleDone)
		for m, err := range messages {
			if err != nil {
				return // the tab is gone
			}
			line := fmt.Sprintf("[%s] %s", m.Type, m)
			p.mu.Lock()
			p.console = append(p.console, line)
			if len(p.console) > 30 {
				p.console = p.console[1:]
			}
			if m.IsException() {
				p.exceptions = append(p.exceptions, line)
			}
			p.mu.Unlock()
		}
	}()
	p.do("set viewport", chromedp.EmulateViewport(viewportW, viewportH))
	return p
}

// Close closes the tab (the page sees pagehide, its socket closes) and
// reports uncaught exceptions the page had. It is idempotent.
func (p *page) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	select {
	case <-p.consoleDone:
	case <-time.After(waitTimeout):
		p.t.Errorf("%s: console reader still running %v after the tab closed", p.name, waitTimeout)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.exceptions {
		p.t.Errorf("%s: uncaught exception on the page: %s", p.name, e)
	}
}

// fatalf fails the test with the page's state and recent console lines.
func (p *page) fatalf(format string, args ...any) {
	p.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
		`location.href + " status=" + document.body?.dataset.status + " ready=" + document.body?.dataset.ready`))
	p.mu.Lock()
	console := strings.Join(p.console, "\n\t")
	p.mu.Unlock()
	p.t.Fatalf("%s: %s\n\tpage: %s\n\tconsole:\n\t%s", p.name, msg, where, console)
}

// do runs browser actions with the standard deadline, failing the test on
// error.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.fatalf("%s: %v", what, err)
	}
}

// run runs one browser action with the standard deadline and returns its
// value, failing the test on error.
func run[T any](p *page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates a JavaScript expression (awaiting a promise result) and
// decodes its JSON value into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	return run(p, "evaluate "+expr, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func (p *page) navigate(url string) {
	p.t.Helper()
	p.do("navigate to "+url, chromedp.Navigate(url))
}

// waitFor waits until the JavaScript expression is truthy, polling every
// 20 ms (not on animation frames, which a busy headless tab may delay). A
// navigation meanwhile destroys the page's JavaScript context: polling
// then starts again in the new document.
func (p *page) waitFor(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithDeadline(p.ctx, deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(20*time.Millisecond),
			chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return
		}
		if !navigatedAway(err) || time.Now().After(deadline) {
			p.fatalf("waiting for %s (%s): %v", what, expr, err)
		}
	}
}

// navigatedAway reports whether err means that the page's JavaScript
// context went away under an evaluation (a navigation or reload).
func navigatedAway(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Cannot find context with specified id") ||
		strings.Contains(s, "Execution context was destroyed") ||
		strings.Contains(s, "Inspected target navigated or closed")
}

// waitStatus waits until the status badge shows the connection status.
func (p *page) waitStatus(status string) {
	p.t.Helper()
	p.waitFor("status "+status, fmt.Sprintf(`document.querySelector('#status[data-status=%q]') !== null`, status))
}

// waitReady waits until the demo page has rendered its actor's state.
func (p *page) waitReady() {
	p.t.Helper()
	p.waitFor("page ready", `document.body.dataset.ready === 'true'`)
}

// waitText waits until the element's trimmed text is want.
func (p *page) waitText(sel, want string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%s text %q", sel, want),
		fmt.Sprintf(`document.querySelector(%s)?.textContent.trim() === %s`, jsString(sel), jsString(want)))
}

// text returns the trimmed text of the element.
func (p *page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.querySelector(%s).textContent.trim()`, jsString(sel)))
}

// click waits until the element is visible and clicks it with the mouse.
func (p *page) click(sel string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// typeInto replaces the input's value by typing text into it.
func (p *page) typeInto(sel, text string) {
	p.t.Helper()
	p.do("type into "+sel,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).value = ''`, jsString(sel))),
		chromedp.SendKeys(chromedp.CSS(sel), text))
	p.waitFor("typed text in "+sel, fmt.Sprintf(`document.querySelector(%s).value === %s`, jsString(sel), jsString(text)))
}

// clientID returns the id the server gave the page's current connection.
func (p *page) clientID() string {
	p.t.Helper()
	id := eval[string](p, `window.zocketClient.clientId ?? ''`)
	if id == "" {
		p.fatalf("no client id")
	}
	return id
}

// waitNewClientID waits until the page's client has been welcomed on a
// connection other than the one that had id previous, and returns the new
// id. The client reports status "open" when its socket opens, a moment
// before the server's welcome frame brings the id.
func (p *page) waitNewClientID(previous string) string {
	p.t.Helper()
	p.waitFor("welcomed on a new connection", fmt.Sprintf(
		`(window.zocketClient.clientId ?? '') !== '' && window.zocketClient.clientId !== %s`, jsString(previous)))
	return p.clientID()
}

// drag draws with the mouse: press at the first point, move through the
// others with the left button held, release at the last. Points are CSS
// pixels of the viewport. Chromium turns these into pointer events.
func (p *page) drag(points [][2]float64) {
	p.t.Helper()
	if len(points) == 0 {
		return
	}
	left := func(buttons int64) chromedp.MouseOption {
		return func(e *input.DispatchMouseEventParams) {
			e.Button = input.MouseButtonLeft
			e.Buttons = buttons
			e.ClickCount = 1
		}
	}
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.MouseEvent(chromedp.MouseMoved, points[0][0], points[0][1]),
		chromedp.MouseEvent(chromedp.MousePressed, points[0][0], points[0][1], left(1)),
	}
	for _, pt := range points[1:] {
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, pt[0], pt[1], left(1)))
	}
	last := points[len(points)-1]
	steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, last[0], last[1], left(0)))
	p.do("drag the mouse", steps...)
}

// touchDrag draws with one finger: touch at the first point, move through
// the others, lift. Points are CSS pixels of the viewport; the page needs
// touch emulation (chromedp.EmulateTouch). Chromium turns these into
// pointer events of type "touch".
func (p *page) touchDrag(points [][2]float64) {
	p.t.Helper()
	if len(points) == 0 {
		return
	}
	touch := func(typ input.DispatchTouchEventType, pts ...[2]float64) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			tps := []*input.TouchPoint{}
			for _, pt := range pts {
				tps = append(tps, &input.TouchPoint{X: pt[0], Y: pt[1]})
			}
			_, err := cdp.Call(ctx, t, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: tps})
			return err
		})
	}
	steps := []chromedp.Action[chromedp.Void]{touch(input.DispatchTouchEventTypeTouchStart, points[0])}
	for _, pt := range points[1:] {
		steps = append(steps, touch(input.DispatchTouchEventTypeTouchMove, pt))
	}
	steps = append(steps, touch(input.DispatchTouchEventTypeTouchEnd))
	p.do("drag a finger", steps...)
}

// screenshot captures the viewport as a PNG and checks that it decodes to
// the viewport's size. With ZOCKET_UPDATE_SCREENSHOTS=1 it writes it to
// docs/screenshots/<name>.png.
func (p *page) screenshot(name string) {
	p.t.Helper()
	// Let fonts and the current frame settle: screenshots wait for a paint.
	p.waitFor("fonts loaded", `document.fonts.status === 'loaded'`)
	buf := run(p, "screenshot", chromedp.CaptureScreenshot())
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		p.fatalf("screenshot %s: not a PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() != viewportW || b.Dy() != viewportH {
		p.fatalf("screenshot %s: %dx%d, want %dx%d", name, b.Dx(), b.Dy(), viewportW, viewportH)
	}
	if os.Getenv(envScreenshots) != "1" {
		return
	}
	path := filepath.Join("..", "docs", "screenshots", name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatalf("write screenshot: %v", err)
	}
	p.t.Logf("wrote %s", path)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings always marshal
	}
	return string(b)
}
