package engine

import (
	"errors"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/protocol"
)

// errShuttingDown is ErrShuttingDown in the form clients read.
var errShuttingDown error = &actordef.PublicError{Msg: protocol.ErrShuttingDown.Error(), Err: protocol.ErrShuttingDown}

// clientMessage maps err to what a client may read, and reports whether the
// error is internal (to be logged).
func clientMessage(err error) (msg string, internal bool) {
	var ze *zocket.Error
	if errors.As(err, &ze) && ze != nil { // a typed nil *Error is a bug in the handler: internal
		return ze.Message, false
	}
	var pe *actordef.PublicError
	if errors.As(err, &pe) {
		return pe.Msg, false
	}
	return protocol.ErrInternal.Error(), true
}
