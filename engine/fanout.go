package engine

// With Config.Fanout, an instance numbers the frames it sends to every
// subscriber (its fanout sequence), reports where in that sequence each
// subscription change happened, and marks the frames it sends to one
// session with the position they follow, so that a host publishing
// fanout frames once per instance can order and check them.

// position appends the answer to a subscription change: frame (the
// snapshot of a state:sub, or nil), with the instance's fanout position
// when the host asked for it. Without Config.Fanout a nil frame
// appends nothing.
func (in *instance) position(out []Outgoing, sid, sub string, frame []byte) []Outgoing {
	if !in.e.cfg.Fanout {
		if frame == nil {
			return out
		}
		return append(out, Outgoing{SessionID: sid, Frame: frame})
	}
	pos := in.here()
	pos.Sub = sub
	return append(out, Outgoing{SessionID: sid, Frame: frame, Position: pos})
}

// here is the instance's current fanout position.
func (in *instance) here() *Position {
	return &Position{Actor: in.def.Name, ActorID: in.id, Epoch: in.epoch, Seq: in.fanoutSeq, Events: in.eventSeq}
}

// fanout returns the Fanout of the instance's next frame for every
// subscriber, or nil without Config.Fanout.
func (in *instance) fanout(events bool, except map[string]struct{}) *Fanout {
	if !in.e.cfg.Fanout {
		return nil
	}
	in.fanoutSeq++
	if events {
		in.eventSeq++
	}
	fo := &Fanout{Actor: in.def.Name, ActorID: in.id, Events: events, Epoch: in.epoch, Seq: in.fanoutSeq,
		EventCount: in.eventSeq}
	for id := range except {
		if _, sub := in.eventSubs[id]; sub {
			fo.Except = append(fo.Except, id)
		}
	}
	return fo
}

// deliver hands out to the host, with the position that frames for one
// session follow.
func (in *instance) deliver(req *Request, out []Outgoing) {
	if req == nil && len(out) == 0 {
		return
	}
	if in.e.cfg.Fanout { // frames for one session follow the fanout frames before them
		var after *Position
		for i := range out {
			if out[i].Fanout == nil && out[i].Position == nil {
				if after == nil {
					after = in.here()
				}
				out[i].After = after
			}
		}
	}
	in.e.host.Deliver(req, out)
}
