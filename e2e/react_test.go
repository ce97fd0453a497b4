package e2e

import (
	"fmt"
	"strconv"
	"testing"
)

// TestReactDemo: the React page (React 18's UMD builds with the client's
// React hooks from /react-core.js) renders the counter and its status,
// follows changes made from another page, lists the "changed" events, and
// its selectors keep the viewers panel from rendering on count changes and
// the count panel on viewer changes. The hooks speak only the client's
// protocol, so one shape is enough.
func TestReactDemo(t *testing.T) {
	t.Parallel()
	s := startServer(t, shapes[0])
	const id = "react-e2e"

	landing := openPage(t, s, "landing", "/")
	if href := eval[string](landing, `document.querySelector('#demo-react')?.getAttribute('href') ?? ''`); href != "/react.html" {
		t.Errorf("#demo-react href = %q, want /react.html", href)
	}
	landing.Close()

	r := openPage(t, s, "react page", "/react.html?id="+id)
	r.waitReady()
	r.waitText("#count", "0")
	r.waitText("#viewers", "1")
	r.waitText("#actor-id", id)
	me := r.clientID()
	r.waitText("#client-id", me)
	renders := func(panel string) int {
		t.Helper()
		n, err := strconv.Atoi(eval[string](r, fmt.Sprintf(`document.querySelector('#%s').dataset.renders`, panel)))
		if err != nil {
			t.Fatalf("#%s data-renders: %v", panel, err)
		}
		return n
	}

	viewerRenders := renders("viewers-panel")
	r.click("#increment")
	r.waitText("#count", "1")
	r.click("#increment")
	r.waitText("#count", "2")
	r.waitText("#changes li:first-child", "2 by you")
	r.waitFor("two changes listed", `document.querySelectorAll('#changes li').length === 2`)
	if n := renders("viewers-panel"); n != viewerRenders {
		t.Errorf("viewers panel rendered %d times more on count changes, want 0", n-viewerRenders)
	}

	// The plain counter page on the same actor: a second viewer, whose
	// changes reach the React page as state and as events.
	countRenders := renders("count-panel")
	p := openPage(t, s, "plain page", "/counter.html?id="+id)
	p.waitReady()
	p.waitText("#count", "2")
	r.waitText("#viewers", "2")
	if n := renders("count-panel"); n != countRenders {
		t.Errorf("count panel rendered %d times more on a viewer change, want 0", n-countRenders)
	}
	p.click("#decrement")
	r.waitText("#count", "1")
	r.waitText("#changes li:first-child", "1 by "+p.clientID())

	r.click("#increment")
	p.waitText("#count", "2")
	p.Close()
	r.waitText("#viewers", "1")
}
