// Command plot draws the charts of docs/BENCHMARKS.md from the JSON reports
// that internal/bench/run-benchmarks.sh writes ("zocket bench ... -json"),
// as PNG files, with the standard library only:
//
//	go run ./internal/bench/cmd/plot -in docs/bench -out docs
//
// It reads SHAPE-MODE-N.json, where SHAPE is standalone, distributed-core
// or distributed-consumer (distributed-MODE, the delivery mode; plain
// distributed in reports from before delivery modes) and MODE is rpc,
// fanout or connect, or one of the target runs: rpc-after-fanout (rpc
// right after the fan-out to as many watchers), fanout2gw (fan-out over
// two gateways) and active (sessions calling at a fixed rate). It writes
// bench-rpc-latency.png (p50 and p99 against clients, each shape beside its
// floor), bench-rpc-throughput.png, bench-fanout-latency.png and
// bench-connect-memory.png. Charts whose reports are missing are skipped.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/zocket-go/zocket/internal/bench"
)

func main() {
	in := flag.String("in", "docs/bench", "directory of JSON reports")
	out := flag.String("out", "docs", "directory for the PNG files")
	md := flag.String("md", "", "also write the Markdown tables to this file")
	flag.Parse()
	reports, inproc, err := load(*in)
	if err != nil {
		log.Fatal(err)
	}
	if *md != "" {
		f, err := os.Create(*md)
		if err != nil {
			log.Fatal(err)
		}
		writeTables(f, reports, inproc)
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", *md)
	}
	for _, c := range charts(reports) {
		if len(c.series) == 0 {
			continue
		}
		path := filepath.Join(*out, c.file)
		if err := c.write(path); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", path)
	}
}

// key names one report file: shape (standalone, distributed-core, ...),
// mode and N.
type key struct {
	shape, mode string
	n           int
}

// shapes are the shapes in the order of the tables and charts.
var shapes = []string{"standalone", "distributed", "distributed-core", "distributed-consumer"}

var (
	fileRE   = regexp.MustCompile(`^(standalone|distributed(?:-core|-consumer)?)-(rpc|rpc-after-fanout|fanout|fanout2gw|connect|active)-(\d+)\.json$`)
	inprocRE = regexp.MustCompile(`^floor-echo-inprocess-(\d+)\.json$`)
)

// load reads the reports in dir, and separately the in-process echo floors.
func load(dir string) (map[key]*bench.Report, map[int]*bench.Report, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	out, inproc := map[key]*bench.Report{}, map[int]*bench.Report{}
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		mi := inprocRE.FindStringSubmatch(e.Name())
		if m == nil && mi == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		if len(b) == 0 {
			continue // a run that produced no report (interrupted)
		}
		var r bench.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if mi != nil {
			n, _ := strconv.Atoi(mi[1])
			inproc[n] = &r
			continue
		}
		n, _ := strconv.Atoi(m[3])
		out[key{m[1], m[2], n}] = &r
	}
	return out, inproc, nil
}

type point struct{ x, y float64 }

type series struct {
	name   string
	color  color.RGBA
	dashed bool
	pts    []point
}

type chart struct {
	file, title, xLabel, yLabel string
	logY                        bool
	series                      []series
}

var (
	blue   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	orange = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
	green  = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	red    = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	purple = color.RGBA{0x94, 0x67, 0xbd, 0xff}
	gray   = color.RGBA{0x7f, 0x7f, 0x7f, 0xff}
	brown  = color.RGBA{0x8c, 0x56, 0x4b, 0xff}
	pink   = color.RGBA{0xe3, 0x77, 0xc2, 0xff}
	olive  = color.RGBA{0xbc, 0xbd, 0x22, 0xff}
	cyan   = color.RGBA{0x17, 0xbe, 0xcf, 0xff}
)

// shapeColor is a shape's color in the charts.
var shapeColor = map[string]color.RGBA{
	"standalone": blue, "distributed": orange, "distributed-core": orange, "distributed-consumer": brown,
}

// shapeLabel is a shape's name in the charts' legends, which have room
// for about 21 characters.
var shapeLabel = map[string]string{
	"standalone": "standalone", "distributed": "distributed", "distributed-core": "dist. core", "distributed-consumer": "dist. consumer",
}

// floorLabel is a floor kind's name in the legends.
var floorLabel = map[string]string{
	bench.FloorEcho: "echo floor", bench.FloorJetStream: "jetstream floor", bench.FloorJetStreamCore: "js-core floor",
}

// floorColor is a floor kind's color in the charts.
var floorColor = map[string]color.RGBA{
	bench.FloorEcho: green, bench.FloorJetStream: purple, bench.FloorJetStreamCore: pink,
}

// floorKind is the kind of floor a shape's rpc reports were compared with.
func floorKind(rs map[key]*bench.Report, shape string) string {
	for _, k := range keys(rs, shape, "rpc") {
		if f := rs[k].Floor; f != nil {
			return f.Kind
		}
	}
	return ""
}

