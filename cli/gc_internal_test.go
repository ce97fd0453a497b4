package cli

import (
	"errors"
	"io"
	"runtime/debug"
	"testing"
)

// -gogc sets the collector's target: nothing by default, the GOGC
// variable, the flag over the variable, and "off"; a value that is not a
// percentage is a usage error that changes nothing.
func TestGCFlag(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	for _, tc := range []struct {
		env  string
		args []string
		want int
	}{
		{"", nil, 77}, // left as it was
		{"150", nil, 150},
		{"150", []string{"-gogc", "250"}, 250},
		{"", []string{"-gogc", "off"}, -1},
		{"OFF", nil, -1},
	} {
		debug.SetGCPercent(77)
		f := newFlags(Env{Stderr: io.Discard, Getenv: func(k string) string {
			if k == "GOGC" {
				return tc.env
			}
			return ""
		}}, "serve", "")
		apply := f.gcFlag()
		if err := f.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := apply(); err != nil {
			t.Fatalf("GOGC=%q %q: %v", tc.env, tc.args, err)
		}
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q %q: GC percent %d, want %d", tc.env, tc.args, got, tc.want)
		}
	}
	for _, bad := range []string{"0", "-5", "lots", "1e3"} {
		debug.SetGCPercent(100)
		f := newFlags(Env{Stderr: io.Discard, Getenv: func(string) string { return "" }}, "serve", "")
		apply := f.gcFlag()
		if err := f.Parse([]string{"-gogc", bad}); err != nil {
			t.Fatal(err)
		}
		if err := apply(); !errors.Is(err, ErrUsage) {
			t.Errorf("-gogc %q: err = %v, want ErrUsage", bad, err)
		}
		if got := debug.SetGCPercent(100); got != 100 {
			t.Errorf("-gogc %q changed the GC percent to %d", bad, got)
		}
	}
}
