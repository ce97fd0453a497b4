// Package counter is the smallest useful Zocket actor: a shared count with a
// viewer count kept by OnConnect and OnDisconnect.
package counter

import (
	"errors"

	"github.com/zocket-go/zocket"
)

// State is one counter's state as clients see it.
type State struct {
	Count   int `json:"count"`
	Viewers int `json:"viewers"`
}

// SetInput is the input of the set method: {"value": n}.
type SetInput struct {
	Value *int `json:"value"`
}

// Validate requires the value.
func (in SetInput) Validate() error {
	if in.Value == nil {
		return errors.New(`"value" is required`)
	}
	return nil
}

// Change is the payload of the changed event.
type Change struct {
	Count int    `json:"count"`
	By    string `json:"by"` // client id of the caller
}

// Changed is emitted to event subscribers after every change of the count.
var Changed = zocket.NewEvent[Change]("changed")

// Name is the actor type's wire name.
const Name = "counter"

// Actor returns the counter actor type: methods increment, decrement, reset
// and set, each returning the new count.
func Actor() *zocket.Actor[State] {
	a := zocket.NewActor(Name, func() State { return State{} }, zocket.Emits(Changed))
	zocket.Method(a, "increment", func(s *State, c *zocket.Call, _ struct{}) (int, error) {
		return s.update(c, s.Count+1)
	})
	zocket.Method(a, "decrement", func(s *State, c *zocket.Call, _ struct{}) (int, error) {
		return s.update(c, s.Count-1)
	})
	zocket.Method(a, "reset", func(s *State, c *zocket.Call, _ struct{}) (int, error) {
		return s.update(c, 0)
	})
	zocket.Method(a, "set", func(s *State, c *zocket.Call, in SetInput) (int, error) {
		return s.update(c, *in.Value)
	})
	a.OnConnect(func(s *State, c *zocket.Call) error { s.Viewers++; return nil })
	a.OnDisconnect(func(s *State, c *zocket.Call) error { s.Viewers--; return nil })
	return a
}

func (s *State) update(c *zocket.Call, n int) (int, error) {
	s.Count = n
	return n, Changed.Emit(c, Change{Count: n, By: c.ClientID()})
}
