package engine

import (
	"cmp"
	"encoding/json"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"time"
)

// Snapshot is a read-only picture of an engine, for an inspector (package
// inspect serves it to a browser): its actor types, live instances with
// the state their subscribers see, sessions, the most recent calls and
// the call rate and latency of the last minutes. See [Engine.Inspect].
type Snapshot struct {
	At    time.Time  `json:"at"`
	Stats Stats      `json:"stats"`
	Types []TypeInfo `json:"types"`
	// Instances are the live instances sorted by actor type and id, at
	// most InspectOptions.MaxInstances of them; InstancesTotal counts
	// them all.
	Instances      []InstanceInfo `json:"instances"`
	InstancesTotal int            `json:"instancesTotal"`
	// Sessions are the sessions that sent frames and have not
	// disconnected, sorted by id, at most InspectOptions.MaxSessions.
	Sessions      []SessionInfo `json:"sessions"`
	SessionsTotal int           `json:"sessionsTotal"`
	// Calls are the most recent rpc calls, oldest
	// first (at most RecentCalls); CallsTotal counts every call recorded.
	Calls      []CallRecord `json:"calls"`
	CallsTotal uint64       `json:"callsTotal"`
	// Rate has one point per second of the last RateWindow seconds,
	// oldest first, ending with the current (incomplete) second.
	Rate []RatePoint `json:"rate"`
}

// TypeInfo describes one actor type.
type TypeInfo struct {
	Name      string   `json:"name"`
	Methods   []string `json:"methods"`
	Instances int      `json:"instances"` // live instances of the type (all, not only those listed)
}

// InstanceInfo describes one live instance, as of the end of the last
// task it ran.
type InstanceInfo struct {
	Actor string `json:"actor"`
	ID    string `json:"id"`
	// State is what state subscribers see (the actor's View, or the
	// state), as JSON; nil when it is larger than
	// InspectOptions.MaxStateBytes (StateBytes says how large) or
	// before OnActivate ran.
	State            json.RawMessage `json:"state"`
	StateBytes       int             `json:"stateBytes"`
	Clients          int             `json:"clients"`          // connected sessions (OnConnect ran)
	StateSubscribers int             `json:"stateSubscribers"` // sessions watching the state
	EventSubscribers int             `json:"eventSubscribers"` // sessions watching events
	Queued           int             `json:"queued"`           // rpc calls waiting in its mailbox
	Running          bool            `json:"running"`          // a task runs now
	// IdleFor is how long it has had no client and no work (the idle
	// timeout counts from then); 0 when it is not idle.
	IdleFor time.Duration `json:"idleFor"`
}

// SessionInfo describes one session.
type SessionInfo struct {
	ID            string `json:"id"`
	Instances     int    `json:"instances"`     // instances it sent requests to (some may be gone)
	Queued        int    `json:"queued"`        // its requests waiting or running
	Subscriptions int    `json:"subscriptions"` // state and event subscriptions it holds
}

// CallRecord is one rpc call: when it ended, what it called, how long it
// ran on its instance (not counting the wait in the queue; 0 for a call
// refused before it reached one: unknown method, invalid input, a limit)
// and, when it failed, the error message its client read.
type CallRecord struct {
	At      time.Time     `json:"at"`
	Actor   string        `json:"actor"`
	ActorID string        `json:"actorId"`
	Method  string        `json:"method"`
	Session string        `json:"session"`
	Latency time.Duration `json:"latency"`
	Error   string        `json:"error,omitempty"` // empty: ok
}

// RatePoint is the calls of one second.
type RatePoint struct {
	Time   int64 `json:"t"` // unix seconds
	Calls  int   `json:"calls"`
	Errors int   `json:"errors"`
	// P99 is the 99th percentile of the second's call latencies, rounded
	// up to a power of two microseconds; 0 without calls.
	P99 time.Duration `json:"p99"`
}

// Sizes of what an engine remembers of its calls for Inspect.
const (
	RecentCalls = 200 // calls kept for Snapshot.Calls
	RateWindow  = 300 // seconds of Snapshot.Rate
)

// InspectOptions bounds a [Snapshot]; zero fields mean the defaults.
type InspectOptions struct {
	MaxInstances  int // instances listed; default 500
	MaxSessions   int // sessions listed; default 500
	MaxStateBytes int // larger states are left out; default 64 KiB
}

