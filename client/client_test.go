package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/protocol"
)

func TestDialWelcomeAndClose(t *testing.T) {
	s := newScriptServer(t)
	rec := newStatusRecorder()
	c := dial(t, s.url(), &client.Options{
		Token:      "s3cret",
		HTTPHeader: http.Header{"X-Test": {"yes"}},
		OnStatus:   rec.record,
	})
	sc := s.accept(t)
	if c.ID() != "c1" || c.Status() != client.StatusConnected || c.Err() != nil {
		t.Fatalf("ID %q, Status %v, Err %v", c.ID(), c.Status(), c.Err())
	}
	if got := sc.req.URL.Query().Get("token"); got != "s3cret" {
		t.Errorf("token = %q", got)
	}
	if got := sc.req.Header.Get("X-Test"); got != "yes" {
		t.Errorf("header = %q", got)
	}
	if ev := rec.wait(t, client.StatusConnected); ev.ClientID != "c1" {
		t.Errorf("connected event %+v", ev)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := websocket.CloseStatus(sc.waitDone(t)); got != websocket.StatusNormalClosure {
		t.Errorf("close status %v, want 1000", got)
	}
	if ev := rec.wait(t, client.StatusClosed); !errors.Is(ev.Err, client.ErrClosed) {
		t.Errorf("closed event %+v", ev)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if !errors.Is(c.Err(), client.ErrClosed) || c.Status() != client.StatusClosed {
		t.Errorf("after Close: Err %v, Status %v", c.Err(), c.Status())
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Actor("a", "1").Call(t.Context(), "m", nil, nil); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Call after Close: %v", err)
	}
	if _, err := c.Actor("a", "1").WatchState(t.Context()); !errors.Is(err, client.ErrClosed) {
		t.Errorf("WatchState after Close: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	s := newScriptServer(t)
	s.setWelcome(func(string) []byte { return []byte(`{"type":"event","actor":"a","actorId":"1","event":"e"}`) })
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "who are you", http.StatusUnauthorized)
	}))
	defer refusing.Close()
	silent := newScriptServer(t)
	silent.setWelcome(func(string) []byte { return nil })

	tests := []struct {
		name    string
		url     string
		opts    *client.Options
		wantErr error
	}{
		{"not welcome", s.url(), nil, client.ErrProtocol},
		{"unauthorized", refusing.URL, &client.Options{Token: "s3cret"}, nil},
		{"no server", "ws://127.0.0.1:1/?token=s3cret", nil, nil},
		{"bad scheme", "tcp://x/", nil, nil},
		{"bad option", s.url(), &client.Options{EventBuffer: -1}, client.ErrInvalidOption},
		{"welcome timeout", silent.url(), &client.Options{DialTimeout: 50 * time.Millisecond}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.Dial(testCtx(t), tt.url, tt.opts)
			if err == nil {
				_ = c.Close()
				t.Fatal("Dial succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
	// Dial honours its context too.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := client.Dial(ctx, s.url(), nil); err == nil {
		t.Error("Dial with a cancelled context succeeded")
	}
}

// rpcEcho answers every rpc with its input (or the method name without
// input), and "fail" with an error.
func rpcEcho(sc *serverConn, f protocol.Frame) bool {
	if f.Type != protocol.TypeRPC {
		return false
	}
	var out []byte
	switch {
	case f.Method == "fail":
		out = protocol.AppendRPCError(nil, f.ID, "nope: "+f.ActorID)
	case f.Input == nil:
		out = protocol.AppendRPCResult(nil, f.ID, protocol.AppendString(nil, f.Method))
	default:
		out = protocol.AppendRPCResult(nil, f.ID, f.Input)
	}
	_ = sc.ws.Write(context.Background(), websocket.MessageText, out)
	return true
}

func TestCall(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), nil)
	sc := s.accept(t)
	a := c.Actor("counter", "c-1")
	ctx := testCtx(t)

	type in struct {
		N int `json:"n"`
	}
	done := make(chan error, 1)
	var out in
	go func() { done <- a.Call(ctx, "add", in{N: 3}, &out) }()
	f := sc.expect(t, protocol.TypeRPC)
	if f.Actor != "counter" || f.ActorID != "c-1" || f.Method != "add" || string(f.Input) != `{"n":3}` {
		t.Fatalf("rpc frame %+v", f)
	}
	sc.send(t, protocol.AppendRPCResult(nil, f.ID, []byte(`{"n":4}`)))
	if err := <-done; err != nil || out.N != 4 {
		t.Fatalf("Call = %v, out %+v", err, out)
	}

	// No input: no input field; nil out discards the result.
	go func() { done <- a.Call(ctx, "get", nil, nil) }()
	f = sc.expect(t, protocol.TypeRPC)
	if f.Input != nil {
		t.Errorf("input sent for nil: %s", f.Input)
	}
	sc.send(t, protocol.AppendRPCResult(nil, f.ID, []byte(`17`)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A server error is an *RPCError; so is an empty message.
	for _, msg := range []string{"unknown method: \"x\"", ""} {
		go func() { done <- a.Call(ctx, "x", nil, nil) }()
		f = sc.expect(t, protocol.TypeRPC)
		sc.send(t, protocol.AppendRPCError(nil, f.ID, msg))
		var re *client.RPCError
		if err := <-done; !errors.As(err, &re) || re.Message != msg || re.Actor != "counter" || re.ActorID != "c-1" || re.Method != "x" {
			t.Errorf("err = %#v", err)
		}
	}

	// A result that does not fit out.
	go func() { done <- a.Call(ctx, "get", nil, &out) }()
	f = sc.expect(t, protocol.TypeRPC)
	sc.send(t, protocol.AppendRPCResult(nil, f.ID, []byte(`"text"`)))
	var re *client.RPCError
	if err := <-done; err == nil || errors.As(err, &re) {
		t.Errorf("decode failure: %v", err)
	}

	// Input that cannot be encoded is not sent.
	if err := a.Call(ctx, "add", make(chan int), nil); err == nil {
		t.Error("unencodable input accepted")
	}

	// CallT, with raw JSON input.
	s.setOnFrame(rpcEcho)
	got, err := client.CallT[[]int](ctx, a, "echo", json.RawMessage(`[1, 2]`))
	if err != nil || fmt.Sprint(got) != "[1 2]" {
		t.Errorf("CallT = %v, %v", got, err)
	}
}

func TestCallContext(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), &client.Options{CallTimeout: 30 * time.Millisecond})
	sc := s.accept(t)
	a := c.Actor("slow", "1")

	// The default timeout applies to a context without deadline.
	if err := a.Call(context.Background(), "wait", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	late := sc.expect(t, protocol.TypeRPC)

	// A context's own deadline wins over the default, and cancellation is
	// reported as such.
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- a.Call(ctx, "wait", nil, nil) }()
	sc.expect(t, protocol.TypeRPC)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}

	// A late result is ignored and the connection keeps working.
	s.setOnFrame(rpcEcho)
	sc.send(t, protocol.AppendRPCResult(nil, late.ID, []byte(`1`)))
	got, err := client.CallT[string](testCtx(t), a, "fast", nil)
	if err != nil || got != "fast" {
		t.Fatalf("CallT = %q, %v", got, err)
	}
	if c.ID() != "c1" {
		t.Errorf("reconnected: %s", c.ID())
	}
}

