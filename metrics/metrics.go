// Package metrics is Zocket's Prometheus instrumentation: one [Metrics]
// per process, made with [New] on a registry and given to every component
// through its Config (standalone.Config, gateway.Config, runtime.Config,
// engine.Config). A nil *Metrics turns metrics off: the components then do
// no work for them at all.
//
// Every metric is named zocket_*; docs/METRICS.md lists them with their
// type, labels and meaning. Labels have bounded values: actor types and
// methods only as the app registered them (anything else is "unknown"),
// and close reasons, close codes, outcomes and results from fixed sets.
// No metric is labelled with an actor id, a session id or a user.
//
// Two kinds of metrics live here. Histograms and labelled counters
// ([Metrics.RPCDuration], [Metrics.ConnectionsClosed], ...) are Prometheus
// collectors that the components update as things happen. The counters
// the components kept before (their Stats methods: gateway.Gateway.Stats,
// runtime.Runtime.Stats, ...) stay the one source of those numbers: a
// component hands its Stats method to [Attach], and a scrape reads it,
// so nothing is counted twice and the hot paths pay nothing more.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zocket-go/zocket/protocol"
)

// Metrics holds the collectors every component of a process updates. The
// fields are set by [New] and must not be changed; components use them,
// and applications may read them like any Prometheus collector. All of
// it is safe for concurrent use.
type Metrics struct {
	// RPCDuration (zocket_rpc_duration_seconds) is the time from the
	// engine receiving an rpc to its result, queueing included, by actor
	// type, method and outcome (see the Outcome constants).
	RPCDuration *prometheus.HistogramVec
	// QueueDepth (zocket_instance_queue_depth) is how many calls already
	// waited on an instance when an rpc was queued on it, by actor type.
	QueueDepth *prometheus.HistogramVec
	// Instances (zocket_instances) counts the live instances by actor type.
	Instances *prometheus.GaugeVec
	// Activations (zocket_instance_activations_total) counts instances
	// created, by actor type.
	Activations *prometheus.CounterVec
	// Evictions (zocket_instance_evictions_total) counts instances
	// evicted, by actor type and reason: "idle" (IdleTimeout) or "room"
	// (MaxInstances).
	Evictions *prometheus.CounterVec
	// HookFailures (zocket_hook_failures_total) counts lifecycle hooks
	// that returned an error or panicked, by actor type and hook
	// ("OnActivate", "OnDeactivate", "OnConnect", "OnDisconnect").
	HookFailures *prometheus.CounterVec

	// ConnectionsClosed (zocket_connections_closed_total) counts closed
	// WebSocket connections by reason and close code (see [CloseLabels]).
	ConnectionsClosed *prometheus.CounterVec

	// CallDuration (zocket_gateway_call_duration_seconds) is, on a
	// gateway, the time from publishing an rpc to INBOUND to its result,
	// by outcome: "answered", "timeout" (Config.CallTimeout) or
	// "not_delivered" (the publish failed).
	CallDuration *prometheus.HistogramVec
	// PublishDuration (zocket_jetstream_publish_duration_seconds) is the
	// time JetStream took to acknowledge a publish, by stream: "INBOUND"
	// (the gateway's client frames) or "OUTBOUND" (the runtime's server
	// frames).
	PublishDuration *prometheus.HistogramVec
	// ConsumerPending (zocket_consumer_pending) and ConsumerAckPending
	// (zocket_consumer_ack_pending) are, on the serving runtime, the
	// messages of each actor type's durable consumer on INBOUND not yet
	// delivered, and delivered but not yet acknowledged, as JetStream
	// last reported them (every 2 s).
	ConsumerPending    *prometheus.GaugeVec
	ConsumerAckPending *prometheus.GaugeVec

	stats *statsCollector
}

// Outcomes of an rpc, the outcome label of RPCDuration.
const (
	// OutcomeOK: the method returned a result.
	OutcomeOK = "ok"
	// OutcomeRejected: the app refused the call: a middleware or the
	// method returned a *zocket.Error (zocket.Reject, zocket.Errorf).
	OutcomeRejected = "rejected"
	// OutcomeInvalid: unknown actor type or method, input that does not
	// decode or validate, or a frame no actor can take.
	OutcomeInvalid = "invalid"
	// OutcomeOverloaded: refused by a limit (MaxQueue, MaxInstances,
	// MaxSessionQueue) or because the server shuts down.
	OutcomeOverloaded = "overloaded"
	// OutcomeInternal: any other error, or a panic; clients read
	// "internal error" and the server logs it.
	OutcomeInternal = "internal"
	// OutcomeTimeout: the method ran past the call timeout
	// (protocol.ErrCallTimeout), or failed with context.DeadlineExceeded.
	OutcomeTimeout = "timeout"
)

// Unknown is the label value of actor types and methods the app did not
// register.
const Unknown = "unknown"

// Buckets of the histograms, in seconds or calls.
var (
	latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	callBuckets    = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	depthBuckets   = []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}
)

