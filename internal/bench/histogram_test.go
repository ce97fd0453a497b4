package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram: count %d p50 %v max %v min %v mean %v", h.Count(), h.Quantile(0.5), h.Max(), h.Min(), h.Mean())
	}
	if s := h.Summary(); s != (Latency{}) {
		t.Fatalf("empty summary %+v", s)
	}
}

// Small values are counted exactly.
func TestHistogramExactSmallValues(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.9, 90}, {0.99, 99}, {0.995, 100}, {1, 100}} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if h.Count() != 100 || h.Min() != 1 || h.Max() != 100 || h.Mean() != 50 {
		t.Errorf("count %d min %v max %v mean %v", h.Count(), h.Min(), h.Max(), h.Mean())
	}
}

// Quantiles of large values are within HistogramError of the exact answer,
// and never below it (the bucket's upper edge is reported).
func TestHistogramQuantilesWithinError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 200_000)
	for i := range vals {
		// Log-uniform from 1 µs to 10 s: every bucket range gets used.
		vals[i] = int64(math.Exp(rng.Float64()*math.Log(1e7)) * 1e3)
		h.Record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99, 0.999, 0.9999} {
		rank := int(math.Ceil(q*float64(len(vals)))) - 1
		exact := float64(vals[rank])
		got := float64(h.Quantile(q))
		if got < exact || got > exact*(1+HistogramError) {
			t.Errorf("Quantile(%v) = %.0f, exact %.0f: off by %.4f%% (allowed 0..%.2f%%)",
				q, got, exact, 100*(got-exact)/exact, 100*HistogramError)
		}
	}
	if h.Max() != time.Duration(vals[len(vals)-1]) || h.Min() != time.Duration(vals[0]) {
		t.Errorf("max %v min %v, want %v %v", h.Max(), h.Min(), vals[len(vals)-1], vals[0])
	}
}

// A known bimodal distribution: 99% at 1 ms, 1% at 100 ms.
func TestHistogramBimodal(t *testing.T) {
	var h Histogram
	for range 990 {
		h.Record(time.Millisecond)
	}
	for range 10 {
		h.Record(100 * time.Millisecond)
	}
	s := h.Summary()
	near := func(got, want float64) bool { return got >= want && got <= want*(1+HistogramError) }
	if !near(s.P50, 1) || !near(s.P90, 1) || !near(s.P99, 1) || !near(s.P999, 100) || s.Max != 100 {
		t.Fatalf("summary %+v: want p50=p90=p99=1ms, p99.9=max=100ms", s)
	}
	if math.Abs(s.Mean-1.99) > 1e-9 {
		t.Fatalf("mean %v, want 1.99", s.Mean)
	}
}

func TestHistogramBucketsAreContiguous(t *testing.T) {
	prevHi := int64(-1)
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d, %d]: bucketOf gives %d, %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subBuckets && float64(hi-lo+1)/float64(lo) > HistogramError {
			t.Fatalf("bucket %d = [%d, %d] wider than the error bound", i, lo, hi)
		}
		prevHi = hi
	}
}

func TestHistogramClamps(t *testing.T) {
	var h Histogram
	h.Record(-5)
	h.Record(1000 * time.Hour)
	if h.Min() != 0 || h.Quantile(0.5) != 0 {
		t.Errorf("negative value: min %v p50 %v, want 0", h.Min(), h.Quantile(0.5))
	}
	if max := time.Duration(1)<<maxBits - 1; h.Max() != max || h.Quantile(1) != max {
		t.Errorf("huge value: max %v, want %v", h.Max(), max)
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for v := range 1000 {
		d := time.Duration(v) * time.Microsecond
		all.Record(d)
		if v%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	a.Merge(&Histogram{}) // no-op
	if a.Summary() != all.Summary() {
		t.Fatalf("merged %+v, want %+v", a.Summary(), all.Summary())
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for v := range 1000 {
				h.Record(time.Duration(g*1000 + v + 1))
			}
		})
	}
	wg.Go(func() { // a reader racing with the writers
		for range 100 {
			_ = h.Quantile(0.99)
		}
	})
	wg.Wait()
	if h.Count() != 8000 || h.Min() != 1 || h.Max() != 8000 {
		t.Fatalf("count %d min %v max %v", h.Count(), h.Min(), h.Max())
	}
	if p50 := float64(h.Quantile(0.5)); p50 < 4000 || p50 > 4000*(1+HistogramError) {
		t.Fatalf("p50 %v", p50)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := time.Duration(12345)
		for pb.Next() {
			h.Record(v)
			v = v*7%100_000_000 + 1000
		}
	})
}
