package integration

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zocket-go/zocket"
)

// The test app. Its actor types:
//
//   - "counter": a count, a log of every addition and a viewer count kept
//     by OnConnect/OnDisconnect; methods add, get, id, fail (a client-visible
//     error), crash (a plain error), append (for ordering) and record (marks
//     a key in the fixture, outside the actor state, to prove processing).
//   - "chat": emits "said" to everybody, To(...) or Except(...).
//   - "guarded": app and actor middleware that build a trail in the context
//     and reject some calls.
//   - "barrier": wait blocks until two instances reached it; hold blocks
//     the first time a key arrives, until the test closes fixture.release.

type counterState struct {
	Count   int   `json:"count"`
	Viewers int   `json:"viewers"`
	Log     []int `json:"log"`
}

type addInput struct {
	By int `json:"by"`
}

// Validate refuses a zero increment; its text reaches the client.
func (in addInput) Validate() error {
	if in.By == 0 {
		return errors.New("by must not be zero")
	}
	return nil
}

type counterView struct {
	ActorID  string `json:"actorId"`
	ClientID string `json:"clientId"`
	Count    int    `json:"count"`
}

type appendInput struct {
	N int `json:"n"`
}

type recordInput struct {
	Key string `json:"key"`
}

type chatState struct {
	Said int `json:"said"`
}

type sayInput struct {
	Text   string   `json:"text"`
	To     []string `json:"to,omitempty"`
	Except []string `json:"except,omitempty"`
}

type saidEvent struct {
	From string `json:"from"`
	Text string `json:"text"`
}

var said = zocket.NewEvent[saidEvent]("said")

type lobbyState struct {
	Here zocket.Presence `json:"here"`
}

type vaultState struct {
	Owner  string `json:"owner"`
	Note   string `json:"note"`
	Secret string `json:"secret"`
}

// vaultView is what a vault's watchers see.
type vaultView struct {
	Owner string `json:"owner"`
	Note  string `json:"note"`
}

type guardedState struct {
	Calls int `json:"calls"`
}

type whoami struct {
	Trail    []string `json:"trail"`
	ClientID string   `json:"clientId"`
}

// trail is the context value the middleware chain builds.
var trail = zocket.NewKey[[]string]("trail")

// actorMaxAckPending gives the chat type a max ack pending of its own
// (runtime.Config.ActorMaxAckPending), read back from its durable
// consumer; startDistributed sets it unless a test sets its own.
var actorMaxAckPending = map[string]int{"chat": 64}

// fixture is what the test sees of the app's side effects beyond actor
// state.
type fixture struct {
	ctx     context.Context // bounds blocking handlers: the test's context
	barrier *barrier
	release chan struct{} // closing it lets "hold" calls finish

	mu       sync.Mutex
	recorded map[string]int // record key -> times processed
	arrived  map[string]int // barrier arrivals per instance id
	noted    []string       // "note" calls in the order they ran
}

// notes returns the keys of the "note" calls in the order they ran.
func (f *fixture) notes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.noted)
}

// record counts one processing of key and returns the count.
func (f *fixture) record(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded[key]++
	return f.recorded[key]
}

// recordedCount returns how often key was processed.
func (f *fixture) recordedCount(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recorded[key]
}

// barrier releases everybody once parties arrivals happened.
type barrier struct {
	mu      sync.Mutex
	parties int
	n       int
	open    chan struct{}
}

func newBarrier(parties int) *barrier {
	return &barrier{parties: parties, open: make(chan struct{})}
}

// arrive counts one arrival and waits until the barrier opens or ctx ends.
func (b *barrier) arrive(ctx context.Context) error {
	b.mu.Lock()
	b.n++
	if b.n == b.parties {
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
		return nil
	case <-ctx.Done():
		return zocket.Errorf("barrier not reached: %v", ctx.Err())
	}
}

