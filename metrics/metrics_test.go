package metrics_test

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zocket-go/zocket/internal/metricstest"
	"github.com/zocket-go/zocket/metrics"
)

type stats struct {
	Open    int64  `metric:"zocket_connections"`
	Opened  int64  `metric:"zocket_connections_opened_total"`
	Refused uint64 `metric:"zocket_auth_total,result=refused"`
	Other   int64  // not a metric
}

// Attach reads Stats at every scrape and sums the components that report
// a series; a counter keeps what a detached component counted, a gauge
// forgets it.
func TestAttach(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.New(reg)
	a := stats{Open: 2, Opened: 5, Refused: 1}
	b := stats{Open: 1, Opened: 3}
	detachA := metrics.Attach(m, func() stats { return a })
	detachB := metrics.Attach(m, func() stats { return b })
	check := func(name string, labels map[string]string, want float64) {
		t.Helper()
		if got := metricstest.Value(t, reg, name, labels); got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	check("zocket_connections", nil, 3)
	check("zocket_connections_opened_total", nil, 8)
	check("zocket_auth_total", map[string]string{"result": "refused"}, 1)
	a.Opened = 6
	detachA()
	detachA() // twice is harmless
	check("zocket_connections", nil, 1)
	check("zocket_connections_opened_total", nil, 9)
	detachB()
	check("zocket_connections_opened_total", nil, 9)
	check("zocket_connections", nil, -1)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
	metrics.Attach(nil, func() stats { return a })() // nil Metrics: nothing happens
}

func TestAttachRefusesMistakes(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	for name, attach := range map[string]func(){
		"unknown metric": func() {
			metrics.Attach(m, func() struct {
				N int `metric:"zocket_nope"`
			} {
				return struct {
					N int `metric:"zocket_nope"`
				}{}
			})
		},
		"missing label": func() {
			metrics.Attach(m, func() struct {
				N int `metric:"zocket_auth_total"`
			} {
				return struct {
					N int `metric:"zocket_auth_total"`
				}{}
			})
		},
		"not an integer": func() {
			metrics.Attach(m, func() struct {
				N string `metric:"zocket_connections"`
			} {
				return struct {
					N string `metric:"zocket_connections"`
				}{}
			})
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Attach did not panic", name)
				}
			}()
			attach()
		}()
	}
}

func TestCloseLabels(t *testing.T) {
	for _, tc := range []struct {
		code         int
		reason       string
		wantR, wantC string
	}{
		{1000, "closed by client", "client", "1000"},
		{1008, "send queue full", "slow_client", "1008"},
		{1001, "server shutting down", "shutdown", "1001"},
		{4001, "frames lost", "frames_lost", "4001"},
		{4321, "my app's reason", "other", "other"},
	} {
		r, c := metrics.CloseLabels(tc.code, tc.reason)
		if r != tc.wantR || c != tc.wantC {
			t.Errorf("CloseLabels(%d, %q) = %s, %s, want %s, %s", tc.code, tc.reason, r, c, tc.wantR, tc.wantC)
		}
	}
}

// Every metric is documented in docs/METRICS.md.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	var reg capture
	metrics.New(&reg)
	descs := make(chan *prometheus.Desc, 256)
	go func() {
		for _, c := range reg {
			c.Describe(descs)
		}
		close(descs)
	}()
	n := 0
	for d := range descs {
		n++
		name := d.String()
		name = name[strings.Index(name, `fqName: "`)+len(`fqName: "`):]
		name = name[:strings.Index(name, `"`)]
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("%s is not in docs/METRICS.md", name)
		}
	}
	if n < 40 {
		t.Errorf("only %d metrics described", n)
	}
}

// capture is a Registerer that keeps what is registered.
type capture []prometheus.Collector

func (c *capture) Register(x prometheus.Collector) error   { *c = append(*c, x); return nil }
func (c *capture) MustRegister(xs ...prometheus.Collector) { *c = append(*c, xs...) }
func (c *capture) Unregister(prometheus.Collector) bool    { return false }
