package tsgen_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/examples/actors/counter"
)

// The fixture app: its types use every mapping rule of package tsgen.

// Doc is the state of the "docs" actor type.
type Doc struct {
	Plain     int    `json:"plain"`
	Renamed   string `json:"renamed_name"`
	NoTag     bool
	Skipped   int `json:"-"`
	Dash      int `json:"-,"` // a property named "-"
	hidden    int
	Omit      string  `json:"omit,omitempty"`
	OmitZero  float64 `json:"omitZero,omitzero"`
	Quoted    int64   `json:"quoted,string"`
	QuotedPtr *bool   `json:"quotedPtr,string"`
	NotQuoted Point   `json:",string"` // ",string" only quotes scalars; an empty tag name keeps the Go name
	Weird     int     `json:"weird-name"`
	BadTag    int     `json:"bad\"tag"` // not a valid tag name: the Go name

	Ptr       *Point   `json:"ptr"`
	PtrOmit   *Point   `json:"ptrOmit,omitempty"`
	PtrPtr    **int    `json:"ptrPtr"`
	Slice     []Point  `json:"slice"`
	SlicePtr  []*Point `json:"slicePtr"`
	Bytes     []byte   `json:"bytes"`
	ByteArray [4]byte  `json:"byteArray"`
	Pair      [2]float64
	Long      [16]int                   `json:"long"`
	Map       map[string]int            `json:"map"`
	IntMap    map[int]Point             `json:"intMap"`
	LevelMap  map[Level]string          `json:"levelMap"`
	ColorMap  map[Color]bool            `json:"colorMap"`
	Nested    map[string][]*Point       `json:"nested"`
	MapOfMaps map[string]map[string]int `json:"mapOfMaps"`

	Time     time.Time       `json:"time"`
	TimePtr  *time.Time      `json:"timePtr,omitempty"`
	Duration time.Duration   `json:"duration"`
	Raw      json.RawMessage `json:"raw"`
	Number   json.Number     `json:"number"`
	Any      any             `json:"any"`
	Err      error           `json:"err"`
	Money    Money           `json:"money"`
	MoneyPtr *Money          `json:"moneyPtr"`
	Level    Level           `json:"level"`
	Flexible Flexible        `json:"flexible"`
	Color    Color           `json:"color"`
	Tags     Tags            `json:"tags"`
	Tree     *Tree           `json:"tree"`
	List     List            `json:"list"`
	Anon     struct {
		X int    `json:"x"`
		Y *Point `json:"y"`
	} `json:"anon"`
	Empty   struct{}     `json:"empty"`
	Page    Page[Point]  `json:"page"`
	PageStr Page[string] `json:"pageStr"`

	Base                  // flattened
	*Extra                // flattened, optional: a nil *Extra writes none of its fields
	Inner  `json:"inner"` // tagged: a property, not flattened
	Left                  // Left.Same and Right.Same cancel out
	Right
	unexportedEmbedded // its exported fields are flattened
}

// Point is a plain struct used in many places.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Money implements json.Marshaler, so its JSON is unknown.
type Money struct{ Cents int64 }

func (m Money) MarshalJSON() ([]byte, error) { return json.Marshal(float64(m.Cents) / 100) }

// Level implements encoding.TextMarshaler (with a pointer receiver), so it
// is a string, and a valid map key.
type Level int

func (l *Level) MarshalText() ([]byte, error) { return []byte(strings.Repeat("*", int(*l))), nil }

// Flexible implements json.Unmarshaler only: what it accepts is up to
// it, so it is unknown too.
type Flexible int

func (f *Flexible) UnmarshalJSON(b []byte) error { *f = Flexible(len(b)); return nil }

// Color is a named string.
type Color string

// Tags is a named slice.
type Tags []string

// Tree is recursive through a slice and a pointer.
type Tree struct {
	Value    int     `json:"value"`
	Children []*Tree `json:"children"`
	Parent   *Tree   `json:"parent,omitempty"`
}

// List is recursive without a struct.
type List []List

// Page is generic.
type Page[T any] struct {
	Items []T `json:"items"`
	Next  *T  `json:"next"`
}

type Base struct {
	ID    string `json:"id"`
	Plain string `json:"plain"` // hidden by Doc.Plain, which is shallower
}

type Extra struct {
	Note string `json:"note"`
}

type Inner struct {
	Deep bool `json:"deep"`
}

type Left struct {
	Same     int // Left.Same and Right.Same cancel out
	OnlyLeft int // hidden by Right.Tagged, tagged at the same depth
}

