package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natstransport"
)

// TestSessionChurn opens and closes sessions one after another, then holds
// many open at once (more than nats-server's default cap of 1,000
// consumers per stream at full size); every session gets its welcome and an
// rpc answer, and afterwards OUTBOUND holds no consumer of a closed
// session. Full size is the 1,500 and 1,200; -short runs 300 and
// 200.
func TestSessionChurn(t *testing.T) {
	sequential, concurrent := 1500, 1200
	if testing.Short() {
		sequential, concurrent = 300, 200
	}
	// Generous JetStream timeouts: the machine running the test may be busy;
	// what is checked is that every session works and nothing is left over.
	r := newRig(t, gateway.Config{JetStreamTimeout: waitTimeout, PublishTimeout: waitTimeout})
	startRuntime(t, r.srv, devScope, false, "echo")
	subj, _ := natstransport.SessionDisconnectedSubject(devScope)
	disconnected := notices(t, r.nc, subj)
	ids := map[string]bool{}

	start := time.Now()
	for i := range sequential {
		id, ws, err := churnSession(r.url, i)
		if err != nil {
			t.Fatalf("sequential session %d: %v", i, err)
		}
		ids[id] = true
		_ = ws.Close(websocket.StatusNormalClosure, "")
	}
	seqTook := time.Since(start)
	waitAllDisconnected(t, disconnected, ids)
	r.waitConsumersGone("")

	start = time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		conns = make([]*websocket.Conn, concurrent)
	)
	ids = map[string]bool{}
	// All of them end up open at once, but at most dialers are opening at
	// any moment, so that each session's deadline starts when it dials and
	// a slow machine does not time out the last of a thundering herd.
	dialing := make(chan struct{}, dialers)
	for i := range concurrent {
		wg.Go(func() {
			dialing <- struct{}{}
			id, ws, err := churnSession(r.url, sequential+i)
			<-dialing
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("concurrent session %d: %w", i, err))
				return
			}
			ids[id] = true
			conns[i] = ws
		})
	}
	wg.Wait()
	openTook := time.Since(start)
	if len(errs) > 0 {
		t.Fatalf("%d of %d concurrent sessions failed; first: %v", len(errs), concurrent, errs[0])
	}
	if s := r.gw.Stats(); s.SessionsOpen != int64(concurrent) {
		t.Fatalf("SessionsOpen = %d, want %d", s.SessionsOpen, concurrent)
	}
	if n := len(r.outboundConsumers()); n != concurrent {
		t.Fatalf("OUTBOUND has %d consumers with %d sessions open", n, concurrent)
	}
	for _, ws := range conns {
		wg.Go(func() { _ = ws.Close(websocket.StatusNormalClosure, "") })
	}
	wg.Wait()
	waitAllDisconnected(t, disconnected, ids)
	r.waitConsumersGone("")
	s := r.gw.Stats()
	if s.ConsumerFailures != 0 || s.PublishFailures != 0 || s.ConsumerLeftovers != 0 || s.SessionsOpen != 0 {
		t.Fatalf("stats = %+v", s)
	}
	t.Logf("%d sequential sessions in %v (%v each); %d concurrent opened and answered in %v; total %v",
		sequential, seqTook.Round(time.Millisecond), (seqTook / time.Duration(sequential)).Round(time.Microsecond),
		concurrent, openTook.Round(time.Millisecond), (seqTook + time.Since(start)).Round(time.Millisecond))
}

// dialers bounds the sessions that the churn tests open at the same moment.
const dialers = 64

// churnSession dials, reads the welcome, makes one rpc and returns the
// session id and the open socket. It reports errors instead of failing the
// test, so that it can run on any goroutine.
func churnSession(url string, n int) (string, *websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, *websocket.Conn, error) {
		_ = ws.CloseNow()
		return "", nil, err
	}
	var f frame
	read := func() error {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		f = frame{}
		return json.Unmarshal(data, &f)
	}
	if err := read(); err != nil {
		return fail(err)
	}
	if f.Type != "welcome" {
		return fail(fmt.Errorf("first frame %+v", f))
	}
	id := f.ClientID
	rid := strconv.Itoa(n)
	if err := ws.Write(ctx, websocket.MessageText, []byte(rpcFrame(rid, "echo", "room-"+strconv.Itoa(n%7), "m", rid))); err != nil {
		return fail(err)
	}
	if err := read(); err != nil {
		return fail(err)
	}
	if f.Type != "rpc:result" || f.ID != rid || f.Error != nil || !strings.Contains(string(f.Result), `"input":`+rid) {
		return fail(fmt.Errorf("answer %+v", f))
	}
	return id, ws, nil
}

func waitAllDisconnected(t *testing.T, ch chan *nats.Msg, ids map[string]bool) {
	t.Helper()
	pending := len(ids)
	for pending > 0 {
		d, err := natstransport.DecodeSessionDisconnected(nextMsg(t, ch).Data)
		if err != nil {
			t.Fatalf("decode notice: %v", err)
		}
		if ids[d.SessionID] {
			ids[d.SessionID] = false
			pending--
		}
	}
}
