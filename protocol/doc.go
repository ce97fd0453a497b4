// Package protocol defines the Zocket wire protocol: the JSON text frames a
// client and a server exchange over a WebSocket.
//
// [Decode] parses and validates one frame from untrusted bytes; it never
// panics and reports problems as a *[DecodeError] that carries the frame's
// id when one was readable (also from broken or deeply nested JSON), so a
// server can answer with an rpc:result. Ids must be valid UTF-8, and the
// ids a client sends at most [MaxIDLength] bytes; an rpc whose own id
// breaks these rules is answered with an empty id instead of an echo
// ([DecodeError.Answerable]).
// The Append* functions encode frames without reflection. The errors
// servers send in rpc:result and sub:error frames ([ErrUnknownActor],
// [ErrCallTimeout], ...) and the close codes and reasons of the protocol
// are defined here, once for every host. Everything here is safe for
// concurrent use.
package protocol
