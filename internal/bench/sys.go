package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// CPU is the CPU time a process used during a run, over the run's wall time.
type CPU struct {
	// Cores is CPU time / wall time: 1.0 is one core busy all the time.
	Cores float64 `json:"cores"`
	// Share is Cores over the machine's logical CPUs (0..1).
	Share float64 `json:"share"`
}

func (c CPU) String() string {
	return fmt.Sprintf("%.2f cores (%.0f%%)", c.Cores, 100*c.Share)
}

// cpuMeter measures this process's CPU share, and the whole machine's,
// between start and stop.
type cpuMeter struct {
	wall           time.Time
	cpu            time.Duration
	ok             bool
	busy, irq, all uint64 // machine CPU ticks from /proc/stat
	machineErr     error
}

func startCPU() cpuMeter {
	cpu, ok := processCPU()
	m := cpuMeter{wall: time.Now(), cpu: cpu, ok: ok}
	m.busy, m.irq, m.all, m.machineErr = machineTicks()
	return m
}

// machine returns the CPU that all processes of the machine used over the
// same time (the tool's and the servers' included), and separately the
// kernel's interrupt handling, which for loopback traffic is mostly the
// network stack's softirq work and is charged to no process.
func (m cpuMeter) machine() (procs, irq CPU) {
	busy, ir, all, err := machineTicks()
	if err != nil || m.machineErr != nil || all <= m.all {
		return CPU{}, CPU{}
	}
	n := float64(runtime.NumCPU())
	share := float64(busy-m.busy) / float64(all-m.all)
	ishare := float64(ir-m.irq) / float64(all-m.all)
	return CPU{Cores: share * n, Share: share}, CPU{Cores: ishare * n, Share: ishare}
}

// machineTicks reads the aggregate "cpu" line of /proc/stat: busy is
// user, nice and system time (guest time is already in user), irq is irq
// and softirq time, all is every field (steal included).
func machineTicks() (busy, irq, all uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, 0, fmt.Errorf("unexpected /proc/stat: %.60q", line)
	}
	for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, 0, err
		}
		all += v
		switch i {
		case 0, 1, 2:
			busy += v
		case 5, 6:
			irq += v
		}
	}
	return busy, irq, all, nil
}

func (m cpuMeter) share() CPU {
	cpu, ok := processCPU()
	wall := time.Since(m.wall)
	if !ok || !m.ok || wall <= 0 {
		return CPU{}
	}
	cores := float64(cpu-m.cpu) / float64(wall)
	return CPU{Cores: cores, Share: cores / float64(runtime.NumCPU())}
}

// Proc is what the tool saw of a server process given with -pid.
type Proc struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
	// RSS before the run and after it (for connect: with all sessions still
	// open), in KiB, from VmRSS in /proc/<pid>/status.
	RSSBeforeKiB int64 `json:"rss_before_kib"`
	RSSAfterKiB  int64 `json:"rss_after_kib"`
	// RSSPerSessionKiB is (after - before) / sessions open (connect only).
	RSSPerSessionKiB float64 `json:"rss_per_session_kib,omitempty"`
	// CPU is the process's CPU time over the same wall time as the tool's.
	CPU CPU `json:"cpu"`
	// Err says why figures are missing.
	Err string `json:"error,omitempty"`
}

// procSample is one reading of a process.
type procSample struct {
	rssKiB int64
	cpu    time.Duration
	err    error
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

func readProc(pid int) procSample {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		s.err = err
		return s
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(v) // "12345 kB"
			if len(f) > 0 {
				s.rssKiB, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		s.err = err
		return s
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start after the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 12 { // f[0] is field 3 (state); utime is field 14, stime 15
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			s.cpu = time.Duration(ut+st) * time.Second / clockTicks
		}
	}
	return s
}

// procName is the program's base name and its first argument, such as
// "zocket gateway" or "nats-server -js".
func procName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return ""
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	name := args[0][strings.LastIndexByte(args[0], '/')+1:]
	for i := 1; i < len(args) && i <= 2; i++ {
		name += " " + args[i]
		if args[i] != "bench" { // "zocket serve", "zocket bench echo"
			break
		}
	}
	return name
}

// procWatch samples the -pid processes at the start and end of a run.
type procWatch struct {
	pids   []int
	before []procSample
	wall   time.Time
}

func watchProcs(pids []int) *procWatch {
	w := &procWatch{pids: pids, wall: time.Now()}
	for _, p := range pids {
		w.before = append(w.before, readProc(p))
	}
	return w
}

// restart takes the CPU baseline again (the memory baseline stays).
func (w *procWatch) restart() {
	w.wall = time.Now()
	for i, p := range w.pids {
		s := readProc(p)
		w.before[i].cpu = s.cpu
	}
}

func (w *procWatch) finish() []Proc {
	if len(w.pids) == 0 {
		return nil
	}
	wall := time.Since(w.wall)
	out := make([]Proc, len(w.pids))
	for i, p := range w.pids {
		after := readProc(p)
		pr := Proc{PID: p, Name: procName(p), RSSBeforeKiB: w.before[i].rssKiB, RSSAfterKiB: after.rssKiB}
		if err := w.before[i].err; err != nil {
			pr.Err = err.Error()
		} else if after.err != nil {
			pr.Err = after.err.Error()
		} else if wall > 0 {
			cores := float64(after.cpu-w.before[i].cpu) / float64(wall)
			pr.CPU = CPU{Cores: cores, Share: cores / float64(runtime.NumCPU())}
		}
		out[i] = pr
	}
	return out
}

// Machine describes where the tool ran.
type Machine struct {
	CPUs        int    `json:"cpus"`
	MemTotalKiB int64  `json:"mem_total_kib"`
	LoadAvg     string `json:"loadavg"` // /proc/loadavg at the start: the machine is shared
	GoVersion   string `json:"go"`
	OS          string `json:"os"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					m.MemTotalKiB, _ = strconv.ParseInt(f[0], 10, 64)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}