func TestConcurrentCalls(t *testing.T) {
	s := newScriptServer(t)
	s.setOnFrame(rpcEcho)
	c := dial(t, s.url(), nil)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50*20)
	for g := range 50 {
		wg.Go(func() {
			a := c.Actor("echo", fmt.Sprint(g))
			for i := range 20 {
				want := fmt.Sprintf("%d-%d", g, i)
				got, err := client.CallT[string](ctx, a, "echo", want)
				if err != nil || got != want {
					errs <- fmt.Errorf("got %q, %v; want %q", got, err, want)
				}
			}
			if err := a.Call(ctx, "fail", nil, nil); err == nil {
				errs <- errors.New("fail succeeded")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCallDisconnectedAndReconnect(t *testing.T) {
	s := newScriptServer(t)
	rec := newStatusRecorder()
	c := dial(t, s.url(), &client.Options{OnStatus: rec.record})
	rec.wait(t, client.StatusConnected)
	sc1 := s.accept(t)
	a := c.Actor("room", "r")

	done := make(chan error, 1)
	go func() { done <- a.Call(testCtx(t), "send", "hi", nil) }()
	sent := sc1.expect(t, protocol.TypeRPC)
	sc1.drop()
	if err := <-done; !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("err = %v, want ErrDisconnected", err)
	}
	if ev := rec.wait(t, client.StatusDisconnected); ev.ClientID != "c1" || ev.Err == nil {
		t.Errorf("disconnected event %+v", ev)
	}
	sc2 := s.accept(t)
	if ev := rec.wait(t, client.StatusConnected); ev.ClientID != "c2" {
		t.Errorf("connected event %+v", ev)
	}
	if c.ID() != "c2" {
		t.Errorf("ID = %q after reconnect", c.ID())
	}
	// The new connection works, and the failed call was not resent.
	go func() { done <- a.Call(testCtx(t), "send", "again", nil) }()
	f := sc2.expect(t, protocol.TypeRPC)
	if string(f.Input) != `"again"` || f.ID == sent.ID {
		t.Errorf("first frame after reconnect: %+v", f)
	}
	sc2.send(t, protocol.AppendRPCResult(nil, f.ID, nil))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCallWaitsForReconnect(t *testing.T) {
	s := newScriptServer(t)
	rec := newStatusRecorder()
	c := dial(t, s.url(), &client.Options{OnStatus: rec.record})
	rec.wait(t, client.StatusConnected)
	sc1 := s.accept(t)

	s.refuse.Store(true)
	sc1.drop()
	rec.wait(t, client.StatusDisconnected)
	done := make(chan error, 1)
	var got string
	go func() {
		var err error
		got, err = client.CallT[string](testCtx(t), c.Actor("a", "1"), "later", nil)
		done <- err
	}()
	s.setOnFrame(rpcEcho)
	s.refuse.Store(false)
	if err := <-done; err != nil || got != "later" {
		t.Fatalf("CallT = %q, %v", got, err)
	}
	rec.wait(t, client.StatusConnected)
}

func TestReconnectDisabled(t *testing.T) {
	s := newScriptServer(t)
	rec := newStatusRecorder()
	c := dial(t, s.url(), &client.Options{OnStatus: rec.record, Reconnect: &client.ReconnectPolicy{Disabled: true}})
	rec.wait(t, client.StatusConnected)
	a := c.Actor("a", "1")
	w := watchWithSnapshot(t, s.accept(t), a, `{}`)

	s.mu.Lock()
	s.all[0].drop()
	s.mu.Unlock()
	rec.wait(t, client.StatusDisconnected)
	if ev := rec.wait(t, client.StatusClosed); !errors.Is(ev.Err, client.ErrDisconnected) {
		t.Errorf("closed event %+v", ev)
	}
	<-c.Done()
	if !errors.Is(c.Err(), client.ErrDisconnected) {
		t.Errorf("Err = %v", c.Err())
	}
	if err := a.Call(testCtx(t), "m", nil, nil); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Call = %v", err)
	}
	waitClosed(t, w.Changed())
	if string(w.State()) != `{}` {
		t.Errorf("State after stop = %s", w.State())
	}
}

func TestReconnectGivesUp(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), &client.Options{Reconnect: &client.ReconnectPolicy{
		MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxAttempts: 3,
	}})
	sc := s.accept(t)
	s.refuse.Store(true)
	sc.drop()
	select {
	case <-c.Done():
	case <-testCtx(t).Done():
		t.Fatal("client did not give up")
	}
	if err := c.Err(); !errors.Is(err, client.ErrDisconnected) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Err = %v", err)
	}
}

