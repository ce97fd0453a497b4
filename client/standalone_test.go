package client_test

// Integration tests against the real standalone server with real actors.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/standalone"
	"github.com/zocket-go/zocket/wsconfig"
)

// Board is the state of the test actor: a counter and nested data that
// methods mutate, so state sync covers maps, slices and structs.
type Board struct {
	Count int              `json:"count"`
	Tags  map[string][]int `json:"tags"`
	Log   []Entry          `json:"log"`
}

type Entry struct {
	By   string `json:"by"`
	Note string `json:"note,omitempty"`
}

type AddInput struct {
	N int `json:"n"`
}

func (in AddInput) Validate() error {
	if in.N < 0 {
		return errors.New("n must not be negative")
	}
	return nil
}

type TagInput struct {
	Tag    string `json:"tag"`
	Value  int    `json:"value"`
	Remove bool   `json:"remove"`
}

var added = zocket.NewEvent[int]("added")

// boardApp returns a fresh app. Calls of "block" report to entered (when
// not nil) and wait for release.
func boardApp(t *testing.T, release <-chan struct{}, entered ...chan<- struct{}) *zocket.App {
	t.Helper()
	a := zocket.NewActor("board", func() Board { return Board{Tags: map[string][]int{}} }, zocket.Emits(added))
	zocket.Method(a, "add", func(s *Board, c *zocket.Call, in AddInput) (int, error) {
		s.Count += in.N
		s.Log = append(s.Log, Entry{By: c.ClientID()})
		if len(s.Log) > 5 {
			s.Log = s.Log[1:]
		}
		if err := added.Emit(c, s.Count); err != nil {
			return 0, err
		}
		return s.Count, nil
	})
	zocket.Method(a, "tag", func(s *Board, _ *zocket.Call, in TagInput) (struct{}, error) {
		switch {
		case in.Remove:
			delete(s.Tags, in.Tag)
		case len(s.Tags[in.Tag]) > 3:
			s.Tags[in.Tag] = s.Tags[in.Tag][1:]
		default:
			s.Tags[in.Tag] = append(s.Tags[in.Tag], in.Value)
		}
		return struct{}{}, nil
	})
	zocket.Method(a, "get", func(s *Board, _ *zocket.Call, _ struct{}) (Board, error) {
		return *s, nil
	})
	zocket.Method(a, "fail", func(s *Board, _ *zocket.Call, _ struct{}) (int, error) {
		s.Count = -1000 // rolled back
		return 0, zocket.Errorf("board is read-only")
	})
	zocket.Method(a, "block", func(s *Board, _ *zocket.Call, _ struct{}) (int, error) {
		for _, ch := range entered {
			ch <- struct{}{}
		}
		<-release
		return s.Count, nil
	})
	app, err := zocket.NewApp(a)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// startStandalone serves app on ln (a fresh loopback listener when nil)
// until the returned stop function is called (also at cleanup).
func startStandalone(t *testing.T, app *zocket.App, cfg standalone.Config, ln net.Listener) (url string, stop func()) {
	t.Helper()
	srv, err := standalone.New(app, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	if ln != nil {
		ts.Listener.Close()
		ts.Listener = ln
	}
	ts.Start()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			ts.Close()
		})
	}
	t.Cleanup(stop)
	return "ws" + strings.TrimPrefix(ts.URL, "http"), stop
}

