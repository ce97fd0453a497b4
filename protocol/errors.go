package protocol

import "errors"

// Errors whose text servers send to clients: the error of an rpc:result or
// a sub:error is one of these texts, usually followed by ": " and a detail
// (`unknown actor type: "chat"`), unless an application's handler or
// middleware chose the text (zocket.Errorf, zocket.Reject). They are
// defined here once, for every host: the standalone server and the
// gateway with its runtime send the same texts for the same failures.
// Package zocket exports the ones its engine reports under the same names
// and as the same values (zocket.ErrUnknownActor is ErrUnknownActor), so
// errors.Is matches either name on the server.
//
// A client receives only the text: compare it with
// strings.HasPrefix(msg, ErrCallTimeout.Error()).
var (
	// ErrUnknownActor: no actor type of that name, or (distributed) no
	// runtime serves it.
	ErrUnknownActor = errors.New("unknown actor type")
	// ErrUnknownMethod: the actor type has no method of that name.
	ErrUnknownMethod = errors.New("unknown method")
	// ErrInvalidInput: the rpc input does not decode into the method's
	// input type, or its Validate method refused it.
	ErrInvalidInput = errors.New("invalid input")
	// ErrInvalidFrame: the frame breaks the protocol (every *DecodeError
	// reads "invalid frame: ..." and matches it with errors.Is), or names
	// an actor id no server can address.
	ErrInvalidFrame = errors.New("invalid frame")
	// ErrOverloaded: too many calls wait on the instance.
	ErrOverloaded = errors.New("actor overloaded")
	// ErrTooManyInstances: a request needs a new instance while the
	// server holds as many live instances as it may, none of them idle.
	ErrTooManyInstances = errors.New("too many actor instances")
	// ErrTooManyRequests: the connection already has as many requests
	// waiting or running as it may.
	ErrTooManyRequests = errors.New("too many requests in flight")
	// ErrRateLimited: the connection sent more frames per second than the
	// server allows (its MaxFrameRate setting); the rpc was not run. Try
	// again more slowly: a client that keeps sending at twice the rate is
	// disconnected (1008, "frame rate exceeded").
	ErrRateLimited = errors.New("rate limit exceeded")
	// ErrTooManySubscriptions: the connection already holds as many
	// subscriptions as it may.
	ErrTooManySubscriptions = errors.New("too many subscriptions")
	// ErrShuttingDown: the server is stopping. It is also the reason of
	// the close (1001) that ends every connection then.
	ErrShuttingDown = errors.New("server shutting down")
	// ErrInternal: the call failed on the server for a reason it does not
	// disclose (logged there).
	ErrInternal = errors.New("internal error")
	// ErrUnavailable (gateway): the gateway could not check the actor type
	// or set up the subscription, because NATS did not answer. The frame
	// was not sent; try again later.
	ErrUnavailable = errors.New("service unavailable")
	// ErrNotDelivered (gateway): JetStream did not acknowledge the call in
	// time, or refused it, so it may not have reached a runtime.
	ErrNotDelivered = errors.New("call not delivered")
	// ErrCallTimeout: the call took too long. From the engine (both
	// hosts): its handler ran past the server's call timeout, and its
	// changes were rolled back. From the gateway: no rpc:result came
	// within the gateway's call timeout; the call may or may not have
	// run, and a result that arrives later is dropped. The detail says
	// which.
	ErrCallTimeout = errors.New("call timed out")
	// ErrTooBig: a client frame over a size limit. The gateway answers an
	// rpc with it when the frame in its inbound envelope exceeds the NATS
	// server's max payload (possible only with very large claims); it is
	// also the reason of the close (1009) of a connection that sent a frame
	// over the server's maximum frame size.
	ErrTooBig = errors.New("frame too big")
	// ErrResultTooLarge (runtime): the call's result exceeds the NATS
	// server's max payload. The call ran.
	ErrResultTooLarge = errors.New("result too large")
)

// ErrInvalidOption is wrapped by every option or setting that refuses its
// value, across the module: the options of zocket.NewActor, the
// configurations of packages standalone, gateway, runtime, auth, wsconfig
// and natstransport, the Go client's Dial options and the bench tool. The
// errors say which package and setting (`gateway: invalid option: ...`).
// Clients never read it; it is defined here, beside the errors they do
// read, because this is the one package all of those import: the gateway
// and the packages it uses must not depend on package zocket (the actor
// API), and the Go client need not. zocket.ErrInvalidOption and
// client.ErrInvalidOption are this value.
var ErrInvalidOption = errors.New("invalid option")
