package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

// screenshotShape is the shape whose pages go to docs/screenshots (one, so
// that shapes running in parallel do not write the same files): "zocket
// dev", the README's main command.
func screenshotShape(sh shape) bool { return sh.name == dev.name }

func TestLandingPage(t *testing.T) {
	t.Parallel()
	forEachShape(t, func(t *testing.T, sh shape) {
		s := startServer(t, sh)
		p := openPage(t, s, "landing", "/")

		for _, demo := range []string{"counter", "chat", "canvas"} {
			href := eval[string](p, fmt.Sprintf(`document.querySelector('#demo-%s')?.getAttribute('href') ?? ''`, demo))
			if want := "/" + demo + ".html"; href != want {
				t.Errorf("#demo-%s href = %q, want %q", demo, href, want)
			}
		}
		wsURL := "ws://" + s.addr + "/"
		p.waitText("#endpoint", wsURL)
		if id := p.clientID(); p.text("#client-id") != id {
			t.Errorf("#client-id = %q, want the client id %q", p.text("#client-id"), id)
		}
		if screenshotShape(sh) {
			p.screenshot("landing")
		}

		// The links lead to working demos.
		p.click("#demo-counter")
		p.waitFor("counter page", `location.pathname === '/counter.html'`)
		p.waitStatus("open")
		p.waitReady()
	})
}

// TestCounterTwoPages: two visitors on one counter see each other's changes
// and each other as viewers.
func TestCounterTwoPages(t *testing.T) {
	t.Parallel()
	forEachShape(t, func(t *testing.T, sh shape) {
		s := startServer(t, sh)
		a := openPage(t, s, "page A", "/counter.html")
		b := openPage(t, s, "page B", "/counter.html")
		for _, p := range []*page{a, b} {
			p.waitReady()
			p.waitText("#viewers", "2")
			p.waitText("#count", "0")
		}

		for range 3 {
			a.click("#increment")
		}
		b.waitText("#count", "3")
		a.waitText("#count", "3")

		b.click("#decrement")
		a.waitText("#count", "2")

		b.typeInto("#set-input", "-5")
		b.click("#set")
		a.waitText("#count", "-5")
		b.waitText("#count", "-5")
		b.waitFor("set input cleared", `document.querySelector('#set-input').value === ''`)

		a.click("#reset")
		b.waitText("#count", "0")

		b.typeInto("#set-input", "41")
		b.click("#set")
		a.waitText("#count", "41")
		a.click("#increment")
		b.waitText("#count", "42")
		if screenshotShape(sh) {
			b.screenshot("counter")
		}

		// B leaves: A sees one viewer.
		b.Close()
		a.waitText("#viewers", "1")
		a.waitText("#viewers-label", "viewer")
	})
}

