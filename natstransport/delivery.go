package natstransport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/zocket-go/zocket/protocol"
)

// Delivery is how server frames travel from runtimes to gateways. Every
// gateway and runtime of a deployment must use the same one.
type Delivery string

const (
	// DeliveryCore, the default: runtimes publish every frame to OUTBOUND
	// with JetStream, frames for every subscriber of an instance once on
	// the instance's subject (InstanceSubject) and the others on the
	// session's subject; gateways receive them live through core NATS
	// subscriptions, detect gaps from sequence numbers in the headers, and
	// recover what they missed from OUTBOUND.
	DeliveryCore Delivery = "core"
	// DeliveryConsumer is the seed's design: one copy of every frame per
	// session on its subject, read by one ephemeral ordered consumer per
	// session.
	DeliveryConsumer Delivery = "consumer"
)

// ParseDelivery parses "core" or "consumer"; empty means DeliveryCore.
// Anything else is an error wrapping protocol.ErrInvalidOption.
func ParseDelivery(s string) (Delivery, error) {
	switch d := Delivery(strings.ToLower(strings.TrimSpace(s))); d {
	case "":
		return DeliveryCore, nil
	case DeliveryCore, DeliveryConsumer:
		return d, nil
	}
	return "", fmt.Errorf("natstransport: %w: delivery %q: want core or consumer", protocol.ErrInvalidOption, s)
}

// Headers of outbound messages in DeliveryCore.
const (
	// HeaderSeq numbers the messages of one subject: "{epoch}/{n}", n
	// from 1 and contiguous within an epoch. On a session subject the
	// epoch names one runtime's virtual connection to the session; on an
	// instance subject one activation of the instance. A gateway that sees
	// n skip has missed messages; one that sees n again, a retry.
	HeaderSeq = "Zocket-Seq"
	// HeaderEvents counts events: on an instance-subject message, how many
	// of the instance's messages up to this one (included) are events, so
	// that a gateway that lost messages knows how many were patches and
	// how many events; on a session-subject message with HeaderInstance,
	// the same count at HeaderInstanceSeq.
	HeaderEvents = "Zocket-Events"
	// HeaderSub marks a session-subject message that answers a
	// subscription change (state:sub, event:sub, state:unsub,
	// event:unsub). Only the state:sub answer, the snapshot, is a frame
	// for the client; the others carry the message {} and are for the
	// gateway alone.
	HeaderSub = "Zocket-Sub"
	// HeaderInstance names the instance a session-subject message comes
	// from: "{actorType}.{actorId}", both escaped as subject tokens.
	HeaderInstance = "Zocket-Instance"
	// HeaderInstanceSeq is the instance's HeaderSeq position when the
	// session-subject message was made. With HeaderSub, the session gets
	// the instance-subject messages after it; without, a session that
	// watches the instance must get the instance's messages up to it
	// before this one (the patches and events of a call come before its
	// rpc:result).
	HeaderInstanceSeq = "Zocket-Instance-Seq"
	// HeaderCall numbers a session's rpc: the gateway sets it on the
	// inbound message (a decimal number unique within the session) and
	// the runtime copies it onto that call's rpc:result, in both delivery
	// modes. A JetStream redelivery runs the call again and answers again
	// with the same number, so the gateway passes on the first answer
	// for each number and drops the others.
	HeaderCall = "Zocket-Call"
	// HeaderRequest names a client frame for logs and traces: the gateway
	// sets it on every inbound message ("{sessionId}-{n}", n counting the
	// session's frames from 1) and logs it as request_id, and the runtime
	// logs every line about the message with it, so one grep finds a
	// call's lines in every process it passed through.
	HeaderRequest = "Zocket-Request"
)

// Seq is a position in the numbered messages of one subject.
type Seq struct {
	Epoch string
	N     uint64
}

// String formats s as HeaderSeq does.
func (s Seq) String() string { return s.Epoch + "/" + strconv.FormatUint(s.N, 10) }

// ParseSeq parses a HeaderSeq value.
func ParseSeq(v string) (Seq, error) {
	i := strings.LastIndexByte(v, '/')
	if i <= 0 {
		return Seq{}, fmt.Errorf("%w: sequence %q: want epoch/n", ErrMalformedEnvelope, v)
	}
	n, err := strconv.ParseUint(v[i+1:], 10, 64)
	if err != nil {
		return Seq{}, fmt.Errorf("%w: sequence %q: %v", ErrMalformedEnvelope, v, err)
	}
	return Seq{Epoch: v[:i], N: n}, nil
}