func TestPingDropsDeadConnection(t *testing.T) {
	s := newScriptServer(t)
	s.setNoRead(func(n int64) bool { return n == 1 }) // the first connection never answers pings
	s.setOnFrame(rpcEcho)
	rec := newStatusRecorder()
	c := dial(t, s.url(), &client.Options{PingInterval: 100 * time.Millisecond, OnStatus: rec.record})
	rec.wait(t, client.StatusConnected)
	rec.wait(t, client.StatusDisconnected)
	rec.wait(t, client.StatusConnected)
	if got, err := client.CallT[string](testCtx(t), c.Actor("a", "1"), "ok", nil); err != nil || got != "ok" {
		t.Fatalf("CallT = %q, %v", got, err)
	}
}

func TestCloseFailsPendingCalls(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), nil)
	sc := s.accept(t)
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.Actor("a", fmt.Sprint(i)).Call(testCtx(t), "hang", nil, nil) }()
	}
	for range n {
		sc.expect(t, protocol.TypeRPC)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; !errors.Is(err, client.ErrClosed) {
			t.Errorf("pending call: %v, want ErrClosed", err)
		}
	}
}

func TestCloseWhileReconnecting(t *testing.T) {
	s := newScriptServer(t)
	rec := newStatusRecorder()
	c := dial(t, s.url(), &client.Options{OnStatus: rec.record, Reconnect: &client.ReconnectPolicy{MinDelay: time.Hour}})
	rec.wait(t, client.StatusConnected)
	s.accept(t).drop()
	rec.wait(t, client.StatusDisconnected)
	done := make(chan error, 1)
	go func() { done <- c.Actor("a", "1").Call(context.Background(), "m", nil, nil) }()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, client.ErrClosed) {
		t.Errorf("waiting call: %v", err)
	}
	rec.wait(t, client.StatusClosed)
}

