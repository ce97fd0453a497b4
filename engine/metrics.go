package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/metrics"
	"github.com/zocket-go/zocket/protocol"
)

// outcome classifies an rpc's result for metrics.Metrics.RPCDuration.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeRejected
	outcomeInvalid
	outcomeOverloaded
	outcomeInternal
	outcomeTimeout
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	metrics.OutcomeOK, metrics.OutcomeRejected, metrics.OutcomeInvalid,
	metrics.OutcomeOverloaded, metrics.OutcomeInternal, metrics.OutcomeTimeout,
}

// outcomeOf classifies the error an rpc ended with (nil: ok).
func outcomeOf(err error) outcome {
	if err == nil {
		return outcomeOK
	}
	var ze *zocket.Error
	var pe *actordef.PublicError
	switch {
	case errors.Is(err, protocol.ErrCallTimeout), errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout
	case errors.Is(err, protocol.ErrOverloaded), errors.Is(err, protocol.ErrTooManyInstances),
		errors.Is(err, protocol.ErrTooManyRequests), errors.Is(err, protocol.ErrTooManySubscriptions),
		errors.Is(err, protocol.ErrShuttingDown):
		return outcomeOverloaded
	case errors.Is(err, protocol.ErrInvalidInput), errors.Is(err, protocol.ErrUnknownMethod),
		errors.Is(err, protocol.ErrUnknownActor):
		return outcomeInvalid
	case errors.As(err, &ze) && ze != nil:
		return outcomeRejected
	case errors.As(err, &pe):
		if strings.HasPrefix(pe.Msg, "invalid frame") {
			return outcomeInvalid
		}
		return outcomeRejected
	}
	return outcomeInternal
}

// engineMetrics are an engine's collectors, resolved once per actor type
// and method so that a call's observation costs no label lookup. Nil when
// metrics are off.
type engineMetrics struct {
	m       *metrics.Metrics
	types   map[string]*typeMetrics // the app's actor types; read-only
	unknown *methodMetrics          // actor "unknown", method "unknown"
}

// typeMetrics are the collectors of one actor type.
type typeMetrics struct {
	methods       map[string]*methodMetrics // the type's methods; read-only
	unknownMethod *methodMetrics
	instances     prometheus.Gauge
	activations   prometheus.Counter
	evictIdle     prometheus.Counter
	evictRoom     prometheus.Counter
	queueDepth    prometheus.Observer
	hookFailures  [actordef.NumHooks]prometheus.Counter // nil for the hooks the type lacks
}

// methodMetrics are the RPC latency histograms of one method, one per
// outcome, each made when first observed: a series per outcome that never
// happens would only fill scrapes with zeros.
type methodMetrics struct {
	vec           *prometheus.HistogramVec
	actor, method string
	obs           [numOutcomes]atomic.Pointer[observer]
}

type observer struct{ prometheus.Observer }

func (mm *methodMetrics) observe(o outcome, d time.Duration) {
	p := mm.obs[o].Load()
	if p == nil {
		p = &observer{mm.vec.WithLabelValues(mm.actor, mm.method, outcomeNames[o])}
		mm.obs[o].Store(p) // a race makes the same child twice: harmless
	}
	p.Observe(d.Seconds())
}

func newEngineMetrics(m *metrics.Metrics, defs *actordef.App) *engineMetrics {
	if m == nil {
		return nil
	}
	em := &engineMetrics{m: m, types: make(map[string]*typeMetrics, len(defs.Types)),
		unknown: &methodMetrics{vec: m.RPCDuration, actor: metrics.Unknown, method: metrics.Unknown}}
	for name, def := range defs.Types {
		tm := &typeMetrics{
			methods:       make(map[string]*methodMetrics, len(def.Methods)),
			unknownMethod: &methodMetrics{vec: m.RPCDuration, actor: name, method: metrics.Unknown},
			instances:     m.Instances.WithLabelValues(name),
			activations:   m.Activations.WithLabelValues(name),
			evictIdle:     m.Evictions.WithLabelValues(name, "idle"),
			evictRoom:     m.Evictions.WithLabelValues(name, "room"),
			queueDepth:    m.QueueDepth.WithLabelValues(name),
		}
		for method := range def.Methods {
			tm.methods[method] = &methodMetrics{vec: m.RPCDuration, actor: name, method: method}
		}
		for k := range actordef.NumHooks {
			if def.Hooks[k] != nil {
				tm.hookFailures[k] = m.HookFailures.WithLabelValues(name, k.String())
			}
		}
		em.types[name] = tm
	}
	return em
}

// typ returns the collectors of actor type name; nil when metrics are off.
func (em *engineMetrics) typ(name string) *typeMetrics {
	if em == nil {
		return nil
	}
	return em.types[name]
}

// methodOf returns the histograms of req's method, "unknown" standing for
// an actor type or method the app lacks.
func (em *engineMetrics) methodOf(req *Request) *methodMetrics {
	tm := em.types[req.Frame.Actor]
	if tm == nil {
		return em.unknown
	}
	if mm := tm.methods[req.Frame.Method]; mm != nil {
		return mm
	}
	return tm.unknownMethod
}

// start notes when the engine received req, for its latency; only rpcs
// are observed.
func (em *engineMetrics) start(req *Request) {
	if em != nil {
		req.received = time.Now()
	}
}

// done observes the end of rpc req with err (nil: a result).
func (em *engineMetrics) done(req *Request, err error) {
	if em == nil || req.received.IsZero() {
		return
	}
	em.methodOf(req).observe(outcomeOf(err), time.Since(req.received))
}