// TestChatTwoPages: a message from page A appears in page B and back, and
// A's online list drops B when B's tab closes.
func TestChatTwoPages(t *testing.T) {
	t.Parallel()
	forEachShape(t, func(t *testing.T, sh shape) {
		s := startServer(t, sh)
		a := openPage(t, s, "Ada", "/chat.html?name=Ada")
		a.waitReady()
		b := openPage(t, s, "Linus", "/chat.html?name=Linus")
		b.waitReady()
		aID, bID := a.clientID(), b.clientID()

		// Both see both, by the names they joined with.
		for _, p := range []*page{a, b} {
			p.waitText(onlineItem(aID), "Ada"+youIf(p == a))
			p.waitText(onlineItem(bID), "Linus"+youIf(p == b))
			p.waitText("#online-count", "(2)")
		}
		a.waitText("#me", "Ada")

		a.typeInto("#message-input", "Hello Linus, grüß dich!")
		a.click("#send")
		b.waitFor("Ada's message", hasMessage("Hello Linus, grüß dich!", "Ada"))
		a.waitFor("own message", hasMessage("Hello Linus, grüß dich!", "you"))
		a.waitFor("input cleared", `document.querySelector('#message-input').value === ''`)

		b.typeInto("#message-input", "Hi Ada! Drawing on the canvas next?")
		b.click("#send")
		a.waitFor("Linus's message", hasMessage("Hi Ada! Drawing on the canvas next?", "Linus"))

		a.typeInto("#message-input", "Sure, see you there.")
		a.click("#send")
		b.waitFor("Ada's reply", hasMessage("Sure, see you there.", "Ada"))

		// The message history is state: a page opened now shows it too.
		c := openPage(t, s, "late visitor", "/chat.html?name=Grace")
		c.waitReady()
		c.waitFor("history", hasMessage("Hi Ada! Drawing on the canvas next?", "Linus"))
		c.waitFor("3 messages", `document.querySelectorAll('#messages li[data-id]').length === 3`)
		c.Close()
		a.waitText("#online-count", "(2)")

		if screenshotShape(sh) {
			a.screenshot("chat")
		}

		b.Close()
		a.waitFor("Linus gone from the online list",
			fmt.Sprintf(`document.querySelector(%s) === null`, jsString(onlineItem(bID))))
		a.waitText("#online-count", "(1)")
		a.waitText(onlineItem(aID), "Ada(you)")
	})
}

func onlineItem(clientID string) string {
	return fmt.Sprintf(`#online li[data-client-id=%q]`, clientID)
}

func youIf(b bool) string {
	if b {
		return "(you)"
	}
	return ""
}

// hasMessage is a JavaScript condition: #messages has a message with this
// text whose meta line starts with who ("you" for one's own).
func hasMessage(text, who string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#messages li[data-id]')].some((li) =>
		li.querySelector('.bubble')?.textContent === %s &&
		li.querySelector('.meta')?.textContent.startsWith(%s))`, jsString(text), jsString(who))
}

// TestCanvasStroke: a stroke drawn with the mouse in one page appears in
// the other, in its state and painted on its canvas.
func TestCanvasStroke(t *testing.T) {
	t.Parallel()
	forEachShape(t, func(t *testing.T, sh shape) {
		s := startServer(t, sh)
		a := openPage(t, s, "page A", "/canvas.html")
		b := openPage(t, s, "page B", "/canvas.html")
		a.waitReady()
		b.waitReady()
		b.waitText("#stroke-count", "0")
		aID := a.clientID()

		// A wave across the board, in board coordinates 0..1.
		var wave [][2]float64
		for i := 0; i <= 40; i++ {
			x := 0.08 + 0.84*float64(i)/40
			wave = append(wave, [2]float64{x, 0.5 + 0.25*math.Sin(x*2*math.Pi*1.5)})
		}
		a.drag(a.boardPoints(wave))
		b.waitText("#stroke-count", "1")
		a.waitText("#stroke-count", "1")

		var stroke struct {
			Points   [][2]float64 `json:"points"`
			Color    string       `json:"color"`
			Width    float64      `json:"width"`
			ClientID string       `json:"clientId"`
		}
		raw := eval[json.RawMessage](b, `window.zocketClient.actor('canvas', 'main').state.strokes[0]`)
		if err := json.Unmarshal(raw, &stroke); err != nil {
			t.Fatalf("stroke in B's state: %v (%s)", err, raw)
		}
		if stroke.ClientID != aID {
			t.Errorf("stroke clientId = %q, want page A's %q", stroke.ClientID, aID)
		}
		if stroke.Color != "#2563eb" || stroke.Width != 4 {
			t.Errorf("stroke color, width = %q, %v; want the defaults #2563eb, 4", stroke.Color, stroke.Width)
		}
		if len(stroke.Points) < 20 {
			t.Fatalf("stroke has %d points, want about %d", len(stroke.Points), len(wave))
		}
		first, last := stroke.Points[0], stroke.Points[len(stroke.Points)-1]
		if !near(first, wave[0]) || !near(last, wave[len(wave)-1]) {
			t.Errorf("stroke runs from %v to %v, want from %v to %v", first, last, wave[0], wave[len(wave)-1])
		}

		// B painted it: the canvas pixel under the middle of the stroke is
		// blue-ish, and one far from it is untouched.
		mid := stroke.Points[len(stroke.Points)/2]
		if px := b.boardPixel(mid); px[3] == 0 || px[2] < 150 {
			t.Errorf("B's canvas at %v is %v, want the stroke's blue", mid, px)
		}
		if px := b.boardPixel([2]float64{0.5, 0.03}); px[3] != 0 {
			t.Errorf("B's canvas at the top edge is %v, want untouched", px)
		}

		// More strokes with other tools, for the screenshot and for patches
		// that append to a non-empty list.
		a.click(`#colors button[data-color="#e11d48"]`)
		a.click(`#widths button[data-width="8"]`)
		a.drag(a.boardPoints([][2]float64{{0.2, 0.2}, {0.35, 0.2}, {0.2, 0.4}, {0.35, 0.4}}))
		b.click(`#colors button[data-color="#16a34a"]`)
		b.click(`#widths button[data-width="16"]`)
		var circle [][2]float64
		for i := 0; i <= 48; i++ {
			th := 2 * math.Pi * float64(i) / 48
			circle = append(circle, [2]float64{0.72 + 0.1*math.Cos(th), 0.3 + 0.13*math.Sin(th)})
		}
		b.drag(b.boardPoints(circle))
		a.waitText("#stroke-count", "3")
		b.waitText("#stroke-count", "3")
		if screenshotShape(sh) {
			a.screenshot("canvas")
		}

		// Clear empties both boards.
		b.click("#clear")
		a.waitText("#stroke-count", "0")
		if px := a.boardPixel(mid); px[3] != 0 {
			t.Errorf("A's canvas at %v is %v after clear, want empty", mid, px)
		}
	})
}

