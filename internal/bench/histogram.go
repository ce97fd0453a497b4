package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values below subBuckets are counted exactly; above, each
// power-of-two range [2^e, 2^(e+1)) is split into subBuckets equal buckets,
// so a bucket's width is at most 1/subBuckets of its lower bound. That is the
// HdrHistogram layout with about 2.4 significant decimal digits.
const (
	subBits    = 8
	subBuckets = 1 << subBits // 256: relative error at most 1/256 (0.39%)
	maxBits    = 44           // values up to 2^44 ns (about 4.9 hours)
	numBuckets = subBuckets + (maxBits-subBits)*subBuckets
)

// HistogramError is the largest relative error of a value that
// [Histogram.Quantile] reports: it is the upper edge of the bucket that holds
// the exact answer (clamped to the largest value recorded).
const HistogramError = 1.0 / subBuckets

// Histogram is an HDR-style log-linear histogram of durations: recording is
// one atomic increment, quantiles are exact to within [HistogramError]
// (relative), and Min, Max, Count and Mean are exact. Values below zero are
// recorded as zero, values above about 4.9 hours as that.
//
// The zero value is ready to use. A Histogram is safe for concurrent use:
// Record may run on many goroutines while another reads quantiles (a reader
// racing with writers sees some recent records and not others).
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64
	min    atomic.Int64 // valid when n > 0; stored as value+1 so zero means unset
	max    atomic.Int64
}

// bucketOf returns the bucket index of v >= 0.
func bucketOf(v int64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // 2^e <= v < 2^(e+1), e >= subBits
	if e >= maxBits {
		return numBuckets - 1
	}
	shift := e - subBits
	m := int(v>>shift) - subBuckets // in [0, subBuckets)
	return subBuckets + shift*subBuckets + m
}

// bucketBounds returns the smallest and largest value bucket i holds.
func bucketBounds(i int) (lo, hi int64) {
	if i < subBuckets {
		return int64(i), int64(i)
	}
	j := i - subBuckets
	shift := j / subBuckets
	m := int64(j % subBuckets)
	lo = (subBuckets + m) << shift
	return lo, lo + (int64(1) << shift) - 1
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	if v >= int64(1)<<maxBits {
		v = int64(1)<<maxBits - 1
	}
	h.counts[bucketOf(v)].Add(1)
	h.sum.Add(v)
	for {
		old := h.min.Load()
		if old != 0 && old-1 <= v || h.min.CompareAndSwap(old, v+1) {
			break
		}
	}
	for {
		old := h.max.Load()
		if old >= v || h.max.CompareAndSwap(old, v) {
			break
		}
	}
	h.n.Add(1) // last, so a reader never sees a count without its bucket
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Min returns the smallest recorded value, 0 when empty.
func (h *Histogram) Min() time.Duration {
	if v := h.min.Load(); v > 0 {
		return time.Duration(v - 1)
	}
	return 0
}

// Max returns the largest recorded value, 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the average of the recorded values, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// recorded values lie: the value of rank ceil(q*count), reported as the upper
// edge of its bucket and never above Max. Quantile(0) is Min, Quantile(1) is
// Max, and an empty histogram reports 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return 0
	}
	if q <= 0 {
		return h.Min()
	}
	if q >= 1 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			return min(time.Duration(hi), h.Max())
		}
	}
	return h.Max()
}

// Merge adds every value recorded in o to h. It is safe to call while other
// goroutines record into either histogram.
func (h *Histogram) Merge(o *Histogram) {
	n := o.n.Load()
	if n == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.sum.Add(o.sum.Load())
	if m := o.min.Load(); m > 0 {
		for {
			old := h.min.Load()
			if old != 0 && old <= m || h.min.CompareAndSwap(old, m) {
				break
			}
		}
	}
	mx := o.max.Load()
	for {
		old := h.max.Load()
		if old >= mx || h.max.CompareAndSwap(old, mx) {
			break
		}
	}
	h.n.Add(n)
}

// Summary returns the standard percentiles of h.
func (h *Histogram) Summary() Latency {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if h.Count() == 0 {
		return Latency{}
	}
	return Latency{
		Count: h.Count(),
		Min:   ms(h.Min()),
		Mean:  ms(h.Mean()),
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		P999:  ms(h.Quantile(0.999)),
		Max:   ms(h.Max()),
	}
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}
