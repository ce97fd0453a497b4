package e2e

import (
	"fmt"
	"testing"
)

// TestInspector opens the live inspector of "zocket dev" (its runtime's
// engine) while a counter page makes calls, and checks that it shows the
// instance, its state as a tree, its watchers and the calls with their
// outcome, live.
func TestInspector(t *testing.T) {
	t.Parallel()
	s := startServer(t, dev)
	counter := openPage(t, s, "counter", "/counter.html?id=inspected")
	counter.waitReady()
	for range 3 {
		counter.click("#increment")
	}
	counter.waitText("#count", "3")
	if msg := rawCallError(t, s, "counter", "set", map[string]any{}); msg == "" {
		t.Fatal("set without a value succeeded")
	}

	p := newPage(t, "inspector")
	p.navigate(s.URL + "/_inspect/")
	p.waitFor("inspector live", `document.body.dataset.ready === 'true' && document.querySelector('#status').dataset.status === 'open'`)

	row := `[...document.querySelectorAll('#instances tr')].find((r) => r.dataset.key === 'counter/inspected')`
	p.waitFor("the counter's row", row+` !== undefined`)
	p.click(`#instances tr[data-key="counter/inspected"]`)
	p.waitText("#selected", "counter/inspected")
	// The state as a tree: a leaf per field, the value as JSON.
	leaf := func(key, value string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#state .leaf')].some((l) => l.textContent === %s)`, jsString(key+": "+value))
	}
	p.waitFor("count 3 in the state tree", leaf("count", "3"))
	p.waitFor("one viewer in the state tree", leaf("viewers", "1"))
	// clients, state subscribers: the counter page.
	p.waitFor("one client watching", row+`.children[2].textContent === '1' && `+row+`.children[3].textContent === '1'`)

	calls := `[...document.querySelectorAll('#calls li')]`
	p.waitFor("three increments, ok", fmt.Sprintf(`%s.filter((l) => l.classList.contains('ok') && l.textContent.includes('counter/inspected.increment')).length === 3`, calls))
	p.waitFor("the failed set", fmt.Sprintf(`%s.some((l) => l.classList.contains('err') && l.textContent.includes('counter/main.set') && l.textContent.includes('"value" is required'))`, calls))

	// Live: a call made now shows up without a reload, in the state and
	// the log.
	counter.click("#increment")
	p.waitFor("count 4 in the state tree", leaf("count", "4"))
	p.waitFor("four increments", fmt.Sprintf(`%s.filter((l) => l.textContent.includes('counter/inspected.increment')).length === 4`, calls))
	p.waitFor("calls counted in the rate", `window.inspectorSnapshot.rate.reduce((n, r) => n + r.calls, 0) >= 5`)
	if n := eval[int](p, `document.querySelector('#types').children.length`); n != 3 {
		t.Errorf("%d actor types listed, want 3", n)
	}

	// Let the charts show the last seconds' calls, then take the picture.
	p.waitFor("the rate chart drawn", `document.querySelector('#rate-max').textContent !== 'max 0' && document.querySelector('#rate-max').textContent !== ''`)
	p.screenshot("inspector")
}
