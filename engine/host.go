package engine

import (
	"context"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// Outgoing is one encoded server frame for one session. Frame slices may be
// shared between several Outgoing values and must not be modified.
type Outgoing struct {
	SessionID string
	// Frame is the encoded server frame; nil only for a subscription
	// change reported with Config.Fanout (Position set), which is
	// for the host, not the client.
	Frame []byte
	// Fanout, set only with Config.Fanout, marks a frame meant for
	// every state or event subscriber of an instance: the Outgoing values
	// of one such frame share one *Fanout, and a host may send the frame
	// once for all of them (see [Fanout]).
	Fanout *Fanout
	// Position, set only with Config.Fanout, reports that the
	// session's subscription changed, and where in the instance's
	// sequence of fanout frames: on the state:snapshot that answers a
	// state:sub, and on a frame-less Outgoing for event:sub, state:unsub
	// and event:unsub. An unsubscription from an instance that is not
	// live is answered with Epoch 0 and Seq 0: no activation, as the
	// session cannot be subscribed to an instance that does not exist.
	Position *Position
	// After, set only with Config.Fanout on the other frames an
	// instance sends to one session (rpc:result, events narrowed with
	// [zocket.To]), is the instance's fanout position when the frame was
	// made: a session that watches the instance must get the fanout
	// frames up to it first (Sub is empty).
	After *Position
}

// Fanout describes a frame for every subscriber of one instance. Every
// fanout frame of an instance takes the next number of that instance's
// sequence (Seq, from 1 within an Epoch), so a host that receives them
// through a lossy path can tell a gap from a duplicate. Epoch changes
// when the instance is activated again (after eviction, or in another
// engine): numbers of different epochs are unrelated.
type Fanout struct {
	Actor, ActorID string
	// Events is true for an event, false for a state:patch.
	Events bool
	// Except lists the event subscribers the frame is not for
	// ([zocket.Except]); always empty for patches.
	Except []string
	Epoch  uint64
	Seq    uint64
	// EventCount is how many of the instance's fanout frames up to this
	// one (included) are events, so that a host that lost frames can tell
	// how many were patches and how many events.
	EventCount uint64
}

// Position is an instance's place in its fanout sequence when a
// session's subscription changed: the session receives, of that
// instance's fanout frames of the subscription's kind, exactly those with
// Epoch and a sequence number after Seq, until it unsubscribes.
type Position struct {
	Actor, ActorID string
	// Sub is the frame type that changed it: protocol.TypeStateSub,
	// TypeEventSub, TypeStateUnsub or TypeEventUnsub.
	Sub   string
	Epoch uint64
	Seq   uint64
	// Events is how many of the fanout frames up to Seq are events.
	Events uint64
}

// Host carries the frames an [Engine] produces to sessions: package
// standalone writes them to WebSockets, package runtime publishes them to
// NATS. It is the seam between actor semantics and transports.
type Host interface {
	// Deliver hands over the frames produced by one request (req) or by a
	// hook the engine ran on its own (req == nil: eviction, disconnect,
	// shutdown, a [zocket.PatchInterval] flush), in the order each session
	// must receive them. For every request passed to Dispatch, Deliver is
	// called exactly once, after the request was processed (out may be
	// empty). Calls made by one instance are sequential and in order;
	// calls for different instances are concurrent. A request Dispatch
	// refuses at once (unknown actor or method, invalid input, a limit
	// reached, shutdown) is delivered on the caller's goroutine, so its
	// error may overtake the session's earlier, still queued calls; so is
	// the answer to an unsubscription from an instance that is not live.
	// Deliver should not block for long: it holds up the instance.
	Deliver(req *Request, out []Outgoing)
}

// HostFunc adapts a function to [Host].
type HostFunc func(req *Request, out []Outgoing)

// Deliver calls f(req, out).
func (f HostFunc) Deliver(req *Request, out []Outgoing) { f(req, out) }

// Request is one client frame addressed to an actor, with the identity of
// the session that sent it.
type Request struct {
	SessionID string
	// RequestID names this frame in logs (request_id) across the
	// processes it passes through: the standalone server mints one per
	// frame, the gateway one that travels to the runtime in the
	// natstransport.HeaderRequest header. Every line the engine logs
	// about the request carries it.
	RequestID string
	UserID    string
	Claims    map[string]any
	Frame     protocol.Frame
	// Context is the base of the call's context; nil means
	// context.Background().
	Context context.Context
	// Tag is for the host's own bookkeeping (for example the NATS message
	// to acknowledge); the engine never reads it.
	Tag any

	// received is when Dispatch took an rpc, with Config.Metrics: the
	// start of its latency.
	received time.Time
}