func TestStandaloneCall(t *testing.T) {
	url, _ := startStandalone(t, boardApp(t, nil), standalone.Config{}, nil)
	c := dial(t, url, nil)
	ctx := testCtx(t)
	b := c.Actor("board", "b1")

	for i := 1; i <= 3; i++ {
		n, err := client.CallT[int](ctx, b, "add", AddInput{N: 2})
		if err != nil || n != 2*i {
			t.Fatalf("add #%d = %d, %v", i, n, err)
		}
	}
	var got Board
	if err := b.Call(ctx, "get", nil, &got); err != nil || got.Count != 6 || len(got.Log) != 3 || got.Log[0].By != c.ID() {
		t.Fatalf("get = %+v, %v", got, err)
	}

	tests := []struct {
		name   string
		actor  *client.Actor
		method string
		input  any
		want   string // in RPCError.Message
	}{
		{"unknown method", b, "nope", nil, "unknown method"},
		{"unknown actor", c.Actor("nope", "x"), "add", nil, "unknown actor type"},
		{"undecodable input", b, "add", map[string]string{"n": "two"}, "invalid input"},
		{"not an object", b, "add", []int{1}, "invalid input"},
		{"invalid input", b, "add", AddInput{N: -1}, "n must not be negative"},
		{"handler error", b, "fail", nil, "board is read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.actor.Call(ctx, tt.method, tt.input, nil)
			var re *client.RPCError
			if !errors.As(err, &re) || !strings.Contains(re.Message, tt.want) {
				t.Fatalf("err = %v, want an RPCError containing %q", err, tt.want)
			}
			if re.Actor != tt.actor.Type() || re.ActorID != tt.actor.ID() || re.Method != tt.method {
				t.Errorf("RPCError fields %+v", re)
			}
		})
	}
	// The failed call left the state alone.
	if n, err := client.CallT[int](ctx, b, "add", AddInput{N: 0}); err != nil || n != 6 {
		t.Fatalf("after failures: %d, %v", n, err)
	}
}