// New returns the collectors of one process, registered on reg (nil means
// prometheus.DefaultRegisterer). Give the same Metrics to every component
// of the process: in `zocket dev` the gateway, the runtime and its engine
// share one. It panics if reg refuses them (already registered there),
// as prometheus.MustRegister does.
func New(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	m := &Metrics{
		RPCDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zocket_rpc_duration_seconds",
			Help:    "Time from the engine receiving an rpc to its result, queueing included, by actor type, method and outcome.",
			Buckets: latencyBuckets,
		}, []string{"actor", "method", "outcome"}),
		QueueDepth: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zocket_instance_queue_depth",
			Help:    "Calls already waiting on an instance when an rpc is queued on it, by actor type.",
			Buckets: depthBuckets,
		}, []string{"actor"}),
		Instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zocket_instances",
			Help: "Live actor instances, by actor type.",
		}, []string{"actor"}),
		Activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zocket_instance_activations_total",
			Help: "Actor instances created (OnActivate ran), by actor type.",
		}, []string{"actor"}),
		Evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zocket_instance_evictions_total",
			Help: "Actor instances evicted, by actor type and reason (idle: IdleTimeout; room: MaxInstances).",
		}, []string{"actor", "reason"}),
		HookFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zocket_hook_failures_total",
			Help: "Lifecycle hooks that returned an error or panicked, by actor type and hook.",
		}, []string{"actor", "hook"}),
		ConnectionsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zocket_connections_closed_total",
			Help: "WebSocket connections closed, by reason and close code.",
		}, []string{"reason", "code"}),
		CallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zocket_gateway_call_duration_seconds",
			Help:    "Gateway: time from publishing an rpc to INBOUND to its result, by outcome (answered, timeout, not_delivered).",
			Buckets: callBuckets,
		}, []string{"outcome"}),
		PublishDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zocket_jetstream_publish_duration_seconds",
			Help:    "Time JetStream took to acknowledge a publish, by stream (INBOUND: gateway, OUTBOUND: runtime).",
			Buckets: latencyBuckets,
		}, []string{"stream"}),
		ConsumerPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zocket_consumer_pending",
			Help: "Runtime: messages of the actor type's durable consumer on INBOUND not yet delivered, as JetStream last reported.",
		}, []string{"actor"}),
		ConsumerAckPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zocket_consumer_ack_pending",
			Help: "Runtime: messages of the actor type's durable consumer delivered and not yet acknowledged, as JetStream last reported.",
		}, []string{"actor"}),
		stats: newStatsCollector(),
	}
	for _, c := range []prometheus.Collector{
		m.RPCDuration, m.QueueDepth, m.Instances, m.Activations, m.Evictions, m.HookFailures,
		m.ConnectionsClosed, m.CallDuration, m.PublishDuration, m.ConsumerPending, m.ConsumerAckPending,
		m.stats,
	} {
		reg.MustRegister(c)
	}
	return m
}

// closeReasons maps the close reasons Zocket's hosts send to the reason
// label; any other reason (one a client sent) is "other". The reasons
// both hosts send are protocol's; the others are internal/wsconn's and
// the gateway's (which import this package, so they are spelled here).
var closeReasons = map[string]string{
	"send queue full":                "slow_client",
	"ping timeout":                   "ping_timeout",
	protocol.ErrTooBig.Error():       "frame_too_big",
	"frame rate exceeded":            "flood",
	"closed by client":               "client",
	"connection lost":                "connection_lost",
	"read failed":                    "read_failed",
	"write failed":                   "write_failed",
	"write timeout":                  "write_timeout",
	protocol.ErrShuttingDown.Error(): "shutdown",
	protocol.ReasonAuthExpired:       "auth_expired",
	protocol.ReasonFramesLost:        "frames_lost",
	"outbound consumer unavailable":  "no_consumer",
	"outbound consumer lost":         "consumer_lost",
	"NATS connection closed":         "nats_closed",
}

// closeCodes are the close codes counted under their own label; others
// (an application code a client sent) are "other".
var closeCodes = map[int]string{}

func init() {
	for _, c := range []int{1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 4001, 4002} {
		closeCodes[c] = strconv.Itoa(c)
	}
}

// CloseLabels returns the reason and code labels of a connection closed
// with code and reason: the reason as a short name from a fixed set
// ("slow_client", "ping_timeout", "shutdown", "client", ... or "other"),
// and the code in decimal if it is a standard code or one of Zocket's
// (4001, 4002), else "other". Clients choose their own close codes and
// reasons; folding them keeps the label values bounded.
func CloseLabels(code int, reason string) (reasonLabel, codeLabel string) {
	reasonLabel, ok := closeReasons[reason]
	if !ok {
		reasonLabel = "other"
	}
	codeLabel, ok = closeCodes[code]
	if !ok {
		codeLabel = "other"
	}
	return reasonLabel, codeLabel
}
