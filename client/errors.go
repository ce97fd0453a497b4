package client

import (
	"errors"
	"fmt"

	"github.com/zocket-go/zocket/protocol"
)

// Errors returned by the client; match them with errors.Is.
var (
	// ErrClosed is returned by operations on a client that stopped: after
	// Close, or after the connection was lost for good (see [Client.Err]).
	// Calls pending when Close runs fail with it too.
	ErrClosed = errors.New("client: closed")
	// ErrDisconnected fails calls whose connection dropped before their
	// result arrived. The server may or may not have run such a call; the
	// client never sends it again on its own.
	ErrDisconnected = errors.New("client: disconnected")
	// ErrInvalidOption is wrapped by Dial when an Options field is invalid
	// ("client: invalid option: ..."). It is protocol.ErrInvalidOption (and
	// zocket.ErrInvalidOption), the error every Zocket configuration wraps,
	// under a name of this package.
	ErrInvalidOption = protocol.ErrInvalidOption
	// ErrProtocol is wrapped by Dial when the server's first frame is not a
	// welcome frame.
	ErrProtocol = errors.New("client: protocol violation")
)

// RPCError is a call that reached the server and failed there: an unknown
// actor type or method, invalid input, a middleware rejection or an error
// returned by the handler. Message is the server's rpc:result error text.
type RPCError struct {
	Actor   string // actor type
	ActorID string
	Method  string
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("client: %s/%s.%s: %s", e.Actor, e.ActorID, e.Method, e.Message)
}

// SubError is a subscription the server refused (a sub:error frame): not
// authorized, an unknown actor type, or over a limit. WatchState returns
// it at once instead of waiting for a snapshot that will not come;
// refused event subscriptions go to [Options.OnSubError].
type SubError struct {
	Actor   string // actor type
	ActorID string
	Refused string // "state:sub" or "event:sub"
	Message string // the server's reason
}

func (e *SubError) Error() string {
	return fmt.Sprintf("client: %s %s/%s refused: %s", e.Refused, e.Actor, e.ActorID, e.Message)
}