// TestMethodHandle calls through typed handles (client.Method) against the
// real server: inputs encode, results decode into the declared type,
// struct{} sends no input the server minds, and errors come back typed.
func TestMethodHandle(t *testing.T) {
	url, _ := startStandalone(t, boardApp(t, nil), standalone.Config{}, nil)
	c := dial(t, url, nil)
	ctx := testCtx(t)
	b := c.Actor("board", "typed")
	add := client.Method[AddInput, int](b, "add")
	tag := client.Method[TagInput, struct{}](b, "tag")
	get := client.Method[struct{}, Board](b, "get")
	fail := client.Method[struct{}, int](b, "fail")
	wrong := client.Method[AddInput, string](b, "add") // a result type that does not fit

	for i := 1; i <= 2; i++ {
		if n, err := add(ctx, AddInput{N: 5}); err != nil || n != 5*i {
			t.Fatalf("add #%d = %d, %v", i, n, err)
		}
	}
	if _, err := tag(ctx, TagInput{Tag: "x", Value: 7}); err != nil {
		t.Fatal(err)
	}
	board, err := get(ctx, struct{}{})
	if err != nil || board.Count != 10 || !slices.Equal(board.Tags["x"], []int{7}) || len(board.Log) != 2 {
		t.Fatalf("get = %+v, %v", board, err)
	}
	var re *client.RPCError
	if _, err := add(ctx, AddInput{N: -1}); !errors.As(err, &re) || !strings.Contains(re.Message, "n must not be negative") || re.Method != "add" {
		t.Errorf("invalid input: %v", err)
	}
	if _, err := fail(ctx, struct{}{}); !errors.As(err, &re) || re.Message != "board is read-only" {
		t.Errorf("handler error: %v", err)
	}
	if s, err := wrong(ctx, AddInput{N: 1}); err == nil || !strings.Contains(err.Error(), "decode result") {
		t.Errorf("result into the wrong type: %q, %v", s, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := add(cctx, AddInput{N: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestStandaloneCallTimeout(t *testing.T) {
	release := make(chan struct{})
	url, _ := startStandalone(t, boardApp(t, release), standalone.Config{}, nil)
	t.Cleanup(func() { close(release) }) // runs before the server's shutdown
	c := dial(t, url, nil)
	b := c.Actor("board", "slow")

	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if err := b.Call(ctx, "block", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	// Other instances keep working while this one is blocked, and the
	// connection survived the abandoned call.
	if n, err := client.CallT[int](testCtx(t), c.Actor("board", "fast"), "add", AddInput{N: 1}); err != nil || n != 1 {
		t.Fatalf("other instance: %d, %v", n, err)
	}
}

// TestStandaloneStateWatch checks that a watch stays equal to the server's
// state through many concurrent calls from other clients.
func TestStandaloneStateWatch(t *testing.T) {
	url, _ := startStandalone(t, boardApp(t, nil), standalone.Config{}, nil)
	watcher := dial(t, url, nil)
	ctx := testCtx(t)
	w, err := client.Watch[Board](ctx, watcher.Actor("board", "shared"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if v, err := w.Value(); err != nil || v.Count != 0 || v.Tags == nil {
		t.Fatalf("initial state %+v, %v", v, err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			c, err := client.Dial(ctx, url, nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			b := c.Actor("board", "shared")
			for i := range 50 {
				var err error
				switch i % 3 {
				case 0:
					err = b.Call(ctx, "add", AddInput{N: i}, nil)
				case 1:
					err = b.Call(ctx, "tag", TagInput{Tag: fmt.Sprint("t", (g+i)%5), Value: i}, nil)
				default:
					err = b.Call(ctx, "tag", TagInput{Tag: fmt.Sprint("t", i%5), Remove: i%4 == 0}, nil)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	want, err := client.CallT[Board](ctx, watcher.Actor("board", "shared"), "get", nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		got, err := w.Value()
		if err != nil {
			t.Fatal(err)
		}
		if boardsEqual(got, want) {
			break
		}
		select {
		case <-w.Changed():
		case <-ctx.Done():
			t.Fatalf("watch state %+v, server state %+v", got, want)
		}
	}
}

func boardsEqual(a, b Board) bool {
	return a.Count == b.Count && slices.Equal(a.Log, b.Log) &&
		maps.EqualFunc(a.Tags, b.Tags, func(x, y []int) bool { return slices.Equal(x, y) })
}

func TestStandaloneEvents(t *testing.T) {
	url, _ := startStandalone(t, boardApp(t, nil), standalone.Config{}, nil)
	listener := dial(t, url, nil)
	caller := dial(t, url, nil)
	ctx := testCtx(t)

	got := make(chan string, 64)
	un1 := listener.Actor("board", "ev").OnEvent("added", func(p json.RawMessage) { got <- "1:" + string(p) })
	un2 := listener.Actor("board", "ev").OnEvent("added", func(p json.RawMessage) { got <- "2:" + string(p) })
	// A subscription only counts once the server processed it: a call on
	// the same instance from the same client is queued behind it.
	if err := listener.Actor("board", "ev").Call(ctx, "get", nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := caller.Actor("board", "ev").Call(ctx, "add", AddInput{N: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"1:1", "2:1", "1:2", "2:2", "1:3", "2:3"} {
		if g := recv(t, got); g != want {
			t.Fatalf("got %s, want %s", g, want)
		}
	}
	un1()
	if err := caller.Actor("board", "ev").Call(ctx, "add", AddInput{N: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if g := recv(t, got); g != "2:4" {
		t.Fatalf("got %s, want 2:4", g)
	}
	un2()
	// With no handler left the client unsubscribed; a new handler
	// subscribes again and only it hears the next event.
	un3 := listener.Actor("board", "ev").OnEvent("added", func(p json.RawMessage) { got <- "3:" + string(p) })
	defer un3()
	if err := listener.Actor("board", "ev").Call(ctx, "get", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := caller.Actor("board", "ev").Call(ctx, "add", AddInput{N: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if g := recv(t, got); g != "3:5" {
		t.Fatalf("got %s, want 3:5", g)
	}
}

// TestStandaloneReconnectRestart restarts the server on the same address:
// the client reconnects, gets a new id, subscribes again and replaces its
// state with the new server's fresh snapshot.
func TestStandaloneReconnectRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	url, stop1 := startStandalone(t, boardApp(t, nil), standalone.Config{}, ln)
	rec := newStatusRecorder()
	c := dial(t, url, &client.Options{OnStatus: rec.record})
	first := rec.wait(t, client.StatusConnected).ClientID
	ctx := testCtx(t)
	b := c.Actor("board", "r")
	w, err := client.Watch[Board](ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	events := make(chan string, 16)
	un := b.OnEvent("added", func(p json.RawMessage) { events <- string(p) })
	defer un()
	for range 3 {
		if err := b.Call(ctx, "add", AddInput{N: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitBoard(t, w, func(v Board) bool { return v.Count == 3 })

	stop1()
	rec.wait(t, client.StatusDisconnected)
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	startStandalone(t, boardApp(t, nil), standalone.Config{}, ln2)
	ev := rec.wait(t, client.StatusConnected)
	if ev.ClientID == first || c.ID() != ev.ClientID {
		t.Errorf("client id %q after reconnect (event %q), was %q", c.ID(), ev.ClientID, first)
	}
	waitBoard(t, w, func(v Board) bool { return v.Count == 0 }) // the new server's fresh state

	if n, err := client.CallT[int](ctx, b, "add", AddInput{N: 5}); err != nil || n != 5 {
		t.Fatalf("add after reconnect: %d, %v", n, err)
	}
	waitBoard(t, w, func(v Board) bool { return v.Count == 5 })
	// Events were subscribed again too (the first three arrived earlier).
	for _, want := range []string{"1", "2", "3", "5"} {
		if g := recv(t, events); g != want {
			t.Fatalf("event %s, want %s", g, want)
		}
	}
}

// TestStandaloneDroppedConnection makes the server close the connection
// (an oversize frame): the call in flight fails with ErrDisconnected, and
// after the reconnect the watch holds the server's state again.
func TestStandaloneDroppedConnection(t *testing.T) {
	url, _ := startStandalone(t, boardApp(t, nil), standalone.Config{WebSocket: wsconfig.Settings{MaxFrameBytes: 4096}}, nil)
	rec := newStatusRecorder()
	c := dial(t, url, &client.Options{OnStatus: rec.record})
	rec.wait(t, client.StatusConnected)
	ctx := testCtx(t)
	b := c.Actor("board", "d")
	w, err := client.Watch[Board](ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	big := TagInput{Tag: strings.Repeat("x", 8192)}
	if err := b.Call(ctx, "tag", big, nil); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("oversize call: %v, want ErrDisconnected", err)
	}
	rec.wait(t, client.StatusDisconnected)
	rec.wait(t, client.StatusConnected)

	// Another client changes the state; the watch follows on its new
	// connection.
	other := dial(t, url, nil)
	if err := other.Actor("board", "d").Call(ctx, "add", AddInput{N: 7}, nil); err != nil {
		t.Fatal(err)
	}
	waitBoard(t, w, func(v Board) bool { return v.Count == 7 })
}

func TestStandaloneClosePending(t *testing.T) {
	const n = 5
	release := make(chan struct{})
	entered := make(chan struct{}, n)
	url, _ := startStandalone(t, boardApp(t, release, entered), standalone.Config{}, nil)
	t.Cleanup(func() { close(release) })
	c, err := client.Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- c.Actor("board", fmt.Sprint("p", i)).Call(context.Background(), "block", nil, nil)
		}()
	}
	for range n {
		recv(t, entered) // every call runs on the server
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := recv(t, errs); !errors.Is(err, client.ErrClosed) {
			t.Errorf("pending call: %v, want ErrClosed", err)
		}
	}
}

// waitBoard waits until the watched state satisfies ok.
func waitBoard(t *testing.T, w *client.TypedWatch[Board], ok func(Board) bool) {
	t.Helper()
	ctx := testCtx(t)
	for {
		v, err := w.Value()
		if err != nil {
			t.Fatal(err)
		}
		if ok(v) {
			return
		}
		select {
		case _, open := <-w.Changed():
			if !open {
				t.Fatalf("watch closed at %+v", v)
			}
		case <-ctx.Done():
			t.Fatalf("state stuck at %+v", v)
		}
	}
}