// TestCanvasTouch: a stroke drawn with a finger on a phone-sized page
// reaches a desktop page. Touch input is the page's business (syncing
// strokes is TestCanvasStroke's, on every shape), so one shape is enough.
func TestCanvasTouch(t *testing.T) {
	t.Parallel()
	s := startServer(t, shapes[0])
	phone := newPage(t, "phone")
	phone.do("phone viewport", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateTouch))
	phone.navigate(s.URL + "/canvas.html?id=touch")
	phone.waitStatus("open")
	phone.waitReady()
	desk := openPage(t, s, "desktop", "/canvas.html?id=touch")
	desk.waitReady()

	phone.click(`#colors button[data-color="#9333ea"]`)
	line := [][2]float64{{0.1, 0.9}, {0.3, 0.7}, {0.5, 0.5}, {0.7, 0.3}, {0.9, 0.1}}
	phone.touchDrag(phone.boardPoints(line))
	desk.waitText("#stroke-count", "1")
	var stroke struct {
		Points   [][2]float64 `json:"points"`
		Color    string       `json:"color"`
		ClientID string       `json:"clientId"`
	}
	raw := eval[json.RawMessage](desk, `window.zocketClient.actor('canvas', 'touch').state.strokes[0]`)
	if err := json.Unmarshal(raw, &stroke); err != nil {
		t.Fatalf("stroke in the desktop page's state: %v (%s)", err, raw)
	}
	if stroke.ClientID != phone.clientID() || stroke.Color != "#9333ea" || len(stroke.Points) != len(line) {
		t.Errorf("stroke = %s, want the phone's purple 5-point stroke", raw)
	}
	for i := range min(len(line), len(stroke.Points)) {
		if !near(stroke.Points[i], line[i]) {
			t.Errorf("point %d = %v, want %v", i, stroke.Points[i], line[i])
		}
	}
	if px := desk.boardPixel(line[2]); px[3] == 0 {
		t.Errorf("desktop canvas at %v is empty, want the stroke painted", line[2])
	}
}

