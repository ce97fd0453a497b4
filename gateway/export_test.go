package gateway

import "github.com/nats-io/nats.go"

// SetDropHook makes g's core delivery (DeliveryCore) pass every live
// message to hook first; a message for which it returns true is dropped
// and its subscription reported as a slow consumer, as NATS does when the
// gateway cannot keep up.
func SetDropHook(g *Gateway, hook func(*nats.Msg) bool) {
	g.router.mu.Lock()
	defer g.router.mu.Unlock()
	g.router.dropHook = hook
}
