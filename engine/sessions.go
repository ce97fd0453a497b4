package engine

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

// sessionTable owns what the engine knows of sessions: the ones that sent
// frames (for MaxSessionQueue, and for Disconnect to reach the instances
// they touched), the ones disconnected for good (gone, for GoneTTL), and
// the count of frames received (a [Mark]). Instances ask it whether a
// session is gone; they never see its maps.
//
// Lock order: mu, then the registry's mu (a disconnect queues its tasks
// under mu, see end).
type sessionTable struct {
	reg      *registry
	counters *counters
	maxQueue int           // Config.MaxSessionQueue; not positive: no cap
	goneTTL  time.Duration // Config.GoneTTL

	mu        sync.Mutex
	sessions  map[string]*sessionState // sessions that sent frames
	peak      int                      // peak sizes, for shrunk
	frames    Mark                     // frames from sessions so far
	gone      map[string]time.Time     // disconnected sessions
	gonePeak  int
	goneOrder fifo[goneEntry]
}

// sessionState is what the engine knows of a session.
type sessionState struct {
	// touched holds the instances the session sent requests that need an
	// instance to, so that Disconnect reaches them. Keys of instances no
	// longer live are pruned once it reaches pruneAt.
	touched   map[instanceKey]struct{}
	pruneAt   int
	lastFrame Mark // sessionTable.frames after its last frame

	// queued counts the session's requests admitted and not yet
	// processed, for MaxSessionQueue. It grows under sessionTable.mu
	// only, so the check in admit is exact; instance goroutines shrink
	// it.
	queued atomic.Int32
	// dispatching counts the session's Dispatch calls between admit and
	// the queueing of their task: while one is, its key in touched may
	// name an instance that does not exist yet, so pruning waits.
	dispatching atomic.Int32
	// ended is set when disconnect or expiry removed the session from
	// sessionTable.sessions.
	ended atomic.Bool
	// subs counts the session's subscriptions, state and events, to all
	// instances, for MaxSubscriptions; instance goroutines change it.
	subs atomic.Int32
}

// pruneMin is the size from which a session's touched map is pruned.
const pruneMin = 1024

type goneEntry struct {
	id string
	at time.Time
}

var errSessionGone = errors.New("session disconnected")

// init sets up an empty table for an engine with cfg (defaults filled
// in), whose instances reg holds.
func (s *sessionTable) init(reg *registry, c *counters, cfg *Config) {
	s.reg, s.counters = reg, c
	s.maxQueue, s.goneTTL = cfg.MaxSessionQueue, cfg.GoneTTL
	s.sessions = make(map[string]*sessionState)
	s.gone = make(map[string]time.Time)
}

// admit counts a frame from session and checks MaxSessionQueue. With keep,
// it records that the session interacted with key, so that Disconnect
// reaches the instance. The caller queues the frame's task and then calls
// settle. It fails with errSessionGone when the session already
// disconnected.
func (s *sessionTable) admit(session string, key instanceKey, keep bool) (*sessionState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, gone := s.gone[session]; gone {
		return nil, errSessionGone
	}
	st := s.sessions[session]
	if st == nil {
		st = &sessionState{touched: make(map[instanceKey]struct{}), pruneAt: pruneMin}
		s.sessions[session] = st
		s.peak = max(s.peak, len(s.sessions))
	}
	s.frames++
	st.lastFrame = s.frames // a refused frame still shows the session alive
	if limit := s.maxQueue; limit > 0 && int(st.queued.Load()) >= limit {
		s.counters.sessionQueue.Add(1)
		return nil, actordef.Publicf(protocol.ErrTooManyRequests, "%d from this client wait for their answers", limit)
	}
	st.queued.Add(1)
	st.dispatching.Add(1)
	if keep {
		st.touched[key] = struct{}{}
		if len(st.touched) >= st.pruneAt {
			s.pruneTouched(st, key)
		}
	}
	return st, nil
}

// pruneTouched drops from st.touched the instances that are no longer
// live (evicted: the session was not their client), so that a session
// addressing ever new instances does not grow it without bound. current
// is the key being dispatched, whose instance may not exist yet. s.mu is
// held.
func (s *sessionTable) pruneTouched(st *sessionState, current instanceKey) {
	if st.dispatching.Load() != 1 {
		// Another frame of the session is between admit and settle: its
		// instance may not exist yet either. Try again on the next frame.
		return
	}
	st.touched = s.reg.retainLive(st.touched, current)
	st.pruneAt = max(pruneMin, 2*len(st.touched))
}

// settle ends what admit began, once the frame's task is queued (queued:
// on the instance key) or refused. If the session was disconnected or
// expired meanwhile, its OnDisconnect may have missed the instance the
// task was queued on, which did not exist yet: the key is recorded again,
// in the session's next state (unless it is gone for good, in which case
// the task finds that out itself), so that the next Disconnect reaches it.
func (s *sessionTable) settle(session string, st *sessionState, key instanceKey, queued bool) {
	st.dispatching.Add(-1)
	if !queued || !st.ended.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, gone := s.gone[session]; gone {
		return
	}
	cur := s.sessions[session]
	if cur == nil {
		cur = &sessionState{touched: make(map[instanceKey]struct{}), pruneAt: pruneMin, lastFrame: s.frames}
		s.sessions[session] = cur
		s.peak = max(s.peak, len(s.sessions))
	}
	cur.touched[key] = struct{}{}
}

// isGone reports whether session was disconnected for good (within
// GoneTTL): its frames are ignored.
func (s *sessionTable) isGone(session string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, gone := s.gone[session]
	return gone
}

// end queues OnDisconnect on the instances session touched. With
// remember, the session is gone for good; otherwise (expiry) nothing
// happens if it sent a frame after quietSince. The disconnect tasks
// are queued under s.mu, which every frame's admit takes first, so a frame
// that arrives meanwhile lands after them and connects the session again.
func (s *sessionTable) end(session string, remember bool, quietSince Mark) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.sessions[session]
	if !remember && (st == nil || st.lastFrame > quietSince) {
		return false
	}
	if st != nil {
		st.ended.Store(true)
		delete(s.sessions, session)
		s.sessions = shrunk(s.sessions, &s.peak)
	}
	if _, dup := s.gone[session]; remember && !dup {
		s.gone[session] = now
		s.gonePeak = max(s.gonePeak, len(s.gone))
		s.goneOrder.push(goneEntry{session, now})
	}
	for s.goneOrder.len() > 0 && now.Sub(s.goneOrder.items[s.goneOrder.head].at) > s.goneTTL {
		delete(s.gone, s.goneOrder.pop().id)
	}
	s.gone = shrunk(s.gone, &s.gonePeak)
	if st == nil {
		return true
	}
	s.reg.queueDisconnect(session, st.touched)
	return true
}

// mark returns the current point in the sequence of frames.
func (s *sessionTable) mark() Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// ids returns the ids of the sessions that sent frames and have not
// ended, in no particular order.
func (s *sessionTable) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	return ids
}

// len returns the number of sessions that sent frames and have not ended.
func (s *sessionTable) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
