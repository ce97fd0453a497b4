package cli

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/natstransport"
)

// streamFlags adds the INBOUND/OUTBOUND settings shared by every role.
func (f *flags) streamFlags() func() (natstransport.StreamSettings, error) {
	storage := f.String("stream-storage", "STREAM_STORAGE", "memory", "storage of INBOUND and OUTBOUND: memory or file")
	replicas := f.String("stream-replicas", "STREAM_REPLICAS", "1", "replicas of both streams (3 on a NATS cluster)")
	inAge := f.String("inbound-max-age", "INBOUND_MAX_AGE", "60s", "max age of INBOUND messages")
	outAge := f.String("outbound-max-age", "OUTBOUND_MAX_AGE", "30s", "max age of OUTBOUND messages")
	outConsumers := f.String("outbound-max-consumers", "OUTBOUND_MAX_CONSUMERS", strconv.Itoa(natstransport.DefaultOutboundMaxConsumers),
		"max consumers on OUTBOUND (one per open session)")
	return func() (natstransport.StreamSettings, error) {
		var s natstransport.StreamSettings
		var err error
		if s.Storage, err = natstransport.ParseStorage(*storage); err != nil {
			return s, fmt.Errorf("%w: -stream-storage: %v", ErrUsage, err)
		}
		if s.Replicas, err = strconv.Atoi(*replicas); err != nil {
			return s, fmt.Errorf("%w: -stream-replicas %q: not a number", ErrUsage, *replicas)
		}
		if s.InboundMaxAge, err = time.ParseDuration(*inAge); err != nil {
			return s, fmt.Errorf("%w: -inbound-max-age: %v", ErrUsage, err)
		}
		if s.OutboundMaxAge, err = time.ParseDuration(*outAge); err != nil {
			return s, fmt.Errorf("%w: -outbound-max-age: %v", ErrUsage, err)
		}
		if s.OutboundMaxConsumers, err = strconv.Atoi(*outConsumers); err != nil {
			return s, fmt.Errorf("%w: -outbound-max-consumers %q: not a number", ErrUsage, *outConsumers)
		}
		if err := s.Validate(); err != nil {
			return s, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		return s, nil
	}
}

// connectNATS connects with unlimited reconnects: roles outlive NATS
// restarts. The caller closes the connection.
func connectNATS(url, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("NATS disconnected", slog.Any("err", err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", slog.String("url", nc.ConnectedUrlRedacted()))
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}
