package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/wsconfig"
)

// webSocketFlags adds the flags of the WebSocket settings that every
// command serving WebSockets (serve, gateway, dev) takes, -origins,
// -max-frame-rate and the connection caps, and returns their parser. Zero keeps wsconfig's default.
func (f *flags) webSocketFlags() func() (wsconfig.Settings, error) {
	origins := f.String("origins", "ORIGINS", "", "comma-separated extra browser origins allowed, * for any")
	rate := f.intFlag("max-frame-rate", "MAX_FRAME_RATE", fmt.Sprintf(
		"most frames per second from one connection, after a burst of as many; calls past it are refused with \"rate limit exceeded\", other frames read more slowly (0: the default, %d; negative: no limit, for load tests)",
		wsconfig.DefaultMaxFrameRate))
	perIP := f.intFlag("max-conns-per-ip", "MAX_CONNS_PER_IP", fmt.Sprintf(
		"most open connections from one client address, loopback exempt (0: the default, %d; negative: no cap)",
		wsconfig.DefaultMaxConnsPerIP))
	perUser := f.intFlag("max-conns-per-user", "MAX_CONNS_PER_USER", fmt.Sprintf(
		"most open connections of one authenticated user (0: the default, %d; negative: no cap)",
		wsconfig.DefaultMaxConnsPerUser))
	return func() (wsconfig.Settings, error) {
		s := wsconfig.Settings{OriginPatterns: splitList(*origins)}
		var err error
		if s.MaxFrameRate, err = rate(); err != nil {
			return s, err
		}
		if s.MaxConnsPerIP, err = perIP(); err != nil {
			return s, err
		}
		s.MaxConnsPerUser, err = perUser()
		return s, err
	}
}

// actorLimits are the engine's limits a command that runs actors takes.
type actorLimits struct {
	instances, subscriptions int
	handlerTimeout           time.Duration
}

// actorLimitFlags adds -max-instances, -max-subscriptions and
// -handler-timeout, for the commands that run actors, and returns their
// parser. Zero keeps the engine's defaults.
func (f *flags) actorLimitFlags() func() (actorLimits, error) {
	instances := f.intFlag("max-instances", "MAX_INSTANCES", fmt.Sprintf(
		"most live actor instances; the one idle longest is evicted to make room (0: the default, %d; negative: no cap)",
		engine.DefaultMaxInstances))
	subscriptions := f.intFlag("max-subscriptions", "MAX_SUBSCRIPTIONS", fmt.Sprintf(
		"most subscriptions one connection holds; more are refused with sub:error (0: the default, %d; negative: no cap)",
		engine.DefaultMaxSubscriptions))
	timeout := f.String("handler-timeout", "HANDLER_TIMEOUT", "0",
		fmt.Sprintf("how long a method handler may run before its context is cancelled and the call fails, rolled back (0: the default, %v; negative: no deadline)",
			engine.DefaultCallTimeout))
	return func() (l actorLimits, err error) {
		if l.instances, err = instances(); err != nil {
			return l, err
		}
		if l.subscriptions, err = subscriptions(); err != nil {
			return l, err
		}
		if l.handlerTimeout, err = time.ParseDuration(*timeout); err != nil {
			return l, fmt.Errorf("%w: -handler-timeout %q: want a duration such as 10s", ErrUsage, *timeout)
		}
		return l, nil
	}
}

// intFlag adds a whole-number flag whose default is $envName, else 0, and
// returns its parser.
func (f *flags) intFlag(name, envName, usage string) func() (int, error) {
	s := f.String(name, envName, "0", usage)
	return func() (int, error) {
		n, err := strconv.Atoi(*s)
		if err != nil {
			return 0, fmt.Errorf("%w: -%s %q: want a whole number", ErrUsage, name, *s)
		}
		return n, nil
	}
}
