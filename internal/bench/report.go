package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

// Report holds every figure of one run. Fields that do not apply to the mode
// are zero and left out of the JSON.
type Report struct {
	// Mode is "rpc", "fanout", "connect", "churn" or "floor".
	Mode string `json:"mode"`
	// Kind is the floor's kind ("echo" or "jetstream"); for rpc it is
	// "zocket".
	Kind string `json:"kind,omitempty"`
	// Target is the server URL, or what the floor ran against.
	Target  string    `json:"target"`
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`

	Clients    int     `json:"clients,omitempty"`
	Shared     bool    `json:"shared,omitempty"`
	Actor      string  `json:"actor,omitempty"`
	Method     string  `json:"method,omitempty"`
	FrameBytes int     `json:"frame_bytes,omitempty"` // request size on the wire (rpc, floor)
	DurationS  float64 `json:"duration_s"`
	WarmupS    float64 `json:"warmup_s,omitempty"`
	// TargetRate is calls/s (rpc, floor) or writes/s (fanout); zero is a
	// closed loop.
	TargetRate float64 `json:"target_rate,omitempty"`

	// Calls is the number of calls sent during the measurement and answered.
	Calls uint64 `json:"calls"`
	// Errors counts answers that carried an error.
	Errors uint64 `json:"errors"`
	// Failures counts connections lost during the run.
	Failures uint64 `json:"failures"`
	// Unanswered counts calls still waiting for their answer when the grace
	// period ran out.
	Unanswered uint64 `json:"unanswered"`
	// NotSent counts, in an open loop (a rate), the calls scheduled during
	// the measurement that a client never sent: it was still waiting for
	// an earlier answer when the run ended, or its connection failed. With
	// one call in flight per client, one lost answer loses the rest of its
	// client's schedule; these are lost calls too.
	NotSent uint64 `json:"not_sent,omitempty"`
	// FirstError is the first error seen, for diagnosis.
	FirstError string `json:"first_error,omitempty"`
	// Throughput is Calls per second of measurement.
	Throughput float64 `json:"throughput"`
	// Latency is the round trip (rpc, floor) or the delivery latency
	// (fanout), from the intended send time when a rate is set.
	Latency Latency `json:"latency"`

	Fanout  *FanoutFigures  `json:"fanout,omitempty"`
	Connect *ConnectFigures `json:"connect,omitempty"`
	Churn   *ChurnFigures   `json:"churn,omitempty"`
	Flood   *FloodFigures   `json:"flood,omitempty"`

	// CPU is the tool's own CPU share during the measurement (for floors it
	// includes the in-process floor server).
	CPU CPU `json:"cpu"`
	// MachineCPU is the CPU all processes of the machine used over the same
	// time: what neither the tool nor the Procs used went to other
	// processes (the machine may be shared).
	MachineCPU CPU `json:"machine_cpu"`
	// KernelIRQCPU is the kernel's irq and softirq time over the same time,
	// charged to no process: mostly the loopback network stack.
	KernelIRQCPU CPU `json:"kernel_irq_cpu"`
	// Procs are the -pid server processes.
	Procs []Proc `json:"procs,omitempty"`

	// Floor and Ratio are set by Compare.
	Floor *Report `json:"floor,omitempty"`
	Ratio *Ratio  `json:"ratio,omitempty"`
}

// Ratio compares a run with its floor: throughput as run/floor (1 means the
// floor's throughput), latencies as run/floor (1 means as fast as the floor).
type Ratio struct {
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
}

// Compare records floor as r's floor and computes the ratios.
func Compare(r, floor *Report) {
	r.Floor = floor
	r.Ratio = ratio(r, floor)
}

// ratio compares r with base, figure by figure (r over base).
func ratio(r, base *Report) *Ratio {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return &Ratio{
		Throughput: div(r.Throughput, base.Throughput),
		P50:        div(r.Latency.P50, base.Latency.P50),
		P99:        div(r.Latency.P99, base.Latency.P99),
	}
}

// FanoutFigures are the fan-out mode's own figures.
type FanoutFigures struct {
	Subscribers int `json:"subscribers"`
	// Writes is the number of writes sent; WriteErrors of them failed.
	Writes      int    `json:"writes"`
	WriteErrors uint64 `json:"write_errors"`
	// Expected is Subscribers × successful writes; Delivered is how many
	// of those patches arrived.
	Expected  uint64 `json:"expected"`
	Delivered uint64 `json:"delivered"`
	// DeliveriesPerSec is Delivered over DeliveryS: the time from the
	// first measured write to the last patch's arrival, or the write phase
	// if that is longer.
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	DeliveryS        float64 `json:"delivery_s"`
	// Missed is the number of subscribers that missed at least one patch
	// (or got one out of order); it must be zero. MissedPatches is the
	// number of patches that never arrived.
	Missed        int    `json:"missed_subscribers"`
	MissedPatches uint64 `json:"missed_patches"`
	OutOfOrder    uint64 `json:"out_of_order"`
	// SubscribeS is how long subscribing every client took.
	SubscribeS float64 `json:"subscribe_s"`
	// SettleS is how long the subscribers took to go quiet after that
	// (FanoutConfig.Settle); Settled is false when they never did.
	SettleS float64 `json:"settle_s"`
	Settled bool    `json:"settled"`
	// Writer is the writer's own round-trip latency.
	Writer Latency `json:"writer"`
}

// ConnectFigures are the connect mode's own figures.
type ConnectFigures struct {
	Sessions  int     `json:"sessions"`
	Succeeded int     `json:"succeeded"`
	Failed    int     `json:"failed"`
	Ramp      float64 `json:"ramp_per_s"`
	HoldS     float64 `json:"hold_s"`
	// OpenS is the time from the first dial to the last welcome.
	OpenS float64 `json:"open_s"`
	// Dropped counts sessions that were open and closed during the hold.
	Dropped int `json:"dropped"`
	// RPCOK and RPCFailed count the one call each open session makes at
	// the end (a call that got no answer in the grace period failed).
	RPCOK     int     `json:"rpc_ok"`
	RPCFailed int     `json:"rpc_failed"`
	Connect   Latency `json:"connect_latency"`
	RPC       Latency `json:"rpc_latency"`
}

// ChurnFigures are the churn mode's own figures.
type ChurnFigures struct {
	Rate        float64 `json:"rate_per_s"`
	Concurrency int     `json:"concurrency"`
	// ChurnS is the time from the first session's start to the last
	// session's close.
	ChurnS float64 `json:"churn_s"`
	// Sessions were started; Opened of them got their welcome, Failed did
	// not. Answered of the opened got their call's answer within the
	// connect timeout; Deaf did not (which must be zero).
	Sessions int     `json:"sessions"`
	Opened   int     `json:"opened"`
	Answered int     `json:"answered"`
	Deaf     int     `json:"deaf"`
	Failed   int     `json:"failed"`
	Connect  Latency `json:"connect_latency"`
	RPC      Latency `json:"rpc_latency"`
	// Consumers is set when a NATS URL was given.
	Consumers *ChurnConsumers `json:"consumers,omitempty"`
}

// ChurnConsumers counts the consumers on the OUTBOUND stream: Before the
// first session, Peak as sampled while sessions churned, After the wait
// (WaitS, bounded) for the count to return to Before. LeftBehind is
// After - Before when positive (which must be zero); Err is set when the
// count could not be read after the run.
type ChurnConsumers struct {
	Stream     string  `json:"stream"`
	Before     int     `json:"before"`
	Peak       int     `json:"peak"`
	After      int     `json:"after"`
	LeftBehind int     `json:"left_behind"`
	WaitS      float64 `json:"wait_s"`
	Err        string  `json:"error,omitempty"`
}

// WriteJSON writes r as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r as a summary table for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	switch r.Mode {
	case "rpc", "floor":
		r.writeCalls(&b)
	case "fanout":
		r.writeFanout(&b)
	case "connect":
		r.writeConnect(&b)
	case "churn":
		r.writeChurn(&b)
	}
	writeProcs(&b, r.Procs)
	writeCPU(&b, r)
	if r.Floor != nil {
		writeProcs(&b, r.Floor.Procs)
		writeCPU(&b, r.Floor)
	}
	fmt.Fprintf(&b, "machine: %d CPUs, %.1f GiB, load average at start %s\n",
		r.Machine.CPUs, float64(r.Machine.MemTotalKiB)/(1<<20), r.Machine.LoadAvg)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) loopDesc() string {
	who := "own actor ids"
	if r.Shared {
		who = "one shared actor id"
	}
	loop := "closed loop"
	if r.TargetRate > 0 {
		loop = fmt.Sprintf("open loop at %.0f calls/s (latency from intended send time)", r.TargetRate)
	}
	return fmt.Sprintf("%d clients (%s), %s.%s, %d-byte frames, %s, %s measured after %s warmup",
		r.Clients, who, r.Actor, r.Method, r.FrameBytes, loop, secs(r.DurationS), secs(r.WarmupS))
}

func (r *Report) writeCalls(b *strings.Builder) {
	fmt.Fprintf(b, "%s: %s\n", r.Mode, r.loopDesc())
	fmt.Fprintf(b, "target: %s\n", r.Target)
	if r.Floor != nil {
		fmt.Fprintf(b, "floor:  %s\n", r.Floor.Target)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tcalls\tcalls/s\terrors\tlost\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\ttool cpu\t")
	row := func(name string, r *Report) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, r.Calls, r.Throughput, r.Errors,
			r.Lost(), fmtMS(r.Latency.P50), fmtMS(r.Latency.P90), fmtMS(r.Latency.P99),
			fmtMS(r.Latency.P999), fmtMS(r.Latency.Max), r.CPU)
	}
	name := r.Kind
	if r.Mode == "floor" {
		name = "floor " + r.Kind
	}
	row(name, r)
	ratioRow := func(q *Ratio) {
		fmt.Fprintf(tw, "ratio\t\t%.2fx\t\t\t%.2fx\t\t%.2fx\t\t\t\t\n", q.Throughput, q.P50, q.P99)
	}
	if r.Floor != nil {
		row("floor "+r.Floor.Kind, r.Floor)
		ratioRow(r.Ratio)
	}
	if f := r.Flood; f != nil && f.Alone != nil {
		row("alone", f.Alone)
		ratioRow(f.Ratio)
	}
	tw.Flush()
	b.WriteString("\n")
	if f := r.Flood; f != nil {
		on := "instances of their own"
		if f.Shared {
			on = "the clients' instance"
		}
		fmt.Fprintf(b, "flood: %d connections calling %s wrote %d frames: %d served, %d refused as rate limited, %d other errors; closed for flooding %d times (%d dials)\n\n",
			f.Connections, on, f.Sent, f.Served, f.RateLimited, f.OtherErrors, f.ClosedForFlooding, f.Dials)
	}
	r.writeProblems(b)
	if r.Floor != nil {
		r.Floor.writeProblems(b)
	}
	if r.Flood != nil && r.Flood.Alone != nil {
		r.Flood.Alone.writeProblems(b)
	}
	b.WriteString(rateLimitHint(r))
}

// Lost is the number of calls that got no answer: Unanswered and NotSent,
// and one per connection lost (Failures).
func (r *Report) Lost() uint64 { return r.Failures + r.Unanswered + r.NotSent }

func (r *Report) writeProblems(b *strings.Builder) {
	if r.Errors+r.Lost() == 0 {
		return
	}
	fmt.Fprintf(b, "!!! %s: %d error answers, %d connections lost, %d calls unanswered, %d scheduled calls not sent; first: %s\n",
		r.Kind, r.Errors, r.Failures, r.Unanswered, r.NotSent, r.FirstError)
}

// rateLimitHint explains a run whose own clients were refused for speed.
func rateLimitHint(r *Report) string {
	if !strings.Contains(r.FirstError, protocol.ErrRateLimited.Error()) { // FirstError is the raw JSON string
		return ""
	}
	return "the server limits each connection's frames per second: use more clients, or start it with -max-frame-rate -1 for a load test\n"
}

func (r *Report) writeFanout(b *strings.Builder) {
	f := r.Fanout
	fmt.Fprintf(b, "fanout: %d subscribers of %s, writer calls %s at %.0f writes/s for %s (%d writes)\n",
		f.Subscribers, r.Actor, r.Method, r.TargetRate, secs(r.DurationS), f.Writes)
	fmt.Fprintf(b, "target: %s\n\n", r.Target)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "subscribers\texpected\tdelivered\tdeliveries/s\tmissed subs\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\ttool cpu\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%.0f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f.Subscribers, f.Expected, f.Delivered,
		f.DeliveriesPerSec, f.Missed, fmtMS(r.Latency.P50), fmtMS(r.Latency.P90), fmtMS(r.Latency.P99),
		fmtMS(r.Latency.P999), fmtMS(r.Latency.Max), r.CPU)
	tw.Flush()
	fmt.Fprintf(b, "\nsubscribing took %s, settling %s; writer round trip p50 %s ms, p99 %s ms\n",
		secs(f.SubscribeS), secs(f.SettleS), fmtMS(f.Writer.P50), fmtMS(f.Writer.P99))
	if !f.Settled {
		b.WriteString("!!! the subscribers never went quiet before the writes: the figures include a backlog\n")
	}
	if f.Missed > 0 || f.WriteErrors > 0 || f.OutOfOrder > 0 || r.Failures > 0 {
		fmt.Fprintf(b, "!!! MISSED: %d of %d subscribers missed patches (%d patches missing, %d out of order); %d writes failed; %d connections lost; first error: %s\n",
			f.Missed, f.Subscribers, f.MissedPatches, f.OutOfOrder, f.WriteErrors, r.Failures, r.FirstError)
	} else {
		b.WriteString("every subscriber got every patch, in order\n")
	}
}

func (r *Report) writeConnect(b *strings.Builder) {
	c := r.Connect
	fmt.Fprintf(b, "connect: %d sessions at %.0f/s, held %s, then one %s.%s call each\n",
		c.Sessions, c.Ramp, secs(c.HoldS), r.Actor, r.Method)
	fmt.Fprintf(b, "target: %s\n\n", r.Target)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sessions\topen\tfailed\tdropped\trpc ok\trpc failed\tconnect p50 ms\tp99 ms\tmax ms\trpc p50 ms\tp99 ms\ttool cpu\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Sessions, c.Succeeded, c.Failed, c.Dropped,
		c.RPCOK, c.RPCFailed, fmtMS(c.Connect.P50), fmtMS(c.Connect.P99), fmtMS(c.Connect.Max),
		fmtMS(c.RPC.P50), fmtMS(c.RPC.P99), r.CPU)
	tw.Flush()
	fmt.Fprintf(b, "\nopening took %s\n", secs(c.OpenS))
	if c.Failed > 0 || c.RPCFailed > 0 || c.Dropped > 0 {
		fmt.Fprintf(b, "!!! %d sessions failed to open, %d dropped, %d final calls failed; first error: %s\n",
			c.Failed, c.Dropped, c.RPCFailed, r.FirstError)
	}
}

func (r *Report) writeChurn(b *strings.Builder) {
	c := r.Churn
	fmt.Fprintf(b, "churn: sessions at %.0f/s for %s (at most %d in flight), each: open, one %s.%s call, close\n",
		c.Rate, secs(c.ChurnS), c.Concurrency, r.Actor, r.Method)
	fmt.Fprintf(b, "target: %s\n\n", r.Target)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sessions\topened\tanswered\tdeaf\tfailed\terrors\tconnect p50 ms\tp99 ms\tmax ms\trpc p50 ms\tp99 ms\tmax ms\ttool cpu\t")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Sessions, c.Opened, c.Answered, c.Deaf, c.Failed,
		r.Errors, fmtMS(c.Connect.P50), fmtMS(c.Connect.P99), fmtMS(c.Connect.Max),
		fmtMS(c.RPC.P50), fmtMS(c.RPC.P99), fmtMS(c.RPC.Max), r.CPU)
	tw.Flush()
	b.WriteString("\n")
	if k := c.Consumers; k != nil {
		fmt.Fprintf(b, "%s consumers: %d before, peak %d sampled during the run, %d after %s\n",
			k.Stream, k.Before, k.Peak, k.After, secs(k.WaitS))
	}
	if c.Deaf > 0 || c.Failed > 0 || r.Errors > 0 {
		fmt.Fprintf(b, "!!! %d sessions deaf (no answer within the connect timeout), %d failed to open, %d error answers; first error: %s\n",
			c.Deaf, c.Failed, r.Errors, r.FirstError)
	}
	if k := c.Consumers; k != nil && k.Err != "" {
		fmt.Fprintf(b, "!!! could not count %s consumers after the run: %s\n", k.Stream, k.Err)
	}
	if k := c.Consumers; k != nil && k.LeftBehind > 0 {
		fmt.Fprintf(b, "!!! LEFT BEHIND: %d consumers more on %s than before the run, after waiting %s\n", k.LeftBehind, k.Stream, secs(k.WaitS))
	}
}

func writeProcs(b *strings.Builder, procs []Proc) {
	for _, p := range procs {
		if p.Err != "" {
			fmt.Fprintf(b, "pid %d: %s\n", p.PID, p.Err)
			continue
		}
		fmt.Fprintf(b, "pid %d (%s): rss %s -> %s", p.PID, p.Name, mib(p.RSSBeforeKiB), mib(p.RSSAfterKiB))
		if p.RSSPerSessionKiB != 0 {
			fmt.Fprintf(b, " (%.1f KiB per session)", p.RSSPerSessionKiB)
		}
		fmt.Fprintf(b, ", cpu %s\n", p.CPU)
	}
}

// writeCPU tells where the machine's CPU went during r's measurement.
func writeCPU(b *strings.Builder, r *Report) {
	if r.MachineCPU.Cores == 0 {
		return
	}
	// The machine's total and the tool's own are sampled a moment apart:
	// what is left for other processes is clamped at zero, never shown
	// negative.
	servers := 0.0
	for _, p := range r.Procs {
		servers += p.CPU.Cores
	}
	others := max(r.MachineCPU.Cores-r.CPU.Cores-servers, 0)
	name := r.Kind
	if name == "" {
		name = r.Mode
	}
	fmt.Fprintf(b, "cpu during %s (cores of %d): tool %.2f, -pid servers %.2f, other processes %.2f, kernel irq/softirq %.2f\n",
		name, r.Machine.CPUs, r.CPU.Cores, servers, others, r.KernelIRQCPU.Cores)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

// fmtMS prints milliseconds with three significant digits.
func fmtMS(ms float64) string {
	switch {
	case ms == 0:
		return "-"
	case ms < 1:
		return fmt.Sprintf("%.3f", ms)
	case ms < 10:
		return fmt.Sprintf("%.2f", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f", ms)
	}
	return fmt.Sprintf("%.0f", ms)
}
