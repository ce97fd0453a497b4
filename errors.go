package zocket

import (
	"errors"
	"fmt"
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

// Errors the engine reports to clients; match them with errors.Is.
var (
	ErrUnknownActor    = errors.New("unknown actor type")
	ErrUnknownMethod   = errors.New("unknown method")
	ErrInvalidInput    = errors.New("invalid input")
	ErrUndeclaredEvent = errors.New("undeclared event")
	ErrEventPayload    = errors.New("wrong event payload type")
	ErrOverloaded      = errors.New("actor overloaded")
	// ErrTooManyInstances refuses a request that needs a new instance
	// while the engine holds engine.Config.MaxInstances live instances
	// and none of them is idle.
	ErrTooManyInstances = errors.New("too many actor instances")
	// ErrTooManyRequests refuses a request from a session that already
	// has engine.Config.MaxSessionQueue requests waiting or running.
	ErrTooManyRequests = errors.New("too many requests in flight")
	ErrShuttingDown    = errors.New("server shutting down")
	ErrInternal        = errors.New("internal error")
	// ErrCallTimeout fails a call whose handler ran past
	// engine.Config.CallTimeout: its context was cancelled and its changes
	// rolled back.
	ErrCallTimeout = errors.New("call timed out")
	// ErrTooManySubscriptions refuses a subscription from a session that
	// already holds engine.Config.MaxSubscriptions.
	ErrTooManySubscriptions = errors.New("too many subscriptions")
	// ErrInvalidDefinition wraps every mistake NewApp finds in actor
	// definitions.
	ErrInvalidDefinition = errors.New("invalid actor definition")
)
