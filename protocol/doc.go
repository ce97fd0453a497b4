// Package protocol defines the Zocket wire protocol: the JSON text frames a
// client and a server exchange over a WebSocket.
//
// [Decode] parses and validates one frame from untrusted bytes; it never
// panics and reports problems as a *[DecodeError] that carries the frame's
// id when one was readable, so a server can answer with an rpc:result.
// The Append* functions encode server frames without reflection; [Encode]
// encodes any [Frame]. Everything here is safe for concurrent use.
package protocol
