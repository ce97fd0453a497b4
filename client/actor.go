package client

import (
	"context"
	"encoding/json"
	"fmt"
)

// Actor is a handle on one actor instance, addressed by type and id. It is
// cheap, holds no server resources, stays valid across reconnects, and is
// safe for concurrent use.
type Actor struct {
	c   *Client
	typ string
	id  string
}

// Actor returns a handle on the instance id of actor type typ.
func (c *Client) Actor(typ, id string) *Actor { return &Actor{c: c, typ: typ, id: id} }

// Type returns the actor type.
func (a *Actor) Type() string { return a.typ }

// ID returns the actor id.
func (a *Actor) ID() string { return a.id }

// Call runs method on the actor and waits for its result. input is encoded
// as JSON (nil sends no input); the result is decoded into out as
// json.Unmarshal does (nil discards it). While the client is reconnecting,
// Call waits for the connection.
//
// A failure reported by the server is a *[RPCError]. Call returns ctx.Err()
// when ctx ends first (with [Options.CallTimeout] applying when ctx has no
// deadline), [ErrDisconnected] when the connection dropped before the
// result arrived (the call may have run; it is not sent again), and
// [ErrClosed] when the client stopped.
func (a *Actor) Call(ctx context.Context, method string, input, out any) error {
	if err := ctx.Err(); err != nil {
		return err // do not send a call nobody waits for
	}
	var raw []byte
	if input != nil {
		var err error
		if raw, err = json.Marshal(input); err != nil {
			return fmt.Errorf("client: %s/%s.%s: encode input: %w", a.typ, a.id, method, err)
		}
	}
	ctx, cancel := a.c.withTimeout(ctx)
	defer cancel()
	r, err := a.c.roundTrip(ctx, a.typ, a.id, method, raw)
	if err != nil {
		return err
	}
	if r.hasError {
		return &RPCError{Actor: a.typ, ActorID: a.id, Method: method, Message: r.errMsg}
	}
	if out != nil {
		if err := json.Unmarshal(r.result, out); err != nil {
			return fmt.Errorf("client: %s/%s.%s: decode result: %w", a.typ, a.id, method, err)
		}
	}
	return nil
}

// CallT is [Actor.Call] returning the result decoded as Out.
func CallT[Out any](ctx context.Context, a *Actor, method string, input any) (Out, error) {
	var out Out
	err := a.Call(ctx, method, input, &out)
	return out, err
}

// Method returns a typed handle on the method named name of actor a: a
// function that calls it with input in (encoded as JSON) and returns its
// result decoded as Out, as [CallT] does. Declaring the handles once, with
// the input and result types of the Go method they reach, gives typed
// calls without generated code:
//
//	set := client.Method[counter.SetInput, int](c.Actor("counter", "main"), "set")
//	n, err := set(ctx, counter.SetInput{Value: &v})
//
// Use struct{} as In for methods without input. The handle is as safe for
// concurrent use as a.
func Method[In, Out any](a *Actor, name string) func(ctx context.Context, in In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		return CallT[Out](ctx, a, name, in)
	}
}
