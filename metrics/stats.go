package metrics

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// statDef is a metric read from components' Stats (see Attach).
type statDef struct {
	name    string
	help    string
	counter bool
	labels  []string
}

// statDefs are the metrics a Stats field may name in its metric tag.
var statDefs = []statDef{
	// Connections, on the standalone server and the gateway.
	{"zocket_connections", "Open WebSocket connections (sessions).", false, nil},
	{"zocket_connections_opened_total", "WebSocket connections accepted.", true, nil},
	{"zocket_frames_received_total", "Client frames read from WebSockets.", true, nil},
	{"zocket_frames_sent_total", "Server frames written to WebSockets.", true, nil},
	{"zocket_socket_writes_total", "Socket writes of those frames: a connection's backlog goes out in one.", true, nil},
	{"zocket_bytes_received_total", "Bytes of client frames read from WebSockets.", true, nil},
	{"zocket_bytes_sent_total", "Bytes of server frames written to WebSockets.", true, nil},
	{"zocket_frames_refused_total", "Client frames refused by the protocol decoder.", true, nil},
	{"zocket_rate_limited_total", "Client calls refused for going over the connection's frame rate (rate limit exceeded).", true, nil},
	{"zocket_send_queue_frames", "Frames waiting in the connections' send queues.", false, nil},
	{"zocket_frames_dropped_total", "Server frames dropped: their connection was closing or gone.", true, nil},
	{"zocket_slow_clients_closed_total", "Connections closed because their send queue was full (1008 send queue full).", true, nil},
	{"zocket_auth_total", "WebSocket upgrades by authentication result (ok, refused, unavailable, throttled, over_limit).", true, []string{"result"}},

	// The engine, on the standalone server and the runtime.
	{"zocket_instances_idle", "Live instances with no client and no work: the first to be evicted.", false, nil},
	{"zocket_instances_deactivating", "Evicted instances still running OnDeactivate.", false, nil},
	{"zocket_instance_goroutines", "Goroutines of instances, working or lingering for more work.", false, nil},
	{"zocket_engine_sessions", "Sessions that sent frames to actors and did not disconnect.", false, nil},
	{"zocket_engine_refused_total", "Requests refused by a limit (instances: MaxInstances, instance_queue: MaxQueue, session_queue: MaxSessionQueue, subscriptions: MaxSubscriptions).", true, []string{"limit"}},

	// JetStream, on the gateway (stream INBOUND) and the runtime (OUTBOUND).
	{"zocket_jetstream_publish_failures_total", "Publishes JetStream did not acknowledge, given up on, by stream.", true, []string{"stream"}},
	{"zocket_jetstream_publish_retries_total", "Publishes tried again after a failure, by stream.", true, []string{"stream"}},

	// The gateway.
	{"zocket_gateway_unknown_actor_total", "Client frames for actor types no runtime serves.", true, nil},
	{"zocket_gateway_consumer_failures_total", "Sessions closed because their OUTBOUND consumer or subscription could not be set up or failed.", true, nil},
	{"zocket_gateway_consumer_leftovers_total", "Consumers of closed sessions the gateway could not delete (they expire on their own).", true, nil},
	{"zocket_gateway_bad_outbound_total", "Malformed outbound messages skipped.", true, nil},
	{"zocket_gateway_resubscribed_total", "Subscriptions sent again because a runtime (re)started or NATS came back.", true, nil},
	{"zocket_gateway_answers_dropped_total", "rpc:results dropped because their call was answered already (a redelivery, or after its timeout).", true, nil},
	{"zocket_gateway_window_waits_total", "Times a session's reader waited for an answer before publishing its next call (MaxCallsInFlight).", true, nil},
	{"zocket_gateway_gaps_total", "Core delivery: skipped sequence numbers seen, each starting a recovery from OUTBOUND.", true, nil},
	{"zocket_gateway_recovered_frames_total", "Core delivery: frames read back from OUTBOUND after a gap.", true, nil},
	{"zocket_gateway_duplicate_frames_total", "Core delivery: live frames seen twice (a retried publish) and dropped.", true, nil},

	// The runtime.
	{"zocket_runtime_messages_received_total", "Inbound messages JetStream delivered to the runtime.", true, nil},
	{"zocket_runtime_messages_malformed_total", "Inbound messages acked unprocessed: bad envelope, foreign scope, unusable session id.", true, nil},
	{"zocket_runtime_frames_refused_total", "Inbound client frames the protocol decoder refused.", true, nil},
	{"zocket_jetstream_redeliveries_total", "Inbound messages delivered more than once.", true, nil},
	{"zocket_runtime_duplicates_total", "Redeliveries ignored because the first delivery was still in progress.", true, nil},
	{"zocket_runtime_reclaimed_total", "Messages a previous runtime left unacknowledged, taken over at boot.", true, nil},
	{"zocket_jetstream_acks_total", "Inbound messages acknowledged.", true, nil},
	{"zocket_jetstream_naks_total", "Inbound messages nak'd for redelivery.", true, nil},
	{"zocket_jetstream_in_progress_total", "In-progress acks sent for long calls.", true, nil},
	{"zocket_runtime_in_flight", "Inbound messages received and not yet acked or nak'd.", false, nil},
	{"zocket_runtime_frames_dropped_total", "Outbound frames not sent: too large, or produced after shutdown.", true, nil},
	{"zocket_runtime_sessions_expired_total", "Sessions expired because no gateway held them any more.", true, nil},
}

