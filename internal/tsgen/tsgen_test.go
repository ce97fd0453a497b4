package tsgen_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/examples/actors/canvas"
	"github.com/zocket-go/zocket/examples/actors/chat"
	"github.com/zocket-go/zocket/examples/actors/counter"
	"github.com/zocket-go/zocket/internal/actordef"
	"github.com/zocket-go/zocket/internal/tsgen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func generate(t testing.TB, app *zocket.App, opts tsgen.Options) []byte {
	t.Helper()
	src, err := tsgen.Generate(actordef.AppOf(app), opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/tsgen -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("generated TypeScript differs from %s (go test ./internal/tsgen -update rewrites it):\n%s", path, diff(string(want), string(got)))
	}
}

// diff lists the lines of want and got that differ, by position.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
		}
	}
	return b.String()
}

// TestFixture checks every mapping rule against testdata/fixture.ts, which
// says what each Go type becomes (and TestTypeScript compiles).
func TestFixture(t *testing.T) {
	golden(t, "fixture.ts", generate(t, fixtureApp(t), tsgen.Options{}))
}

// TestDemo keeps the declarations of the demo app (cmd/zocket: counter,
// chat and canvas) in testdata/demo.ts, for reading.
func TestDemo(t *testing.T) {
	golden(t, "demo.ts", generate(t, demoApp(t), tsgen.Options{}))
}

// demoApp is the app of cmd/zocket.
func demoApp(t testing.TB) *zocket.App {
	t.Helper()
	app, err := zocket.NewApp(counter.Actor(), chat.Actor(), canvas.Actor())
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// TestDeterministic: the output depends only on the types, not on map
// order or the order in which actor types were registered.
func TestDeterministic(t *testing.T) {
	first := generate(t, fixtureApp(t), tsgen.Options{})
	actors := fixtureActors()
	for i := range 20 {
		// Rotate the registration order; map iteration varies by itself.
		rot := append(append([]zocket.ActorType(nil), actors[i%len(actors):]...), actors[:i%len(actors)]...)
		app, err := zocket.NewApp(rot...)
		if err != nil {
			t.Fatal(err)
		}
		if got := generate(t, app, tsgen.Options{}); !bytes.Equal(got, first) {
			t.Fatalf("run %d differs:\n%s", i, diff(string(first), string(got)))
		}
	}
}

func TestImport(t *testing.T) {
	src := generate(t, fixtureApp(t), tsgen.Options{Import: "./vendor/zocket.js"})
	if !bytes.Contains(src, []byte(`import type * as zocket from "./vendor/zocket.js";`)) {
		t.Errorf("import not used:\n%s", src[:400])
	}
}

// TestUnsupported: types encoding/json cannot encode fail the generation,
// each named with where it was met.
func TestUnsupported(t *testing.T) {
	type Bad struct {
		Ch      chan int            `json:"ch"`
		Fn      func()              `json:"fn"`
		C       complex128          `json:"c"`
		FloatMp map[float64]int     `json:"floatMap"`
		PointMp map[Point]int       `json:"pointMap"`
		Fine    map[Level]int       `json:"fine"`
		Skipped chan int            `json:"-"`
		Deep    []map[string]func() `json:"deep"`
	}
	a := zocket.NewActor("bad", func() Point { return Point{} }, zocket.Emits(zocket.NewEvent[chan string]("ev")))
	zocket.Method(a, "m", func(*Point, *zocket.Call, Bad) (int, error) { return 0, nil })
	app, err := zocket.NewApp(a)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tsgen.Generate(actordef.AppOf(app), tsgen.Options{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`tsgen_test.Bad.ch: type chan int cannot be encoded as JSON`,
		`tsgen_test.Bad.fn: type func() cannot be encoded as JSON`,
		`tsgen_test.Bad.c: type complex128 cannot be encoded as JSON`,
		`tsgen_test.Bad.floatMap: map key type float64 cannot be encoded as JSON`,
		`tsgen_test.Bad.pointMap: map key type tsgen_test.Point cannot be encoded as JSON`,
		`tsgen_test.Bad.deep[][key]: type func() cannot be encoded as JSON`,
		`actor "bad": event "ev": type chan string cannot be encoded as JSON`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "fine") || strings.Contains(err.Error(), "Skipped") {
		t.Errorf("error names a field that encodes:\n%v", err)
	}
}

func TestNilApp(t *testing.T) {
	if _, err := tsgen.Generate(nil, tsgen.Options{}); err == nil {
		t.Fatal("no error")
	}
}

// properties returns the top-level properties of interface name in src,
// and which of them are optional.
func properties(t *testing.T, src, name string) map[string]bool {
	t.Helper()
	_, body, ok := strings.Cut(src, "export interface "+name+" {\n")
	if !ok {
		t.Fatalf("no interface %s", name)
	}
	body, _, _ = strings.Cut(body, "\n}\n")
	props := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") || strings.HasPrefix(line, "  }") {
			continue // a line of a nested type
		}
		key, _, _ := strings.Cut(strings.TrimSpace(line), ": ")
		optional := strings.HasSuffix(key, "?")
		key = strings.TrimSuffix(key, "?")
		if strings.HasPrefix(key, `"`) {
			if err := json.Unmarshal([]byte(key), &key); err != nil {
				t.Fatal(err)
			}
		}
		props[key] = optional
	}
	return props
}

// jsonKeys returns the keys of v's JSON object, as encoding/json writes it.
func jsonKeys(t *testing.T, v any) map[string]bool {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	return keys
}

// TestPropertiesMatchEncodingJSON checks the properties the generator
// found against what encoding/json writes: a zero value has exactly the
// required ones, and a value with every optional part set has them all.
func TestPropertiesMatchEncodingJSON(t *testing.T) {
	src := string(generate(t, fixtureApp(t), tsgen.Options{}))
	one := 1
	level := Level(1)
	for _, c := range []struct {
		name       string
		zero, full any
	}{
		{"Doc", &Doc{}, &Doc{
			Omit: "x", OmitZero: 1, PtrOmit: &Point{}, TimePtr: &time.Time{},
			Extra: &Extra{Note: "n"}, QuotedPtr: new(bool), Level: level,
		}},
		{"Tree", &Tree{}, &Tree{Parent: &Tree{}}},
		{"OptionalInput", &OptionalInput{}, &OptionalInput{Limit: 1, Cursor: "c"}},
		{"TsgenTestSetInput", &SetInput{}, &SetInput{Value: &one}},
	} {
		props := properties(t, src, c.name)
		required, all := map[string]bool{}, map[string]bool{}
		for k, optional := range props {
			all[k] = true
			if !optional {
				required[k] = true
			}
		}
		if got := jsonKeys(t, c.zero); !maps.Equal(got, required) {
			t.Errorf("%s: zero value writes %v, required properties are %v", c.name, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(required)))
		}
		if got := jsonKeys(t, c.full); !maps.Equal(got, all) {
			t.Errorf("%s: full value writes %v, properties are %v", c.name, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(all)))
		}
	}
}