type Right struct {
	Same   int
	Tagged int `json:"OnlyLeft"`
}

type unexportedEmbedded struct {
	Visible   int `json:"visible"`
	invisible int
}

// Record would shadow TypeScript's Record: it is renamed.
type Record struct {
	N int `json:"n"`
}

// State has the name of counter.State: both are qualified.
type State struct {
	Doc *Doc `json:"doc"`
}

// Secret is a state clients never see: its actor types have Views.
type Secret struct {
	Password string          `json:"password"`
	Who      zocket.Presence `json:"who"`
}

// Lobby is what the lobby's View shows of a Secret.
type Lobby struct {
	Who zocket.Presence `json:"who"`
}

// Input of "set".
type SetInput struct {
	Value *int `json:"value"`
}

// OptionalInput has only optional properties, so call() may leave it out.
type OptionalInput struct {
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

var (
	changed  = zocket.NewEvent[Point]("changed")
	moved    = zocket.NewEvent[*Point]("moved")
	tagged   = zocket.NewEvent[[]string]("tag-list")
	recorded = zocket.NewEvent[Record]("recorded")
	pinged   = zocket.NewEvent[struct{}]("pinged")
)

// scopedA and scopedB add methods whose results are types named Scoped,
// declared in functions: same name, same package, so the second one by
// order of their Go names (here the same too) is numbered.
func scopedA(a *zocket.Actor[State]) {
	type Scoped struct {
		A int `json:"a"`
	}
	zocket.Method(a, "scopedA", func(*State, *zocket.Call, struct{}) (Scoped, error) { return Scoped{}, nil })
}

func scopedB(a *zocket.Actor[State]) {
	type Scoped struct {
		B int `json:"b"`
	}
	zocket.Method(a, "scopedB", func(*State, *zocket.Call, struct{}) (Scoped, error) { return Scoped{}, nil })
}

func fixtureActors() []zocket.ActorType {
	docs := zocket.NewActor("docs", func() Doc { return Doc{} }, zocket.Emits(changed, moved, tagged, recorded, pinged))
	zocket.Method(docs, "ping", func(*Doc, *zocket.Call, struct{}) (struct{}, error) { return struct{}{}, nil })
	zocket.Method(docs, "set", func(d *Doc, _ *zocket.Call, in SetInput) (int, error) { return *in.Value, nil })
	zocket.Method(docs, "set-ptr", func(*Doc, *zocket.Call, *SetInput) (*int, error) { return nil, nil })
	zocket.Method(docs, "list", func(*Doc, *zocket.Call, OptionalInput) (Page[Point], error) { return Page[Point]{}, nil })
	zocket.Method(docs, "raw", func(*Doc, *zocket.Call, json.RawMessage) (any, error) { return nil, nil })
	zocket.Method(docs, "move", func(*Doc, *zocket.Call, struct {
		To  Point `json:"to"`
		Why string
	}) (map[string][]Point, error) {
		return nil, nil
	})
	zocket.Method(docs, "when", func(*Doc, *zocket.Call, struct{}) (time.Time, error) { return time.Time{}, nil })
	zocket.Method(docs, "record", func(*Doc, *zocket.Call, Record) (Money, error) { return Money{}, nil })

	other := zocket.NewActor("other-actor", func() State { return State{} })
	scopedA(other)
	scopedB(other)

	// A View: clients see a Lobby (the view's type for a fresh state),
	// not the Secret state; TrackPresence adds the presence method and
	// keeps the state's Presence.
	lobby := zocket.NewActor("lobby", func() Secret { return Secret{} })
	zocket.TrackPresence(lobby, func(s *Secret) *zocket.Presence { return &s.Who })
	lobby.View(func(s *Secret) any { return &Lobby{Who: s.Who} })
	blind := zocket.NewActor("blind", func() Secret { return Secret{} })
	blind.View(func(*Secret) any { return nil })
	panicky := zocket.NewActor("panicky", func() Secret { return Secret{} })
	panicky.View(func(*Secret) any { panic("no view of a fresh state") })

	return []zocket.ActorType{docs, other, counter.Actor(), lobby, blind, panicky}
}

// fixtureApp is the fixture app: "docs", "other-actor" and the demo's
// "counter" (whose State clashes with this package's).
func fixtureApp(t testing.TB) *zocket.App {
	t.Helper()
	app, err := zocket.NewApp(fixtureActors()...)
	if err != nil {
		t.Fatal(err)
	}
	return app
}