func charts(rs map[key]*bench.Report) []chart {
	collect := func(shape, mode string, f func(*bench.Report) (float64, bool)) []point {
		var pts []point
		for k, r := range rs {
			if k.shape == shape && k.mode == mode {
				if y, ok := f(r); ok && y > 0 {
					pts = append(pts, point{float64(k.n), y})
				}
			}
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
		return pts
	}
	add := func(c *chart, s series) {
		if len(s.pts) > 0 {
			c.series = append(c.series, s)
		}
	}
	floor := func(f func(*bench.Report) float64) func(*bench.Report) (float64, bool) {
		return func(r *bench.Report) (float64, bool) {
			if r.Floor == nil {
				return 0, false
			}
			return f(r.Floor), true
		}
	}
	own := func(f func(*bench.Report) float64) func(*bench.Report) (float64, bool) {
		return func(r *bench.Report) (float64, bool) { return f(r), true }
	}
	p50 := func(r *bench.Report) float64 { return r.Latency.P50 }
	p99 := func(r *bench.Report) float64 { return r.Latency.P99 }
	tput := func(r *bench.Report) float64 { return r.Throughput }

	lat := chart{file: "bench-rpc-latency.png", title: "RPC round trip vs clients (p50 and p99)",
		xLabel: "clients", yLabel: "latency ms", logY: true}
	th := chart{file: "bench-rpc-throughput.png", title: "RPC throughput vs clients (closed loop)",
		xLabel: "clients", yLabel: "calls/s", logY: true}
	fo := chart{file: "bench-fanout-latency.png", title: "Fan-out delivery latency vs subscribers (20 writes/s)",
		xLabel: "subscribers", yLabel: "latency ms", logY: true}
	var allFanout []point
	for _, shape := range shapes {
		c, label := shapeColor[shape], shapeLabel[shape]
		add(&lat, series{label + " p50", c, false, collect(shape, "rpc", own(p50))})
		add(&lat, series{label + " p99", c, true, collect(shape, "rpc", own(p99))})
		add(&th, series{label, c, false, collect(shape, "rpc", own(tput))})
		if fk := floorKind(rs, shape); fk != "" {
			fc, ok := floorColor[fk]
			name := floorLabel[fk]
			if !ok {
				fc, name = gray, fk+" floor"
			}
			add(&lat, series{name + " p50", fc, false, collect(shape, "rpc", floor(p50))})
			add(&lat, series{name + " p99", fc, true, collect(shape, "rpc", floor(p99))})
			add(&th, series{name, fc, true, collect(shape, "rpc", floor(tput))})
		}
		add(&fo, series{label + " p50", c, false, collect(shape, "fanout", own(p50))})
		add(&fo, series{label + " p99", c, true, collect(shape, "fanout", own(p99))})
		allFanout = append(allFanout, collect(shape, "fanout", own(p99))...)
	}
	add(&fo, series{"250 ms target", red, true, flat(allFanout, 250)})

	mem := chart{file: "bench-connect-memory.png", title: "Server memory per open session (RSS growth / sessions)",
		xLabel: "sessions", yLabel: "KiB per session", logY: false}
	procSeries := func(shape string, idx int) []point {
		return collect(shape, "connect", func(r *bench.Report) (float64, bool) {
			if idx >= len(r.Procs) {
				return 0, false
			}
			return r.Procs[idx].RSSPerSessionKiB, true
		})
	}
	add(&mem, series{"standalone", blue, false, procSeries("standalone", 0)})
	add(&mem, series{"gateway", orange, false, procSeries("distributed", 0)})
	add(&mem, series{"runtime", gray, false, procSeries("distributed", 1)})
	add(&mem, series{"nats-server", purple, false, procSeries("distributed", 2)})
	for _, m := range []struct {
		mode                   string
		gateway, runtime, nats color.RGBA
	}{{"core", orange, gray, purple}, {"consumer", brown, olive, cyan}} {
		shape := "distributed-" + m.mode
		add(&mem, series{"gateway, " + m.mode, m.gateway, m.mode == "consumer", procSeries(shape, 0)})
		add(&mem, series{"runtime, " + m.mode, m.runtime, m.mode == "consumer", procSeries(shape, 1)})
		add(&mem, series{"nats-server, " + m.mode, m.nats, m.mode == "consumer", procSeries(shape, 2)})
	}
	return []chart{lat, th, fo, mem}
}

// flat is a horizontal line at y across the x range of pts.
func flat(pts []point, y float64) []point {
	if len(pts) == 0 {
		return nil
	}
	lo, hi := pts[0].x, pts[0].x
	for _, p := range pts {
		lo, hi = math.Min(lo, p.x), math.Max(hi, p.x)
	}
	return []point{{lo, y}, {hi, y}}
}

// Layout, in pixels.
const (
	width, height          = 1120, 640
	left, right, top, bott = 110, 330, 60, 80
	scale                  = 2
)

func (c *chart) write(path string) error {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	x0, x1, y0, y1 := c.bounds()
	pw, ph := width-left-right, height-top-bott
	px := func(x float64) int {
		return left + int(math.Round((math.Log10(x)-math.Log10(x0))/(math.Log10(x1)-math.Log10(x0))*float64(pw)))
	}
	py := func(y float64) int {
		var f float64
		if c.logY {
			f = (math.Log10(y) - math.Log10(y0)) / (math.Log10(y1) - math.Log10(y0))
		} else {
			f = (y - y0) / (y1 - y0)
		}
		return top + ph - int(math.Round(f*float64(ph)))
	}
	black := color.RGBA{0, 0, 0, 0xff}
	grid := color.RGBA{0xe0, 0xe0, 0xe0, 0xff}

	// Grid and tick labels.
	for _, x := range xTicks(x0, x1) {
		X := px(x)
		line(img, X, top, X, top+ph, grid, 1, false)
		s := fmtNum(x)
		drawText(img, X-textWidth(s, scale)/2, top+ph+10, s, scale, black)
	}
	for _, y := range yTicks(y0, y1, c.logY) {
		Y := py(y)
		line(img, left, Y, left+pw, Y, grid, 1, false)
		s := fmtNum(y)
		drawText(img, left-12-textWidth(s, scale), Y-7, s, scale, black)
	}
	line(img, left, top, left, top+ph, black, 2, false)
	line(img, left, top+ph, left+pw, top+ph, black, 2, false)
	drawText(img, left+pw/2-textWidth(c.xLabel, scale)/2, height-bott+40, c.xLabel, scale, black)
	drawTextVertical(img, 20, top+ph/2+textWidth(c.yLabel, scale)/2, c.yLabel, scale, black)
	drawText(img, left, 20, c.title, scale, black)

	// Series and legend.
	for i, s := range c.series {
		for j, p := range s.pts {
			X, Y := px(p.x), py(p.y)
			if j > 0 {
				q := s.pts[j-1]
				line(img, px(q.x), py(q.y), X, Y, s.color, 3, s.dashed)
			}
			fillRect(img, X-4, Y-4, X+4, Y+4, s.color)
		}
		ly := top + 10 + i*28
		line(img, width-right+20, ly+7, width-right+60, ly+7, s.color, 3, s.dashed)
		drawText(img, width-right+70, ly, s.name, scale, black)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// bounds returns the axes' ranges: whole decades on log axes.
func (c *chart) bounds() (x0, x1, y0, y1 float64) {
	x0, x1, y0, y1 = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for _, p := range s.pts {
			x0, x1 = math.Min(x0, p.x), math.Max(x1, p.x)
			y0, y1 = math.Min(y0, p.y), math.Max(y1, p.y)
		}
	}
	x0 = math.Pow(10, math.Floor(math.Log10(x0)))
	x1 = math.Pow(10, math.Ceil(math.Log10(x1)))
	if x1 <= x0 {
		x1 = x0 * 10
	}
	if c.logY {
		y0 = math.Pow(10, math.Floor(math.Log10(y0)))
		y1 = math.Pow(10, math.Ceil(math.Log10(y1)))
		if y1 <= y0 {
			y1 = y0 * 10
		}
	} else {
		y0 = 0
		y1 = niceCeil(y1 * 1.1)
	}
	return
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func xTicks(x0, x1 float64) []float64 {
	var t []float64
	for x := x0; x <= x1*1.0001; x *= 10 {
		t = append(t, x)
		if x1/x0 <= 100 { // few decades: label 2 and 5 too
			for _, m := range []float64{2, 5} {
				if x*m < x1 {
					t = append(t, x*m)
				}
			}
		}
	}
	return t
}

func yTicks(y0, y1 float64, logY bool) []float64 {
	var t []float64
	if logY {
		decades := math.Log10(y1 / y0)
		for y := y0; y <= y1*1.0001; y *= 10 {
			t = append(t, y)
			if decades <= 3 {
				for _, m := range []float64{2, 5} {
					if y*m < y1 {
						t = append(t, y*m)
					}
				}
			}
		}
		return t
	}
	step := niceCeil(y1 / 5)
	for y := 0.0; y <= y1*1.0001; y += step {
		t = append(t, y)
	}
	return t
}

func fmtNum(v float64) string {
	switch {
	case v >= 1e6 && math.Mod(v, 1e6) == 0:
		return fmt.Sprintf("%.0fM", v/1e6)
	case v >= 1e3 && math.Mod(v, 1e3) == 0:
		return fmt.Sprintf("%.0fK", v/1e3)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// line draws a line of the given thickness, dashed in 12-pixel strokes.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color, thick int, dashed bool) {
	dx, dy := float64(x1-x0), float64(y1-y0)
	n := int(math.Max(math.Abs(dx), math.Abs(dy)))
	if n == 0 {
		n = 1
	}
	length := math.Hypot(dx, dy)
	for i := 0; i <= n; i++ {
		f := float64(i) / float64(n)
		if dashed && int(f*length/12)%2 == 1 {
			continue
		}
		x := x0 + int(math.Round(f*dx))
		y := y0 + int(math.Round(f*dy))
		fillRect(img, x-thick/2, y-thick/2, x-thick/2+thick-1, y-thick/2+thick-1, c)
	}
}

func fillRect(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			img.Set(x, y, c)
		}
	}
}