// newApp builds the test app; each test gets its own, with its own fixture.
func newApp(t *testing.T) (*zocket.App, *fixture) {
	t.Helper()
	fx := &fixture{
		ctx:      t.Context(),
		barrier:  newBarrier(2),
		release:  make(chan struct{}),
		recorded: map[string]int{},
		arrived:  map[string]int{},
	}

	counter := zocket.NewActor("counter", func() counterState { return counterState{Log: []int{}} })
	zocket.Method(counter, "add", func(s *counterState, c *zocket.Call, in addInput) (counterView, error) {
		s.Count += in.By
		s.Log = append(s.Log, in.By)
		return counterView{ActorID: c.ActorID(), ClientID: c.ClientID(), Count: s.Count}, nil
	})
	zocket.Method(counter, "get", func(s *counterState, c *zocket.Call, _ struct{}) (counterState, error) {
		return *s, nil
	})
	zocket.Method(counter, "id", func(s *counterState, c *zocket.Call, _ struct{}) (counterView, error) {
		return counterView{ActorID: c.ActorID(), ClientID: c.ClientID(), Count: s.Count}, nil
	})
	zocket.Method(counter, "fail", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		s.Count += 100 // rolled back
		return 0, zocket.Errorf("no luck at %d", s.Count-100)
	})
	zocket.Method(counter, "crash", func(s *counterState, c *zocket.Call, _ struct{}) (int, error) {
		s.Count += 1000 // rolled back
		return 0, errors.New("database password hunter2 rejected")
	})
	zocket.Method(counter, "append", func(s *counterState, c *zocket.Call, in appendInput) (int, error) {
		s.Log = append(s.Log, in.N)
		return len(s.Log), nil
	})
	zocket.Method(counter, "record", func(s *counterState, c *zocket.Call, in recordInput) (string, error) {
		fx.record(in.Key)
		s.Count++
		return in.Key, nil
	})
	counter.OnConnect(func(s *counterState, c *zocket.Call) error { s.Viewers++; return nil })
	counter.OnDisconnect(func(s *counterState, c *zocket.Call) error { s.Viewers--; return nil })

	chat := zocket.NewActor("chat", func() chatState { return chatState{} },
		zocket.Emits(said))
	zocket.Method(chat, "say", func(s *chatState, c *zocket.Call, in sayInput) (int, error) {
		var opts []zocket.EmitOption
		if len(in.To) > 0 {
			opts = append(opts, zocket.To(in.To...))
		}
		if len(in.Except) > 0 {
			opts = append(opts, zocket.Except(in.Except...))
		}
		s.Said++
		return s.Said, said.Emit(c, saidEvent{From: c.ClientID(), Text: in.Text}, opts...)
	})
	zocket.Method(chat, "ping", func(s *chatState, c *zocket.Call, _ struct{}) (string, error) {
		return "pong", nil
	})

	guarded := zocket.NewActor("guarded", func() guardedState { return guardedState{} })
	guarded.Use(func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		if strings.HasPrefix(info.ActorID, "deny") {
			return nil, zocket.Reject("access denied")
		}
		if info.Method == "secret" {
			return nil, zocket.Reject("no secrets for " + info.ClientID)
		}
		prev, _ := trail.From(ctx)
		return trail.With(ctx, append(slices.Clone(prev), "actor:"+info.Method)), nil
	})
	zocket.Method(guarded, "whoami", func(s *guardedState, c *zocket.Call, _ struct{}) (whoami, error) {
		s.Calls++
		tr, _ := trail.Get(c)
		return whoami{Trail: tr, ClientID: c.ClientID()}, nil
	})
	zocket.Method(guarded, "secret", func(s *guardedState, c *zocket.Call, _ struct{}) (string, error) {
		return "the secret", nil
	})

	bar := zocket.NewActor("barrier", func() int { return 0 })
	zocket.Method(bar, "wait", func(s *int, c *zocket.Call, _ struct{}) (string, error) {
		fx.mu.Lock()
		fx.arrived[c.ActorID()]++
		fx.mu.Unlock()
		if err := fx.barrier.arrive(fx.ctx); err != nil {
			return "", err
		}
		*s++
		return c.ActorID(), nil
	})

	zocket.Method(bar, "hold", func(s *int, c *zocket.Call, in recordInput) (string, error) {
		if fx.record("started:"+in.Key) == 1 {
			select {
			case <-fx.release:
			case <-fx.ctx.Done():
				return "", zocket.Errorf("not released: %v", fx.ctx.Err())
			}
		}
		fx.record(in.Key)
		*s++
		return in.Key, nil
	})

	zocket.Method(bar, "note", func(s *int, c *zocket.Call, in recordInput) (string, error) {
		fx.mu.Lock()
		fx.noted = append(fx.noted, in.Key)
		fx.mu.Unlock()
		*s++
		return in.Key, nil
	})

	// vault: the first client to claim it owns it; only the owner may
	// watch it, and watchers never see its secret.
	vault := zocket.NewActor("vault", func() vaultState { return vaultState{} })
	zocket.Method(vault, "claim", func(s *vaultState, c *zocket.Call, _ struct{}) (bool, error) {
		if s.Owner == "" {
			s.Owner = c.ClientID()
		}
		return s.Owner == c.ClientID(), nil
	})
	zocket.Method(vault, "store", func(s *vaultState, c *zocket.Call, in vaultState) (struct{}, error) {
		s.Note, s.Secret = in.Note, in.Secret
		return struct{}{}, nil
	})
	vault.AuthorizeSubscription(func(s *vaultState, c *zocket.Call, _ zocket.Subscription) error {
		if s.Owner == "" || s.Owner != c.ClientID() {
			return zocket.Reject("only the vault's owner may watch it")
		}
		return nil
	})
	vault.View(func(s *vaultState) any { return vaultView{Owner: s.Owner, Note: s.Note} })
	// lobby: who is here (zocket.TrackPresence).
	lobby := zocket.NewActor("lobby", func() lobbyState { return lobbyState{} })
	zocket.TrackPresence(lobby, func(s *lobbyState) *zocket.Presence { return &s.Here })
	app, err := zocket.NewApp(counter, chat, guarded, bar, vault, lobby)
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	app.Use(func(ctx context.Context, info zocket.CallInfo) (context.Context, error) {
		prev, _ := trail.From(ctx)
		return trail.With(ctx, append(slices.Clone(prev), "app:"+info.Frame)), nil
	})
	return app, fx
}

// actorTypes are the app's actor types, sorted.
var actorTypes = []string{"barrier", "chat", "counter", "guarded", "lobby", "vault"}
