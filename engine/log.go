package engine

import (
	"log/slog"

	"github.com/zocket-go/zocket/protocol"
)

// Log attributes of the lines about a request. The hosts' loggers add the
// rest: the runtime's carry ws and proj, and an instance's logger carries
// actor and actor_id.
const (
	logSession = "session_id"
	logRequest = "request_id"
)

// requestAttrs returns the attributes of a line about req: session_id,
// request_id and, for an rpc, method, or the frame's type for another
// frame; then extra. With whole, actor and actor_id too, for lines not
// logged by the instance's logger.
func requestAttrs(req *Request, whole bool, extra ...slog.Attr) []slog.Attr {
	f := &req.Frame
	attrs := make([]slog.Attr, 0, 6+len(extra))
	attrs = append(attrs, slog.String(logSession, req.SessionID), slog.String(logRequest, req.RequestID))
	if whole {
		attrs = append(attrs, slog.String("actor", f.Actor), slog.String("actor_id", f.ActorID))
	}
	if f.Type == protocol.TypeRPC {
		attrs = append(attrs, slog.String("method", f.Method))
	} else {
		attrs = append(attrs, slog.String("type", f.Type))
	}
	return append(attrs, extra...)
}