func near(p, q [2]float64) bool { return math.Abs(p[0]-q[0]) < 0.01 && math.Abs(p[1]-q[1]) < 0.01 }

// boardPoints maps board coordinates (0..1) to viewport CSS pixels.
func (p *page) boardPoints(pts [][2]float64) [][2]float64 {
	p.t.Helper()
	r := eval[struct{ X, Y, W, H float64 }](p,
		`(() => { const r = document.querySelector('#canvas').getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`)
	if r.W < 100 || r.H < 100 {
		p.fatalf("canvas is %vx%v CSS pixels", r.W, r.H)
	}
	out := make([][2]float64, len(pts))
	for i, pt := range pts {
		out[i] = [2]float64{r.X + pt[0]*r.W, r.Y + pt[1]*r.H}
	}
	return out
}

// boardPixel returns the RGBA of the canvas at board coordinates.
func (p *page) boardPixel(pt [2]float64) [4]int {
	p.t.Helper()
	return eval[[4]int](p, fmt.Sprintf(`(() => {
		const c = document.querySelector('#canvas');
		const x = Math.min(c.width - 1, Math.round(%v * c.width)), y = Math.min(c.height - 1, Math.round(%v * c.height));
		return [...c.getContext('2d').getImageData(x, y, 1, 1).data];
	})()`, pt[0], pt[1]))
}

// TestRPCErrorRejects: a failing call made with window.zocketClient rejects
// its promise with an RpcError whose message is the server's error, exactly
// as a raw WebSocket client reads it in rpc:result.error.
func TestRPCErrorRejects(t *testing.T) {
	t.Parallel()
	forEachShape(t, func(t *testing.T, sh shape) {
		s := startServer(t, sh)
		p := openPage(t, s, "page", "/counter.html")
		p.waitReady()

		cases := []struct {
			name, actor, method string
			input               any
		}{
			{"unknown method", "counter", "nope", nil},
			{"invalid input", "counter", "set", map[string]any{}},
			{"wrong input type", "counter", "set", map[string]any{"value": "ten"}},
			{"unknown actor type", "no-such-actor", "increment", nil},
			{"validation error", "chat", "send", map[string]any{"text": "   "}},
		}
		for _, tc := range cases {
			want := rawCallError(t, s, tc.actor, tc.method, tc.input)
			if want == "" {
				t.Fatalf("%s: the server answered without an error", tc.name)
			}
			input, err := json.Marshal(tc.input)
			if err != nil {
				t.Fatal(err)
			}
			got := eval[struct {
				Settled string `json:"settled"`
				Name    string `json:"name"`
				Message string `json:"message"`
				IsRPC   bool   `json:"isRpc"`
				Method  string `json:"method"`
			}](p, fmt.Sprintf(`(async () => {
				const { RpcError } = await import('/zocket.js');
				try {
					const result = await window.zocketClient.actor(%s, 'main').call(%s, %s);
					return { settled: 'resolved: ' + JSON.stringify(result) };
				} catch (err) {
					return { settled: 'rejected', name: err.name, message: err.message, isRpc: err instanceof RpcError, method: err.method };
				}
			})()`, jsString(tc.actor), jsString(tc.method), input))
			if got.Settled != "rejected" || !got.IsRPC || got.Name != "RpcError" {
				t.Errorf("%s: promise %s with %s (instanceof RpcError: %v), want rejected with an RpcError",
					tc.name, got.Settled, got.Name, got.IsRPC)
			}
			if got.Message != want {
				t.Errorf("%s: rejection message %q, want the server's error %q", tc.name, got.Message, want)
			}
			if got.Method != tc.method {
				t.Errorf("%s: err.method = %q, want %q", tc.name, got.Method, tc.method)
			}
		}

		// Through the UI: a whole number too big for the server's int is
		// refused by the server, and the page shows the server's error.
		want := rawCallError(t, s, "counter", "set", map[string]any{"value": 1e20})
		if want == "" {
			t.Fatal("the server accepted 1e20 as a counter value")
		}
		p.typeInto("#set-input", "100000000000000000000")
		p.click("#set")
		p.waitFor("error shown", fmt.Sprintf(`!document.querySelector('#error').hidden &&
			document.querySelector('#error').textContent === %s`, jsString(want)))

		// The failed calls changed nothing and the page is still live.
		p.waitStatus("open")
		p.click("#increment")
		p.waitText("#count", "1")
		p.waitFor("error hidden", `document.querySelector('#error').hidden`)
	})
}

