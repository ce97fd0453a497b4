package runtime

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// inflight is one inbound message between its arrival and its ack or nak;
// it travels through the engine as engine.Request.Tag.
type inflight struct {
	msg       jetstream.Msg
	t         *actorType
	sessionID string
	seq       uint64      // stream sequence; 0 if unknown
	call      string      // natstransport.HeaderCall of an rpc, copied onto its answer
	requestID string      // natstransport.HeaderRequest, for the logs
	actorID   string      // the frame's actor id, for the logs (empty until decoded)
	touched   time.Time   // arrival or last in-progress ack; guarded by tracker.mu
	settled   atomic.Bool // acked or nak'd
	span      trace.Span  // with tracing on, an rpc's: from arrival to ack; nil otherwise
}

// attrs returns the attributes of a line about the message (the actor
// type's logger adds ws, proj and actor), then extra.
func (in *inflight) attrs(extra ...slog.Attr) []slog.Attr {
	a := make([]slog.Attr, 0, 4+len(extra))
	a = append(a, slog.String("session_id", in.sessionID), slog.String("request_id", in.requestID),
		slog.String("actor_id", in.actorID), slog.String("subject", in.msg.Subject()))
	return append(a, extra...)
}

// tracker holds the messages in flight, so that long calls can be kept
// alive and unfinished work nak'd at shutdown.
type tracker struct {
	mu    sync.Mutex
	set   map[*inflight]struct{}
	bySeq map[uint64]*inflight // the messages with a known stream sequence
}

func (f *tracker) init() {
	f.set = make(map[*inflight]struct{})
	f.bySeq = make(map[uint64]*inflight)
}

// add tracks in. It reports false, tracking nothing, when a message with
// the same stream sequence is still in flight here: JetStream redelivered
// it because an in-progress ack came late, and running it twice side by
// side would apply the call twice. The first delivery's ack settles both
// (JetStream acks by stream sequence).
func (f *tracker) add(in *inflight) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.seq != 0 {
		if f.bySeq[in.seq] != nil {
			return false
		}
		f.bySeq[in.seq] = in
	}
	in.touched = time.Now()
	f.set[in] = struct{}{}
	return true
}

func (f *tracker) remove(in *inflight) {
	f.mu.Lock()
	delete(f.set, in)
	if in.seq != 0 && f.bySeq[in.seq] == in {
		delete(f.bySeq, in.seq)
	}
	f.mu.Unlock()
}

func (f *tracker) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.set)
}

// stale returns the messages not touched for at least age, marking them
// touched now.
func (f *tracker) stale(age time.Duration, buf []*inflight) []*inflight {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for in := range f.set {
		if now.Sub(in.touched) >= age {
			in.touched = now
			buf = append(buf, in)
		}
	}
	return buf
}

// nakAll nak's every message still in flight (work abandoned at shutdown)
// and returns how many there were.
func (f *tracker) nakAll() int {
	f.mu.Lock()
	list := make([]*inflight, 0, len(f.set))
	for in := range f.set {
		list = append(list, in)
	}
	f.mu.Unlock()
	// In stream order: JetStream redelivers nak'd messages in the order of
	// the naks, and calls on one instance must keep theirs.
	slices.SortFunc(list, func(a, b *inflight) int { return cmp.Compare(a.seq, b.seq) })
	n := 0
	for _, in := range list {
		if in.t.rt.settle(in, outcomeNakNow) {
			n++
		}
	}
	return n
}

type outcome int

const (
	outcomeAck    outcome = iota // processed, outbound frames stored
	outcomeNak                   // redeliver after Config.NakDelay
	outcomeNakNow                // redeliver at once (shutdown)
)

// settle acks or naks in once; it reports whether this call did it.
func (rt *Runtime) settle(in *inflight, o outcome) bool {
	if !in.settled.CompareAndSwap(false, true) {
		return false
	}
	rt.flight.remove(in)
	var err error
	switch o {
	case outcomeAck:
		err = in.msg.Ack()
		if err == nil {
			rt.stats.acked.Add(1)
		}
	case outcomeNak:
		err = in.msg.NakWithDelay(rt.cfg.NakDelay)
		if err == nil {
			rt.stats.naked.Add(1)
		}
	case outcomeNakNow:
		err = in.msg.Nak()
		if err == nil {
			rt.stats.naked.Add(1)
		}
	}
	if err != nil {
		in.t.log.LogAttrs(context.Background(), slog.LevelError, "ack failed; JetStream will redeliver after the ack wait",
			in.attrs(slog.Any("err", err))...)
	}
	if in.span != nil {
		if o != outcomeAck {
			in.span.SetStatus(codes.Error, "nak'd for redelivery")
		}
		in.span.End()
	}
	return true
}

