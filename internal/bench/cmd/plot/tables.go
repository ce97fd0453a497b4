package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/zocket-go/zocket/internal/bench"
)

// writeTables writes the Markdown tables of docs/BENCHMARKS.md from the
// reports, so that the figures there are exactly the JSON's.
func writeTables(w io.Writer, rs map[key]*bench.Report, inproc map[int]*bench.Report) {
	for _, shape := range shapes {
		if ks := append(keys(rs, shape, "rpc"), keys(rs, shape, "rpc-after-fanout")...); len(ks) > 0 {
			floorName := map[string]string{
				bench.FloorEcho:          "floor: echo server process",
				bench.FloorJetStream:     "floor: JetStream two hops, replies by ordered consumer",
				bench.FloorJetStreamCore: "floor: JetStream two hops, replies by core NATS subscription",
			}[floorKind(rs, shape)]
			if floorName == "" {
				floorName = "no floor"
			}
			fmt.Fprintf(w, "### RPC, %s (%s)\n\n", shape, floorName)
			fmt.Fprintln(w, "| clients | calls/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | floor calls/s | floor p50 ms | floor p99 ms | throughput ratio | p50 ratio | p99 ratio | tool cpu (run / floor) | servers cpu (run) | servers cpu (floor) | other processes cpu (run / floor) | kernel softirq (run / floor) | errors |")
			fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|---|---:|")
			for _, k := range ks {
				r := rs[k]
				f := r.Floor
				if f == nil {
					f = &bench.Report{}
				}
				ratio := r.Ratio
				if ratio == nil {
					ratio = &bench.Ratio{}
				}
				clients := strconv.Itoa(k.n)
				if k.mode == "rpc-after-fanout" {
					clients += " right after fan-out to " + clients
				}
				fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %.0f | %s | %s | %.2f | %.2f | %.2f | %.2f / %.2f | %s | %s | %.2f / %.2f | %.2f / %.2f | %d |\n",
					clients, r.Throughput, ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max),
					f.Throughput, ms(f.Latency.P50), ms(f.Latency.P99), ratio.Throughput, ratio.P50, ratio.P99,
					r.CPU.Cores, f.CPU.Cores, procsCPU(r.Procs), procsCPU(f.Procs), others(r), others(f), r.KernelIRQCPU.Cores, f.KernelIRQCPU.Cores, r.Errors+r.Lost()+f.Errors+f.Lost())
			}
			fmt.Fprintln(w)
		}
	}
	if len(inproc) > 0 {
		fmt.Fprintln(w, "### Echo floor inside the tool's process")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| clients | calls/s | p50 ms | p99 ms | max ms | cpu (tool + echo server) | other processes cpu |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|")
		var ns []int
		for n := range inproc {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		for _, n := range ns {
			r := inproc[n]
			fmt.Fprintf(w, "| %d | %.0f | %s | %s | %s | %.2f | %.2f |\n", n, r.Throughput, ms(r.Latency.P50), ms(r.Latency.P99),
				ms(r.Latency.Max), r.CPU.Cores, others(r))
		}
		fmt.Fprintln(w)
	}
	var fan []key
	for _, shape := range shapes {
		fan = append(fan, keys(rs, shape, "fanout")...)
		fan = append(fan, keys(rs, shape, "fanout2gw")...)
	}
	if len(fan) > 0 {
		fmt.Fprintln(w, "### Fan-out, 20 writes/s")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| shape | subscribers | write | writes (s) | expected | delivered | deliveries/s | missed subscribers | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | subscribe time | tool cpu | servers cpu | other processes cpu |")
		fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
		for _, k := range fan {
			r := rs[k]
			f := r.Fanout
			shape := k.shape
			if k.mode == "fanout2gw" {
				shape += ", 2 gateways"
			}
			fmt.Fprintf(w, "| %s | %d | %s.%s | %d (%.0f s) | %d | %d | %.0f | **%d** | %s | %s | %s | %s | %s | %.1f s | %.2f | %s | %.2f |\n",
				shape, k.n, r.Actor, r.Method, f.Writes, r.DurationS, f.Expected, f.Delivered, f.DeliveriesPerSec, f.Missed, ms(r.Latency.P50), ms(r.Latency.P90),
				ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max), f.SubscribeS, r.CPU.Cores, procsCPU(r.Procs), others(r))
		}
		fmt.Fprintln(w)
	}
	var act []key
	for _, shape := range shapes {
		act = append(act, keys(rs, shape, "active")...)
	}
	if len(act) > 0 {
		fmt.Fprintln(w, "### Active sessions: each calls at a fixed rate (open loop)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| shape | sessions | calls/s (target) | calls | lost | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | tool cpu | servers cpu | other processes cpu |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
		for _, k := range act {
			r := rs[k]
			fmt.Fprintf(w, "| %s | %d | %.0f (%.0f) | %d | **%d** | %d | %s | %s | %s | %s | %s | %.2f | %s | %.2f |\n",
				k.shape, k.n, r.Throughput, r.TargetRate, r.Calls, r.Lost(), r.Errors, ms(r.Latency.P50), ms(r.Latency.P90),
				ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max), r.CPU.Cores, procsCPU(r.Procs), others(r))
		}
		fmt.Fprintln(w)
	}
	var con []key
	for _, shape := range shapes {
		con = append(con, keys(rs, shape, "connect")...)
	}
	if len(con) > 0 {
		c := rs[con[0]].Connect
		fmt.Fprintf(w, "### Connect: ramp %s/s, hold %s s, one call each\n", thousands(c.Ramp), strconv.FormatFloat(c.HoldS, 'f', -1, 64))
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| shape | sessions | open | failed | dropped | rpc ok | connect p50 ms | connect p99 ms | connect max ms | rpc p50 ms | rpc p99 ms | memory (RSS before → with all open, per session) | tool cpu |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
		for _, k := range con {
			r := rs[k]
			c := r.Connect
			var mem []string
			for _, p := range r.Procs {
				if p.Err != "" {
					continue
				}
				mem = append(mem, fmt.Sprintf("%s: %.0f → %.0f MiB, %.1f KiB", p.Name, float64(p.RSSBeforeKiB)/1024,
					float64(p.RSSAfterKiB)/1024, p.RSSPerSessionKiB))
			}
			fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s | %s | %.2f |\n",
				k.shape, k.n, c.Succeeded, c.Failed, c.Dropped, c.RPCOK, ms(c.Connect.P50), ms(c.Connect.P99), ms(c.Connect.Max),
				ms(c.RPC.P50), ms(c.RPC.P99), strings.Join(mem, "<br>"), r.CPU.Cores)
		}
		fmt.Fprintln(w)
	}
}

func keys(rs map[key]*bench.Report, shape, mode string) []key {
	var ks []key
	for k := range rs {
		if k.shape == shape && k.mode == mode {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].n < ks[j].n })
	return ks
}

// procsCPU lists each -pid process's CPU in cores.
func procsCPU(ps []bench.Proc) string {
	var s []string
	for _, p := range ps {
		name := p.Name
		if i := strings.LastIndexByte(name, ' '); i >= 0 && strings.HasPrefix(name, "zocket ") {
			name = name[i+1:]
		} else if i >= 0 {
			name = name[:i]
		}
		s = append(s, fmt.Sprintf("%s %.2f", name, p.CPU.Cores))
	}
	return strings.Join(s, ", ")
}

// others is the CPU that went to neither the tool nor the -pid processes.
func others(r *bench.Report) float64 {
	o := r.MachineCPU.Cores - r.CPU.Cores
	for _, p := range r.Procs {
		o -= p.CPU.Cores
	}
	return max(o, 0)
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// thousands formats n with commas: 1,000.
func thousands(n float64) string {
	s := strconv.FormatFloat(n, 'f', 0, 64)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
