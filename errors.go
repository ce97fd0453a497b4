package zocket

import (
	"errors"
	"fmt"

	"github.com/zocket-go/zocket/protocol"
)

// Error is an error whose Message a client may see in rpc:result.error.
// Err is an optional cause: it is logged, never sent.
//
// Handlers and middleware return *Error (see [Errorf] and [Reject]) for
// failures the client should read. Any other error is logged and the client
// receives "internal error", so internal details never leak.
type Error struct {
	Message string
	Err     error
}

// Error returns Message. Error and Unwrap accept a nil *Error, so that a
// handler returning a typed nil (var err *Error; return x, err) is reported
// as an internal error instead of crashing the instance.
func (e *Error) Error() string {
	if e == nil {
		return "<nil *zocket.Error>"
	}
	return e.Message
}

func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Errorf returns an *Error whose message the client sees. A %w verb makes
// the wrapped error the Err cause (it is still formatted into the message).
func Errorf(format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Message: err.Error(), Err: errors.Unwrap(err)}
}

// Reject returns the error a middleware uses to refuse a call; the client
// receives msg.
func Reject(msg string) *Error { return &Error{Message: msg} }

// Errors the engine reports to clients; match them with errors.Is. Each is
// the value of the same name in package protocol, which defines the texts
// clients read in both shapes (the standalone server, the gateway and
// runtime), so errors.Is matches either name.
var (
	ErrUnknownActor  = protocol.ErrUnknownActor
	ErrUnknownMethod = protocol.ErrUnknownMethod
	ErrInvalidInput  = protocol.ErrInvalidInput
	ErrOverloaded    = protocol.ErrOverloaded
	// ErrTooManyInstances refuses a request that needs a new instance
	// while the engine holds engine.Config.MaxInstances live instances
	// and none of them is idle.
	ErrTooManyInstances = protocol.ErrTooManyInstances
	// ErrTooManyRequests refuses a request from a session that already
	// has engine.Config.MaxSessionQueue requests waiting or running.
	ErrTooManyRequests = protocol.ErrTooManyRequests
	// ErrTooManySubscriptions refuses a subscription from a session that
	// already holds engine.Config.MaxSubscriptions.
	ErrTooManySubscriptions = protocol.ErrTooManySubscriptions
	// ErrCallTimeout fails a call whose handler ran past
	// engine.Config.CallTimeout: its context was cancelled and its changes
	// rolled back. (The gateway answers a call it got no result for in
	// time with the same error, and a detail saying so.)
	ErrCallTimeout  = protocol.ErrCallTimeout
	ErrShuttingDown = protocol.ErrShuttingDown
	ErrInternal     = protocol.ErrInternal
)

// Errors of the Go API, which clients never read.
var (
	// ErrUndeclaredEvent fails Emit of an event the actor type did not
	// declare with [Emits].
	ErrUndeclaredEvent = errors.New("undeclared event")
	// ErrEventPayload fails Emit of a payload of another type than the
	// event's.
	ErrEventPayload = errors.New("wrong event payload type")
	// ErrInvalidDefinition wraps every mistake NewApp finds in actor
	// definitions.
	ErrInvalidDefinition = errors.New("invalid actor definition")
	// ErrInvalidOption is wrapped by every option or setting that refuses
	// its value: the options of [NewActor], and the configurations of
	// packages standalone, gateway, runtime, auth, wsconfig and
	// natstransport and of the bench tool, whose errors say which package
	// and setting (`gateway: invalid option: ...`). The Go client's Dial
	// options wrap it too, as client.ErrInvalidOption. It is
	// protocol.ErrInvalidOption, defined there because the gateway and
	// the packages it uses must not depend on this package.
	ErrInvalidOption = protocol.ErrInvalidOption
)