// Inspect returns a snapshot of the engine. It is safe to call at any
// time: it reads what each instance published at the end of its last task
// (under the instance's lock, which the instance takes between tasks
// anyway), never the state a running method is changing. It costs
// O(instances + sessions) and locks the registry for reading meanwhile,
// so call it now and then (an inspector polls once a second), not per
// request. When more instances are live than MaxInstances, the ones
// listed are an arbitrary subset.
func (e *Engine) Inspect(opts InspectOptions) Snapshot {
	if opts.MaxInstances <= 0 {
		opts.MaxInstances = 500
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 500
	}
	if opts.MaxStateBytes <= 0 {
		opts.MaxStateBytes = 64 << 10
	}
	now := time.Now()
	s := Snapshot{At: now, Stats: e.Stats()}
	perType := make(map[string]int)
	s.InstancesTotal, s.Instances = e.reg.inspect(opts, now, perType)
	for _, name := range e.app.ActorTypes() {
		def := e.defs.Types[name]
		methods := make([]string, 0, len(def.Methods))
		for m := range def.Methods {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		s.Types = append(s.Types, TypeInfo{Name: name, Methods: methods, Instances: perType[name]})
	}
	s.SessionsTotal, s.Sessions = e.sessions.inspect(opts.MaxSessions)
	s.CallsTotal, s.Calls, s.Rate = e.calls.snapshot(now)
	return s
}

// published is what an instance's goroutine publishes after each task,
// under the instance's mu, for Inspect.
type published struct {
	json                          []byte // shownJSON: never modified in place, only replaced
	clients, stateSubs, eventSubs int
}

// publishLocked records what Inspect shows of the instance; in.mu is held
// by the instance goroutine, between tasks. It copies a few words: no
// allocation.
func (in *instance) publishLocked() {
	in.pub = published{json: in.shownJSON, clients: len(in.clients),
		stateSubs: len(in.stateSubs), eventSubs: len(in.eventSubs)}
}

// inspect lists the live instances, at most opts.MaxInstances, and counts
// them per type.
func (r *registry) inspect(opts InspectOptions, now time.Time, perType map[string]int) (int, []InstanceInfo) {
	r.mu.RLock()
	total := len(r.instances)
	list := make([]InstanceInfo, 0, min(total, opts.MaxInstances))
	for key, in := range r.instances {
		perType[key.actor]++
		if len(list) >= opts.MaxInstances {
			continue
		}
		in.mu.Lock()
		info := InstanceInfo{
			Actor: key.actor, ID: key.id,
			StateBytes: len(in.pub.json), Clients: in.pub.clients,
			StateSubscribers: in.pub.stateSubs, EventSubscribers: in.pub.eventSubs,
			Queued: in.pendingRPC, Running: in.running && !in.parked,
		}
		if len(in.pub.json) <= opts.MaxStateBytes {
			info.State = json.RawMessage(in.pub.json)
		}
		if in.idleListed {
			info.IdleFor = now.Sub(in.idleSince)
		}
		in.mu.Unlock()
		list = append(list, info)
	}
	r.mu.RUnlock()
	slices.SortFunc(list, func(a, b InstanceInfo) int { return cmp.Or(cmp.Compare(a.Actor, b.Actor), cmp.Compare(a.ID, b.ID)) })
	return total, list
}

// inspect lists the sessions, at most max.
func (s *sessionTable) inspect(max int) (int, []SessionInfo) {
	s.mu.Lock()
	total := len(s.sessions)
	list := make([]SessionInfo, 0, min(total, max))
	for id, st := range s.sessions {
		if len(list) >= max {
			break
		}
		list = append(list, SessionInfo{ID: id, Instances: len(st.touched),
			Queued: int(st.queued.Load()), Subscriptions: int(st.subs.Load())})
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b SessionInfo) int { return cmp.Compare(a.ID, b.ID) })
	return total, list
}

// latencyBuckets is the number of power-of-two latency buckets of a
// second: bucket b counts latencies below 2^b microseconds (the last one
// everything longer).
const latencyBuckets = 32

// callLog remembers the engine's recent calls and their rate: a ring of
// the last RecentCalls and one bucket of counts per second of the last
// RateWindow. Recording takes a mutex and copies one record; it never
// allocates.
type callLog struct {
	mu    sync.Mutex
	ring  [RecentCalls]CallRecord
	total uint64 // calls recorded; the next goes to ring[total%RecentCalls]
	secs  [RateWindow]rateSecond
}

type rateSecond struct {
	sec           int64 // unix second it counts; another means empty
	calls, errors uint32
	hist          [latencyBuckets]uint32
}

// record notes a call that ended at end.
func (l *callLog) record(r *CallRecord) {
	sec := r.At.Unix()
	b := min(bits.Len64(uint64(max(r.Latency, 0)/time.Microsecond)), latencyBuckets-1)
	l.mu.Lock()
	l.ring[l.total%RecentCalls] = *r
	l.total++
	s := &l.secs[uint64(sec)%RateWindow]
	if s.sec != sec {
		*s = rateSecond{sec: sec}
	}
	s.calls++
	if r.Error != "" {
		s.errors++
	}
	s.hist[b]++
	l.mu.Unlock()
}

// snapshot copies the recent calls, oldest first, and the rate of the
// last RateWindow seconds up to now.
func (l *callLog) snapshot(now time.Time) (uint64, []CallRecord, []RatePoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.total, RecentCalls)
	calls := make([]CallRecord, 0, n)
	for i := l.total - n; i < l.total; i++ {
		calls = append(calls, l.ring[i%RecentCalls])
	}
	rate := make([]RatePoint, RateWindow)
	end := now.Unix()
	for i := range rate {
		sec := end - RateWindow + 1 + int64(i)
		p := RatePoint{Time: sec}
		if s := &l.secs[uint64(sec)%RateWindow]; s.sec == sec {
			p.Calls, p.Errors, p.P99 = int(s.calls), int(s.errors), s.p99()
		}
		rate[i] = p
	}
	return l.total, calls, rate
}

// p99 returns the upper bound of the bucket holding the 99th percentile.
func (s *rateSecond) p99() time.Duration {
	if s.calls == 0 {
		return 0
	}
	want := (uint64(s.calls)*99 + 99) / 100 // ceil(0.99 n)
	var seen uint64
	for b, c := range s.hist {
		if seen += uint64(c); seen >= want {
			return time.Duration(uint64(1)<<b) * time.Microsecond
		}
	}
	return time.Duration(uint64(1)<<(latencyBuckets-1)) * time.Microsecond
}

// recordCall notes an rpc that ran from start, for Inspect.
func (in *instance) recordCall(req *Request, start time.Time, err error) {
	r := CallRecord{Actor: in.def.Name, ActorID: in.id, Method: req.Frame.Method, Session: req.SessionID}
	r.At = time.Now()
	r.Latency = r.At.Sub(start)
	if err != nil {
		r.Error, _ = clientMessage(err)
	}
	in.e.calls.record(&r)
}
