// Package auth decides who opens a connection, for both hosts: the
// standalone server and the gateway ask one [Authenticator] for the
// [Identity] of every WebSocket upgrade, and refuse the upgrade (401, or
// 503 when the authority cannot be asked) when it fails.
//
// Three authenticators are built in: [JWT] (a shared secret, PEM public
// keys, or a JWKS URL whose keys are cached and rotated), [ControlPlane]
// (a registry service that authorizes each session over HTTP), and none
// (a nil Authenticator: everyone is let in, with no user id). [Token]
// finds a client's token in the request the same way for all of them.
package auth