// rawCallError sends one rpc over a plain WebSocket and returns the error
// string of its rpc:result ("" on success).
func rawCallError(t *testing.T, s *server, actor, method string, input any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	frame := map[string]any{"type": "rpc", "id": "e2e-1", "actor": actor, "actorId": "main", "method": method}
	if input != nil {
		frame["input"] = input
	}
	msg, err := json.Marshal(frame)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read rpc:result for %s.%s: %v", actor, method, err)
		}
		var res struct {
			Type  string `json:"type"`
			ID    string `json:"id"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(data, &res); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		if res.Type == "rpc:result" && res.ID == "e2e-1" {
			_ = c.Close(websocket.StatusNormalClosure, "")
			return res.Error
		}
	}
}

// TestReconnectAfterRestart: when the server goes away and a new one starts
// on the same port, the page shows that it is reconnecting, reconnects on
// its own, and shows the new server's current state, updated live again.
func TestReconnectAfterRestart(t *testing.T) {
	t.Parallel()
	forEachShape(t, func(t *testing.T, sh shape) {
		s := startServer(t, sh)
		a := openPage(t, s, "page A", "/counter.html")
		a.waitReady()
		a.typeInto("#set-input", "7")
		a.click("#set")
		a.waitText("#count", "7")
		firstID := a.clientID()
		c := openPage(t, s, "chat", "/chat.html?name=Ada")
		c.waitReady()
		c.typeInto("#message-input", "before the restart")
		c.click("#send")
		c.waitFor("message", hasMessage("before the restart", "you"))
		chatID := c.clientID()

		// Record every status change from now on.
		eval[bool](a, `(window.e2eStatuses = [], window.zocketClient.onStatus((s) => window.e2eStatuses.push(s)), true)`)

		stopAt := time.Now()
		s.Stop()
		t.Logf("server stopped in %v", time.Since(stopAt).Round(time.Millisecond))
		a.waitStatus("reconnecting")
		a.waitFor("reconnect banner", `!document.querySelector('#banner').hidden &&
			document.querySelector('#banner').textContent.startsWith('Connection lost.')`)

		start := time.Now()
		s.Start()
		a.waitStatus("open")
		t.Logf("reconnected %v after the restart", time.Since(start).Round(time.Millisecond))
		statuses := eval[[]string](a, `window.e2eStatuses`)
		if len(statuses) < 2 || statuses[0] != "reconnecting" || statuses[len(statuses)-1] != "open" {
			t.Errorf("statuses after the stop: %v, want reconnecting (repeated per attempt) then open", statuses)
		}
		for _, st := range statuses[:len(statuses)-1] {
			if st != "reconnecting" {
				t.Errorf("statuses after the stop: %v, want only reconnecting before open", statuses)
				break
			}
		}
		a.waitText("#client-id", a.waitNewClientID(firstID))
		a.waitFor("reconnected banner", `document.querySelector('#banner').textContent.startsWith('Reconnected')`)

		// A second visitor on the new server changes the count: A shows
		// the new server's state (fresh snapshot, then patches).
		b := openPage(t, s, "page B", "/counter.html")
		b.waitReady()
		b.typeInto("#set-input", "99")
		b.click("#set")
		a.waitText("#count", "99")
		a.waitText("#viewers", "2")
		a.click("#increment")
		b.waitText("#count", "100")
		a.waitText("#count", "100")

		// The chat page dropped the old server's messages (a fresh
		// snapshot is the whole truth) and joined again under its name.
		c.waitStatus("open")
		c.waitFor("no messages", `document.querySelectorAll('#messages li[data-id]').length === 0 &&
			document.querySelector('#messages li.empty') !== null`)
		c.waitText(onlineItem(c.waitNewClientID(chatID)), "Ada(you)")
		c.waitFor("alone online", `document.querySelectorAll('#online li').length === 1`)
	})
}

// TestReconnectAfterGatewayRestart: in the distributed shape, when only the
// gateway restarts, the actors keep running in the runtime: the page
// reconnects to the same state, and the runtime has let go of the old
// session (its viewer count is back to one).
func TestReconnectAfterGatewayRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t, distributed)
	a := openPage(t, s, "page A", "/counter.html")
	a.waitReady()
	a.typeInto("#set-input", "7")
	a.click("#set")
	a.waitText("#count", "7")
	a.waitText("#viewers", "1")
	firstID := a.clientID()
	c := openPage(t, s, "chat", "/chat.html?name=Ada")
	c.waitReady()
	c.typeInto("#message-input", "before the restart")
	c.click("#send")
	c.waitFor("message", hasMessage("before the restart", "you"))
	chatID := c.clientID()
	eval[bool](a, `(window.e2eStatuses = [], window.zocketClient.onStatus((s) => window.e2eStatuses.push(s)), true)`)

	s.RestartFront()
	a.waitFor("reconnected", `window.e2eStatuses.includes('reconnecting') && window.zocketClient.status === 'open'`)
	a.waitStatus("open")
	a.waitNewClientID(firstID)
	a.waitText("#count", "7")
	a.waitText("#viewers", "1")
	a.click("#increment")
	a.waitText("#count", "8")

	// The chat kept its history; the old session left the online
	// list and the new one joined under the same name.
	c.waitText(onlineItem(c.waitNewClientID(chatID)), "Ada(you)")
	c.waitFor("alone online", `document.querySelectorAll('#online li').length === 1`)
	c.waitFor("history kept", hasMessage("before the restart", "you")) // the page remembers its earlier ids
}

// TestPhoneLayout: on a phone-sized screen every page fits the width (no
// sideways scrolling) and its main controls are on screen. Layout does not
// depend on the server, so one shape is enough.
func TestPhoneLayout(t *testing.T) {
	t.Parallel()
	s := startServer(t, shapes[0])
	p := newPage(t, "phone")
	p.do("phone viewport", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	for _, tc := range []struct {
		path     string
		controls []string
	}{
		{"/", []string{"#demo-counter", "#demo-chat", "#demo-canvas", "#status"}},
		{"/counter.html", []string{"#count", "#increment", "#decrement", "#set", "#reset", "#status"}},
		{"/chat.html?name=Ada", []string{"#message-input", "#send", "#online", "#status"}},
		{"/canvas.html", []string{"#canvas", "#clear", "#stroke-count", "#status"}},
	} {
		p.navigate(s.URL + tc.path)
		p.waitStatus("open")
		if tc.path != "/" { // the demos render their lists from the first snapshot
			p.waitFor("first state rendered", `document.body.dataset.ready === 'true'`)
		}
		if w := eval[[2]float64](p, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Errorf("%s: page is %v CSS pixels wide on a %v-pixel screen", tc.path, w[0], w[1])
		}
		for _, sel := range tc.controls {
			r := eval[struct{ Left, Right, Width, Height float64 }](p, fmt.Sprintf(
				`(() => { const r = document.querySelector(%s).getBoundingClientRect(); return {Left: r.left, Right: r.right, Width: r.width, Height: r.height}; })()`,
				jsString(sel)))
			if r.Width == 0 || r.Height == 0 || r.Left < 0 || r.Right > 375 {
				t.Errorf("%s: %s at x %.0f..%.0f (%.0fx%.0f), want visible within 0..375", tc.path, sel, r.Left, r.Right, r.Width, r.Height)
			}
		}
	}
}
