package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/natsembed"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/runtime"
)

// TestDeliveryUnderFaults runs calls from several watching clients through
// the distributed shape while a fault strikes, then counts what was lost,
// answered twice, or left a client's state different from the server's:
//
//   - "slow gateway": a tiny DeliveryBuffer, so NATS drops live messages
//     the gateway did not take in time (core delivery only);
//   - "gateway reconnect": the gateway's NATS connection is cut three
//     times, losing what was in flight;
//   - "nats restart": nats-server is stopped and started again on the same
//     port and store, with file streams;
//   - "nats restart memory": the same with memory streams, which the
//     restart loses with the calls and frames in them: gateway and runtime
//     must put the streams and consumers back, calls lost with them are
//     answered with the gateway's timeout, and watchers get fresh
//     snapshots;
//   - "runtime crash": the runtime is stopped without a drain and a new
//     one started (its instances start again from their initial state).
//
// Every call must be answered (an error counts: "call not delivered" while
// NATS is away), every patch a client receives must apply, and every
// client's state must end equal to the server's, and no call is answered
// twice, whatever the fault.
func TestDeliveryUnderFaults(t *testing.T) {
	t.Parallel()
	for _, fault := range []string{"slow gateway", "gateway reconnect", "nats restart", "nats restart memory", "runtime crash"} {
		for _, delivery := range deliveries {
			if fault == "slow gateway" && delivery == natstransport.DeliveryConsumer {
				continue // no core subscriptions to overflow
			}
			if strings.HasPrefix(fault, "nats restart") && delivery == natstransport.DeliveryConsumer {
				// A known gap of consumer delivery (docs/ARCHITECTURE.md):
				// after a restart the sessions' ordered consumers report
				// "server shutdown" and are not always re-created, so
				// sessions can stay deaf.
				continue
			}
			t.Run(fault+"/"+string(delivery), func(t *testing.T) {
				t.Parallel()
				runUnderFault(t, fault, delivery)
			})
		}
	}
}

func runUnderFault(t *testing.T, fault string, delivery natstransport.Delivery) {
	ctx := waitCtx(t)
	app, _ := newApp(t)
	opts := distOptions{delivery: delivery, rtConfig: runtime.Config{AckWait: 2 * time.Second}}
	var restart func()
	switch fault {
	case "slow gateway":
		opts.gwConfig.DeliveryBuffer = 4
	case "nats restart":
		srv, again := restartableServer(t)
		opts.nats, restart = srv, again
		opts.streams = natstransport.StreamSettings{Storage: natstransport.StorageFile}
	case "nats restart memory":
		srv, again := restartableServer(t)
		opts.nats, restart = srv, again
		opts.gwConfig.CallTimeout = 5 * time.Second // calls lost with the streams
	}
	d := startDistributed(t, app, opts)

	const clients, calls = 6, 120
	lcs := make([]*loadClient, clients)
	for i := range lcs {
		lcs[i] = dialLoad(t, ctx, d.URL, "faults")
	}
	var crashed <-chan error
	inject := func(k int) {
		switch {
		case fault == "gateway reconnect" && k%(calls/4) == 0 && k > 0: // three cuts
			if err := d.gateways[0].nc.ForceReconnect(); err != nil {
				t.Errorf("ForceReconnect: %v", err)
			}
		case strings.HasPrefix(fault, "nats restart") && k == calls/3:
			restart()
		case fault == "runtime crash" && k == calls/3:
			crashed = d.runtime.crash(d)
			d.runtime.start()
		}
	}
	var wg sync.WaitGroup
	for i, lc := range lcs {
		wg.Go(func() {
			tick := time.NewTicker(4 * time.Millisecond) // open loop: the fault does not slow the senders
			defer tick.Stop()
			for k := range calls {
				if i == 0 {
					inject(k)
				}
				lc.call(ctx, "c"+strconv.Itoa(k), "append", fmt.Sprintf(`{"n":%d}`, i*10000+k))
				<-tick.C
			}
		})
	}
	wg.Wait()
	if crashed != nil {
		select {
		case <-crashed:
		case <-ctx.Done():
			t.Fatal("the crashed runtime's Run did not return")
		}
	}

	// Every call answered at least once.
	eventually(t, ctx, "every call to be answered", func() (bool, string) {
		missing, which := 0, ""
		for _, lc := range lcs {
			if id, ids := lc.unanswered(); len(ids) > 0 {
				missing += len(ids)
				which += fmt.Sprintf(" session %s: %v;", id, ids)
			}
		}
		// What the gateway saw, for a failure's diagnosis.
		var seen string
		for _, g := range d.gateways {
			s := g.gw.Stats()
			seen += fmt.Sprintf(" gateway: %d gaps, %d recovered, %d duplicates, %d closed for lost frames, %d call timeouts, %d answers dropped, %d queued;",
				s.Gaps, s.Recovered, s.Duplicates, s.FramesLost, s.CallTimeouts, s.AnswersDropped, s.Queued)
		}
		return missing == 0, fmt.Sprintf("%d unanswered:%s%s", missing, which, seen)
	})
	// Every client's state equals the server's, once the server is quiet.
	checker := dialLoad(t, ctx, d.URL, "")
	var final []byte
	eventually(t, ctx, "the clients' states to equal the server's", func() (bool, string) {
		if final = checker.get(ctx, "faults"); final == nil {
			return false, "the server's state: get answered with an error"
		}
		for i, lc := range lcs {
			if doc := lc.state(); !jsonEqual(t, doc, final) {
				return false, fmt.Sprintf("client %d holds %.200s, server %.200s", i, doc, final)
			}
		}
		return true, ""
	})
	dups, errAnswers, patchErrs, closed := 0, 0, 0, 0
	for _, lc := range lcs {
		st := lc.stats()
		dups += st.dups
		errAnswers += st.errors
		patchErrs += st.patchErrs
		if st.closed != nil {
			closed++
		}
	}
	var gs gateway.Stats
	for _, g := range d.gateways {
		s := g.gw.Stats()
		gs.Gaps += s.Gaps
		gs.Recovered += s.Recovered
		gs.Duplicates += s.Duplicates
		gs.FramesLost += s.FramesLost
	}
	t.Logf("%s, %s delivery: %d calls, %d answered with an error, %d answered twice; %d patches that did not apply; %d sessions closed; gateway: %d gaps, %d frames recovered, %d duplicates dropped, %d sessions closed for lost frames",
		fault, delivery, clients*calls, errAnswers, dups, patchErrs, closed, gs.Gaps, gs.Recovered, gs.Duplicates, gs.FramesLost)
	if patchErrs > 0 || closed > 0 {
		t.Errorf("%d patches did not apply and %d sessions closed, want none", patchErrs, closed)
	}
	if dups > 0 {
		t.Errorf("%d calls answered twice, want none", dups)
	}
	if fault == "slow gateway" {
		if errAnswers > 0 {
			t.Errorf("%d errors from a delivery fault, want none", errAnswers)
		}
		if gs.Gaps == 0 || gs.Recovered == 0 {
			t.Errorf("gateway %+v: the tiny buffer dropped nothing, so nothing was tested", gs)
		}
	}
}