// series is one time series of a statDef: its label values.
type series struct {
	def    int // index in statDefs
	labels string
}

// statField is a Stats field with a metric tag.
type statField struct {
	index  int
	series series
	values []string
}

// statsCollector reads the Stats of the attached components at every
// scrape and reports each series as the sum over them. A counter keeps
// what detached components counted, so that it never goes down when a
// component is replaced (a runtime's engine after a lost lease).
type statsCollector struct {
	descs []*prometheus.Desc

	mu      sync.Mutex
	next    int
	sources map[int]func(add func(statField, float64))
	retired map[series]float64
	values  map[series][]string
}

func newStatsCollector() *statsCollector {
	c := &statsCollector{
		sources: make(map[int]func(add func(statField, float64))),
		retired: make(map[series]float64),
		values:  make(map[series][]string),
	}
	for _, d := range statDefs {
		c.descs = append(c.descs, prometheus.NewDesc(d.name, d.help, d.labels, nil))
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sums := make(map[series]float64, len(c.retired)+len(statDefs))
	for s, v := range c.retired {
		sums[s] = v
	}
	for _, read := range c.sources {
		read(func(f statField, v float64) { sums[f.series] += v })
	}
	values := c.values
	c.mu.Unlock()
	for s, v := range sums {
		d := statDefs[s.def]
		typ := prometheus.GaugeValue
		if d.counter {
			typ = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[s.def], typ, v, values[s]...)
	}
}

// attach adds a source; detach removes it, keeping its counters.
func (c *statsCollector) attach(fields []statField, read func(add func(statField, float64))) (detach func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fields {
		c.values[f.series] = f.values
	}
	id := c.next
	c.next++
	c.sources[id] = read
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			read(func(f statField, v float64) {
				if statDefs[f.series.def].counter {
					c.retired[f.series] += v
				}
			})
			delete(c.sources, id)
		})
	}
}

var fieldCache sync.Map // reflect.Type → []statField

// fieldsOf returns the fields of struct type t with a metric tag. It
// panics on a tag that names no metric of statDefs or gives the wrong
// labels, and on a tagged field that is not an integer: mistakes in
// Zocket's own code, which its tests catch.
func fieldsOf(t reflect.Type) []statField {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]statField)
	}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("metrics: Attach needs a struct, got %v", t))
	}
	var fields []statField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("metric")
		if !ok {
			continue
		}
		switch sf.Type.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		default:
			panic(fmt.Sprintf("metrics: %v.%s: a metric field must be an integer, not %v", t, sf.Name, sf.Type))
		}
		parts := strings.Split(tag, ",")
		def := -1
		for j, d := range statDefs {
			if d.name == parts[0] {
				def = j
				break
			}
		}
		if def < 0 {
			panic(fmt.Sprintf("metrics: %v.%s: unknown metric %q", t, sf.Name, parts[0]))
		}
		d := statDefs[def]
		if len(parts)-1 != len(d.labels) {
			panic(fmt.Sprintf("metrics: %v.%s: %s needs the labels %v", t, sf.Name, d.name, d.labels))
		}
		values := make([]string, len(d.labels))
		for j, p := range parts[1:] {
			name, value, ok := strings.Cut(p, "=")
			if !ok || name != d.labels[j] {
				panic(fmt.Sprintf("metrics: %v.%s: %s needs the labels %v in that order, got %q", t, sf.Name, d.name, d.labels, tag))
			}
			values[j] = value
		}
		fields = append(fields, statField{index: i, series: series{def, strings.Join(values, "\x00")}, values: values})
	}
	v, _ := fieldCache.LoadOrStore(t, fields)
	return v.([]statField)
}

// Attach makes m report the fields of read's result that carry a metric
// tag, reading them at every scrape: `metric:"name"`, or
// `metric:"name,label=value,..."` for a metric with labels (the label
// names of docs/METRICS.md, in that order). Every field must be an
// integer, and the result a struct. A series several attached components
// report is their sum. Call detach when the component stops: a counter
// keeps what it counted, a gauge forgets it. With a nil m, Attach does
// nothing.
//
// The components' Stats structs are tagged this way, so that their Stats
// methods and /metrics report the same counts.
func Attach[S any](m *Metrics, read func() S) (detach func()) {
	if m == nil {
		return func() {}
	}
	fields := fieldsOf(reflect.TypeFor[S]())
	return m.stats.attach(fields, func(add func(statField, float64)) {
		v := reflect.ValueOf(read())
		for _, f := range fields {
			fv := v.Field(f.index)
			if fv.CanInt() {
				add(f, float64(fv.Int()))
			} else {
				add(f, float64(fv.Uint()))
			}
		}
	})
}