func TestIgnoresBadFrames(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), nil)
	sc := s.accept(t)
	for _, f := range []string{`nonsense`, `[]`, `{"type":"nope"}`, `{"type":"rpc:result"}`,
		`{"type":"welcome","clientId":"again"}`, `{"type":"rpc","id":"1","actor":"a","actorId":"1","method":"m"}`,
		`{"type":"rpc:result","id":"unknown","result":1}`,
		`{"type":"state:patch","actor":"a","actorId":"1","patches":[]}`,
		`{"type":"event","actor":"a","actorId":"1","event":"e"}`} {
		sc.sendJSON(t, f)
	}
	if err := sc.ws.Write(testCtx(t), websocket.MessageBinary, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	s.setOnFrame(rpcEcho)
	if got, err := client.CallT[string](testCtx(t), c.Actor("a", "1"), "ok", nil); err != nil || got != "ok" {
		t.Fatalf("CallT = %q, %v", got, err)
	}
	if c.ID() != "c1" {
		t.Errorf("ID = %q", c.ID())
	}
}

func TestReadLimit(t *testing.T) {
	s := newScriptServer(t)
	rec := newStatusRecorder()
	c := dial(t, s.url(), &client.Options{ReadLimit: 100, OnStatus: rec.record})
	rec.wait(t, client.StatusConnected)
	sc := s.accept(t)
	sc.send(t, protocol.AppendRPCResult(nil, "x", json.RawMessage(`"`+strings.Repeat("a", 200)+`"`)))
	if got := websocket.CloseStatus(sc.waitDone(t)); got != websocket.StatusMessageTooBig {
		t.Errorf("close status %v, want 1009", got)
	}
	rec.wait(t, client.StatusDisconnected)
	rec.wait(t, client.StatusConnected)
	_ = c
}

func TestLargeSnapshot(t *testing.T) {
	s := newScriptServer(t)
	c := dial(t, s.url(), nil)
	sc := s.accept(t)
	big := `{"blob":"` + strings.Repeat("z", 1<<20) + `"}` // far above coder's 32 KiB default
	w := watchWithSnapshot(t, sc, c.Actor("big", "1"), big)
	if len(w.State()) != len(big) {
		t.Fatalf("state of %d bytes, want %d", len(w.State()), len(big))
	}
}

func TestConcurrentClose(t *testing.T) {
	s := newScriptServer(t)
	s.setOnFrame(rpcEcho)
	c := dial(t, s.url(), nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				_ = c.Actor("a", "1").Call(testCtx(t), "m", nil, nil)
			}
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Errorf("Err = %v", c.Err())
	}
}