// restartableServer runs a nats-server on a fixed loopback port and store,
// and returns a function that stops it and starts it again there.
func restartableServer(t *testing.T) (*restartable, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	opts := natsembed.Options{Host: "127.0.0.1", Port: port, StoreDir: t.TempDir()}
	r := &restartable{t: t, opts: opts}
	r.start()
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.srv.Shutdown()
	})
	return r, func() {
		r.mu.Lock()
		r.srv.Shutdown()
		r.mu.Unlock()
		r.start()
	}
}

type restartable struct {
	t    *testing.T
	opts natsembed.Options
	mu   sync.Mutex
	srv  *natsembed.Server
	url  string
}

func (r *restartable) start() {
	srv, err := natsembed.Run(r.opts)
	if err != nil {
		r.t.Fatalf("start nats-server: %v", err)
	}
	r.mu.Lock()
	r.srv, r.url = srv, srv.ClientURL()
	r.mu.Unlock()
}

func (r *restartable) ClientURL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.url
}

// loadClient is a raw protocol client that watches one instance's state
// and counts the answers to its calls.
type loadClient struct {
	t  *testing.T
	ws *websocket.Conn

	mu        sync.Mutex
	wmu       sync.Mutex
	answers   map[string]int
	sent      map[string]bool
	errors    int
	doc       []byte
	patchErrs int
	closed    error
	gets      chan []byte
	id        string // the session id, from the welcome
	changed   chan struct{}
}

type loadStats struct {
	dups, errors, patchErrs int
	closed                  error
}

// dialLoad connects and, with a non-empty watch, subscribes to the state
// of counter watch.
func dialLoad(t *testing.T, ctx context.Context, url, watch string) *loadClient {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1)
	lc := &loadClient{t: t, ws: ws, answers: map[string]int{}, sent: map[string]bool{}, gets: make(chan []byte, 1)}
	t.Cleanup(func() { _ = ws.CloseNow() })
	go lc.read()
	if watch != "" {
		lc.send(ctx, fmt.Sprintf(`{"type":"state:sub","actor":"counter","actorId":%q}`, watch))
		eventually(t, ctx, "the snapshot", func() (bool, string) { return lc.state() != nil, "" })
	}
	return lc
}

func (lc *loadClient) send(ctx context.Context, frame string) {
	lc.wmu.Lock()
	defer lc.wmu.Unlock()
	if err := lc.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		lc.t.Errorf("write: %v", err)
	}
}

func (lc *loadClient) call(ctx context.Context, id, method, input string) {
	lc.mu.Lock()
	lc.sent[id] = true
	lc.mu.Unlock()
	lc.send(ctx, fmt.Sprintf(`{"type":"rpc","id":%q,"actor":"counter","actorId":"faults","method":%q,"input":%s}`, id, method, input))
}