// InstanceSubject returns outbound.{ws}.{proj}.{actorType}.{actorId}, the
// subject on which a runtime publishes, once, the frames for every
// subscriber of that instance (DeliveryCore). It has one token more than a
// session subject, so the two never meet.
func InstanceSubject(scope Scope, actorType, actorID string) (string, error) {
	return build(OutboundPrefix, "",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID},
		field{"actor type", actorType}, field{"actor id", actorID})
}

// InstanceToken returns "{actorType}.{actorId}" escaped, the value of
// HeaderInstance.
func InstanceToken(actorType, actorID string) (string, error) {
	tok, err := build("", "", field{"actor type", actorType}, field{"actor id", actorID})
	return strings.TrimPrefix(tok, "."), err
}

// FanoutEnvelope is the body of a message on an instance subject: a server
// frame for every subscriber of the instance of its kind (state patches go
// to state subscribers, events to event subscribers) except the sessions
// in Except.
//
//	{"scope":{"workspaceId","projectId"},"kind":"state"|"event","except":[sessionId...],"message":{frame}}
type FanoutEnvelope struct {
	Scope   Scope           `json:"scope"`
	Kind    string          `json:"kind"`
	Except  []string        `json:"except,omitempty"`
	Message json.RawMessage `json:"message"`
}

// Kinds of FanoutEnvelope.
const (
	FanoutState = "state"
	FanoutEvent = "event"
)

// AppendFanout appends a fanout envelope to b. msg must hold valid JSON.
func AppendFanout(b []byte, scope Scope, kind string, except []string, msg json.RawMessage) []byte {
	b = append(b, `{"scope":{"workspaceId":`...)
	b = protocol.AppendString(b, scope.WorkspaceID)
	b = append(b, `,"projectId":`...)
	b = protocol.AppendString(b, scope.ProjectID)
	b = append(b, `},"kind":`...)
	b = protocol.AppendString(b, kind)
	if len(except) > 0 {
		b = append(b, `,"except":[`...)
		for i, id := range except {
			if i > 0 {
				b = append(b, ',')
			}
			b = protocol.AppendString(b, id)
		}
		b = append(b, ']')
	}
	b = append(b, `,"message":`...)
	b = append(b, msg...)
	return append(b, '}')
}

// DecodeFanout decodes and checks a fanout envelope, returning
// ErrMalformedEnvelope when data is not of that shape.
func DecodeFanout(data []byte) (FanoutEnvelope, error) {
	var e FanoutEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return FanoutEnvelope{}, malformed("fanout", err.Error())
	}
	if err := e.Scope.Validate(); err != nil {
		return FanoutEnvelope{}, malformed("fanout", err.Error())
	}
	if e.Kind != FanoutState && e.Kind != FanoutEvent {
		return FanoutEnvelope{}, malformed("fanout", fmt.Sprintf("kind %q", e.Kind))
	}
	if isNull(e.Message) {
		return FanoutEnvelope{}, malformed("fanout", `missing "message"`)
	}
	return e, nil
}

// SessionAlivePrefix is the prefix of session.alive.{ws}.{proj} (core
// NATS, ours): in DeliveryCore, where sessions hold no consumer a runtime
// could list, every gateway names its open sessions there at an interval,
// so that runtimes can expire the sessions of a gateway that died without
// a word.
const SessionAlivePrefix = "session.alive"

// SessionAliveSubject returns session.alive.{ws}.{proj}.
func SessionAliveSubject(scope Scope) (string, error) {
	return build(SessionAlivePrefix, "",
		field{"workspace id", scope.WorkspaceID}, field{"project id", scope.ProjectID})
}

// SessionAlive is the body of a session.alive notice. A gateway with many
// sessions sends several notices, each under the connection's max payload.
type SessionAlive struct {
	Scope      Scope    `json:"scope"`
	SessionIDs []string `json:"sessionIds"`
}

// DecodeSessionAlive decodes and checks a session.alive notice.
func DecodeSessionAlive(data []byte) (SessionAlive, error) {
	var e SessionAlive
	if err := json.Unmarshal(data, &e); err != nil {
		return SessionAlive{}, malformed("session.alive", err.Error())
	}
	if err := e.Scope.Validate(); err != nil {
		return SessionAlive{}, malformed("session.alive", err.Error())
	}
	return e, nil
}
