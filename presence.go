package zocket

import (
	"encoding/json"
	"fmt"

	"github.com/zocket-go/zocket/internal/actordef"
)

// Presence is who is connected to an instance, by client id: a field of
// the state that [TrackPresence] keeps current, so that every watcher sees
// who is here (and each client's small status, such as a cursor or
// "typing") through the state's ordinary snapshots and patches.
type Presence map[string]Present

// Present is one connected client.
type Present struct {
	// UserID is the client's authenticated user, "" when anonymous.
	UserID string `json:"userId,omitempty"`
	// Data is what the client last set with the "presence" method (any
	// JSON value of at most MaxPresenceData bytes); absent until then.
	Data json.RawMessage `json:"data,omitempty"`
}

// MaxPresenceData bounds one client's presence data.
const MaxPresenceData = 1024

// PresenceMethod is the method TrackPresence adds: a client calls it with
// its presence data as the input; the result is null.
const PresenceMethod = "presence"

// presenceData is the presence method's input: any JSON value, bounded.
type presenceData json.RawMessage

func (p *presenceData) UnmarshalJSON(b []byte) error {
	*p = append((*p)[:0], b...)
	return nil
}

func (p presenceData) Validate() error {
	if len(p) > MaxPresenceData {
		return fmt.Errorf("presence data is %d bytes, limit %d", len(p), MaxPresenceData)
	}
	return nil
}

// TrackPresence keeps the Presence that field returns (a field of the
// state) current: a client is added when it first interacts with an
// instance (a call or a subscription, after middleware and authorization,
// before OnConnect) and removed when it goes away (before OnDisconnect),
// including the clients of a gateway that died, whose sessions the runtime
// expires. It adds the method PresenceMethod, with which a client sets its
// own Data; a client's entry is its alone. Each change is a state change
// like any other, so with [PatchInterval] a storm of joins goes out as a
// few patches.
func TrackPresence[S any](a *Actor[S], field func(state *S) *Presence) {
	d := &a.def
	if field == nil {
		d.AddErr(fmt.Errorf("TrackPresence: nil field function"))
		return
	}
	at := func(state any) Presence {
		p := field(state.(*S))
		if *p == nil {
			*p = Presence{}
		}
		return *p
	}
	d.PresenceJoin = func(state any, c *actordef.Call) {
		p := at(state)
		if _, ok := p[c.Info.ClientID]; !ok {
			p[c.Info.ClientID] = Present{UserID: c.Info.UserID}
		}
	}
	d.PresenceLeave = func(state any, c *actordef.Call) {
		delete(at(state), c.Info.ClientID)
	}
	Method(a, PresenceMethod, func(s *S, c *Call, in presenceData) (struct{}, error) {
		p := at(s)
		e := p[c.ClientID()]
		e.UserID = c.UserID()
		if len(in) == 0 || string(in) == "null" {
			e.Data = nil
		} else {
			e.Data = json.RawMessage(in)
		}
		p[c.ClientID()] = e
		return struct{}{}, nil
	})
}