// keepAlive sends in-progress acks for messages in flight for a third of
// the ack wait or more, so that a long call (or a call queued behind one)
// is not redelivered while it runs. It returns when stop is closed.
func (rt *Runtime) keepAlive(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	period := max(rt.cfg.AckWait/3, time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	var buf []*inflight
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		// Touch what is older than half a period: ticks jitter, and a
		// message must hear from us well within three periods.
		buf = rt.flight.stale(period/2, buf[:0])
		for i, in := range buf {
			if in.settled.Load() {
				continue
			}
			if err := in.msg.InProgress(); err != nil {
				if !in.settled.Load() {
					in.t.log.LogAttrs(context.Background(), slog.LevelWarn, "in-progress ack failed",
						in.attrs(slog.Any("err", err))...)
				}
			} else {
				rt.stats.inProgress.Add(1)
			}
			buf[i] = nil
		}
	}
}

// counters are the runtime's statistics.
type counters struct {
	received, malformed, badFrames, redelivered, acked, naked, inProgress atomic.Int64
	duplicates, reclaimed                                                 atomic.Int64
	published, publishRetries, publishFailures, dropped                   atomic.Int64
	expired                                                               atomic.Int64
}

// Stats is a snapshot of a runtime's counters, cumulative since Run.
// With Config.Metrics, every scrape reads the fields with a metric tag
// (docs/METRICS.md); publishes stored are counted there by
// zocket_jetstream_publish_duration_seconds.
type Stats struct {
	Received        int64 `metric:"zocket_runtime_messages_received_total"`  // inbound messages JetStream delivered
	Malformed       int64 `metric:"zocket_runtime_messages_malformed_total"` // inbound messages acked unprocessed: bad envelope, foreign scope, unusable session id
	BadFrames       int64 `metric:"zocket_runtime_frames_refused_total"`     // inbound messages whose client frame was refused (answered when it had an rpc id)
	Redelivered     int64 `metric:"zocket_jetstream_redeliveries_total"`     // inbound messages delivered more than once
	Duplicates      int64 `metric:"zocket_runtime_duplicates_total"`         // redeliveries ignored because the first delivery was still in progress here
	Reclaimed       int64 `metric:"zocket_runtime_reclaimed_total"`          // messages a previous runtime left unacknowledged, taken over at boot (they arrive as first deliveries)
	Acked           int64 `metric:"zocket_jetstream_acks_total"`             // inbound messages acked
	Nacked          int64 `metric:"zocket_jetstream_naks_total"`             // inbound messages nak'd for redelivery
	InProgress      int64 `metric:"zocket_jetstream_in_progress_total"`      // in-progress acks sent for long calls
	InFlight        int64 `metric:"zocket_runtime_in_flight"`                // inbound messages received and not yet acked or nak'd (now)
	Published       int64 // outbound frames stored by JetStream
	PublishRetries  int64 `metric:"zocket_jetstream_publish_retries_total,stream=OUTBOUND"`  // outbound publishes tried again after a failure
	PublishFailures int64 `metric:"zocket_jetstream_publish_failures_total,stream=OUTBOUND"` // outbound frames given up on after the retries
	Dropped         int64 `metric:"zocket_runtime_frames_dropped_total"`                     // outbound frames not sent: too large, or produced after shutdown
	SessionsExpired int64 `metric:"zocket_runtime_sessions_expired_total"`                   // sessions disconnected because their OUTBOUND consumer was gone (see Config.SessionSweep)
}

// Stats returns the runtime's counters.
func (rt *Runtime) Stats() Stats {
	s := &rt.stats
	st := Stats{
		Received:        s.received.Load(),
		Malformed:       s.malformed.Load(),
		BadFrames:       s.badFrames.Load(),
		Redelivered:     s.redelivered.Load(),
		Duplicates:      s.duplicates.Load(),
		Reclaimed:       s.reclaimed.Load(),
		Acked:           s.acked.Load(),
		Nacked:          s.naked.Load(),
		InProgress:      s.inProgress.Load(),
		Published:       s.published.Load(),
		PublishRetries:  s.publishRetries.Load(),
		PublishFailures: s.publishFailures.Load(),
		Dropped:         s.dropped.Load(),
		SessionsExpired: s.expired.Load(),
	}
	st.InFlight = int64(rt.flight.len())
	return st
}