// get returns the server's state of counter id (a call answered on this
// client's read loop), or nil when the call was answered with an error.
func (lc *loadClient) get(ctx context.Context, id string) []byte {
	lc.send(ctx, fmt.Sprintf(`{"type":"rpc","id":"get","actor":"counter","actorId":%q,"method":"get"}`, id))
	select {
	case b := <-lc.gets:
		return b
	case <-ctx.Done():
		lc.t.Fatalf("get: %v", ctx.Err())
		return nil
	}
}

func (lc *loadClient) read() {
	for {
		_, data, err := lc.ws.Read(context.Background())
		if err != nil {
			lc.mu.Lock()
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				lc.closed = err
			}
			lc.mu.Unlock()
			return
		}
		var f struct {
			Type    string          `json:"type"`
			ID      string          `json:"id"`
			Error   *string         `json:"error"`
			Result  json.RawMessage `json:"result"`
			State   json.RawMessage `json:"state"`
			Patches json.RawMessage `json:"patches"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			lc.t.Errorf("frame %s: %v", data, err)
			continue
		}
		lc.mu.Lock()
		switch f.Type {
		case "rpc:result":
			if f.ID == "get" {
				res := bytes.Clone(f.Result)
				if f.Error != nil { // the fabric is not back yet: the caller asks again
					res = nil
				}
				select {
				case lc.gets <- res:
				default:
				}
				break
			}
			lc.answers[f.ID]++
			if f.Error != nil {
				lc.errors++
			}
		case "welcome":
			var w struct {
				ClientID string `json:"clientId"`
			}
			_ = json.Unmarshal(data, &w)
			lc.id = w.ClientID
		case "state:snapshot":
			lc.doc = bytes.Clone(f.State)
		case "state:patch":
			p, err := jsonpatch.DecodePatch(f.Patches)
			if err == nil {
				var doc []byte
				if doc, err = p.Apply(lc.doc); err == nil {
					lc.doc = doc
				}
			}
			if err != nil {
				lc.patchErrs++
				lc.t.Logf("patch %s on %.200s: %v", f.Patches, lc.doc, err)
			}
		}
		lc.mu.Unlock()
	}
}

func (lc *loadClient) unanswered() (session string, ids []string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for id := range lc.sent {
		if lc.answers[id] == 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return lc.id, ids
}

func (lc *loadClient) state() []byte {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.doc
}

func (lc *loadClient) stats() loadStats {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	st := loadStats{errors: lc.errors, patchErrs: lc.patchErrs, closed: lc.closed}
	for _, n := range lc.answers {
		st.dups += max(0, n-1)
	}
	return st
}

// TestNATSRestartMemoryStreams: a nats-server restarted with memory
// streams comes back without INBOUND, OUTBOUND and the runtime's
// consumers. The gateway and the runtime put them back on their own; the
// open session keeps working, and the gateway's /ready says when.
func TestNATSRestartMemoryStreams(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	app, _ := newApp(t)
	srv, restart := restartableServer(t)
	d := startDistributed(t, app, distOptions{nats: srv, gwConfig: gateway.Config{CallTimeout: 3 * time.Second}})
	readyURL := "http" + strings.TrimSuffix(strings.TrimPrefix(d.URL, "ws"), "/") + gateway.ReadyPath
	c := dial(t, d.URL, nil)
	counter := c.Actor("counter", "r")
	if _, err := client.CallT[counterView](ctx, counter, "add", addInput{By: 1}); err != nil {
		t.Fatalf("call before the restart: %v", err)
	}
	if code := httpStatus(t, ctx, readyURL); code != http.StatusOK {
		t.Fatalf("%s before the restart: %d", gateway.ReadyPath, code)
	}

	restart()
	start := time.Now()
	var failures []string // the first few
	failed := 0
	for {
		cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		_, err := client.CallT[counterView](cctx, counter, "add", addInput{By: 1})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no call succeeded %v after the restart; %d errors, the first: %v", time.Since(start), failed, failures)
		}
		if len(failures) < 5 {
			failures = append(failures, err.Error())
		}
		failed++
	}
	took := time.Since(start)
	eventually(t, ctx, "the gateway to say it is ready", func() (bool, string) {
		code := httpStatus(t, ctx, readyURL)
		return code == http.StatusOK, fmt.Sprintf("%s: %d", gateway.ReadyPath, code)
	})
	// The counter's consumer came back with the first call that
	// succeeded; the runtime's check puts the others back within its
	// interval (2 s), which the fabric check at the end needs.
	eventually(t, ctx, "the runtime to put back every INBOUND consumer", func() (bool, string) {
		names, err := d.consumerNames(ctx, "INBOUND")
		return err == nil && len(names) == len(app.Actors()), fmt.Sprintf("consumers %v, %v; want %d", names, err, len(app.Actors()))
	})
	if err := c.Err(); err != nil {
		t.Fatalf("the session did not survive the restart: %v", err)
	}
	t.Logf("calls succeed again %v after the restart (%d failed meanwhile: %v)", took.Round(time.Millisecond), failed, failures)
}

// httpStatus GETs url and returns the status code.
func httpStatus(t *testing.T, ctx context.Context, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
