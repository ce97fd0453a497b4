package engine

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/zocket-go/zocket/internal/actordef"
)

// instance is one live actor instance. Fields under "owned by the instance
// goroutine" are touched only while running is true, by the one goroutine
// that drains the queue; the mutex hands that ownership over.
//
// What an instance does is spread by concern: its queue and goroutine in
// mailbox.go, running one task in step.go, its state's JSON form in
// diff.go, PatchInterval in coalesce.go, the numbering of its frames in
// fanout.go; the registry (registry.go, evict.go) decides when it lives
// and dies.
type instance struct {
	e   *Engine
	def *actordef.Def
	id  string
	log *slog.Logger
	tm  *typeMetrics // nil without Config.Metrics

	mu         sync.Mutex
	box        mailbox
	running    bool
	parked     bool          // running, and the goroutine waits in park for a task
	wake       chan struct{} // capacity 1: a task arrived while parked
	dead       bool          // evicted or shut down: accepts no more work
	pendingRPC int           // rpc requests in box
	lastActive time.Time
	waitFor    chan struct{} // the previous instance with this key, still deactivating
	retired    chan struct{} // closed after this instance's OnDeactivate

	// In the registry's idle list (evict.go): no client, no work.
	idleListed         bool
	idleSince          time.Time // when it entered the list
	idlePrev, idleNext *instance // guarded by registry.idleMu
	sweptSlot          bool      // evicted by a sweep: frees a sweep slot once deactivated

	// pub is what Inspect shows, published by the instance goroutine
	// between tasks (inspect.go).
	pub published

	// owned by the instance goroutine
	linger    *time.Timer // park's timer, reused
	state     any         // *S
	lastJSON  []byte      // the state's JSON form after the last successful step
	shownJSON []byte      // what subscribers see of it: the actor's View, or lastJSON itself
	lastDoc   any         // shownJSON decoded, kept only while there are state subscribers
	clients   map[string]struct{}
	stateSubs map[string]struct{}
	eventSubs map[string]struct{}
	epoch     uint64 // with Config.Fanout: this activation's Fanout.Epoch
	fanoutSeq uint64 // the last Fanout.Seq sent
	eventSeq  uint64 // the last Fanout.Events count sent
	// peaks are the largest sizes of clients, stateSubs and eventSubs
	// since they were last rebuilt (shrunk).
	peaks struct{ clients, stateSubs, eventSubs int }

	// PatchInterval (coalesce.go), owned by the instance goroutine too.
	// While pending, state subscribers hold sentJSON (lastDoc is its
	// decoded form, not shownJSON's; a state:sub's snapshot is of it) and
	// flushTimer is armed.
	interval   time.Duration // the actor's PatchInterval; 0 once deactivating
	pending    bool
	sentJSON   []byte
	flushTimer *time.Timer
	flushGen   uint64 // counts armed timers; a taskFlush of an older one is stale
}

func newInstance(e *Engine, def *actordef.Def, id string) *instance {
	return &instance{
		e:         e,
		def:       def,
		id:        id,
		log:       e.log.With(slog.String("actor", def.Name), slog.String("actor_id", id)),
		tm:        e.metrics.typ(def.Name),
		wake:      make(chan struct{}, 1),
		interval:  def.PatchInterval,
		clients:   make(map[string]struct{}),
		stateSubs: make(map[string]struct{}),
		eventSubs: make(map[string]struct{}),
	}
}

// Clients implements actordef.Instance for the calls the instance runs.
func (in *instance) Clients() []string {
	ids := make([]string, 0, len(in.clients))
	for id := range in.clients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// EventSubscribed implements actordef.Instance.
func (in *instance) EventSubscribed() bool { return len(in.eventSubs) > 0 }
