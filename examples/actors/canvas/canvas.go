// Package canvas is a shared drawing board: strokes drawn by any client are
// kept in state (the newest MaxStrokes) and reach every subscriber as
// patches.
package canvas

import (
	"fmt"
	"regexp"

	"github.com/zocket-go/zocket"
)

// Limits of a board.
const (
	MaxStrokes = 500
	MaxPoints  = 2000
	MaxWidth   = 64
)

// Stroke is one drawn line. Points are normalized to 0..1 so that windows
// of different sizes agree.
type Stroke struct {
	ID       int          `json:"id"`
	Points   [][2]float64 `json:"points"`
	Color    string       `json:"color"`
	Width    float64      `json:"width"`
	ClientID string       `json:"clientId"`
}

// Board is a canvas's state.
type Board struct {
	Strokes []Stroke `json:"strokes"`
	NextID  int      `json:"nextId"`
}

// StrokeInput is a stroke to add.
type StrokeInput struct {
	Points [][2]float64 `json:"points"`
	Color  string       `json:"color"`
	Width  float64      `json:"width"`
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Validate checks the stroke's bounds.
func (in StrokeInput) Validate() error {
	if n := len(in.Points); n == 0 || n > MaxPoints {
		return fmt.Errorf("points: need 1 to %d, got %d", MaxPoints, n)
	}
	for i, p := range in.Points {
		if p[0] < 0 || p[0] > 1 || p[1] < 0 || p[1] > 1 {
			return fmt.Errorf("points[%d]: coordinates must be within 0..1", i)
		}
	}
	if !colorRE.MatchString(in.Color) {
		return fmt.Errorf("color: want #rrggbb, got %q", in.Color)
	}
	if in.Width <= 0 || in.Width > MaxWidth {
		return fmt.Errorf("width: want 0 < width <= %d", MaxWidth)
	}
	return nil
}

// Name is the actor type's wire name.
const Name = "canvas"

// Actor returns the canvas actor type: stroke (returns the stroke id) and
// clear.
func Actor() *zocket.Actor[Board] {
	a := zocket.NewActor(Name, func() Board { return Board{Strokes: []Stroke{}, NextID: 1} })
	zocket.Method(a, "stroke", func(b *Board, c *zocket.Call, in StrokeInput) (int, error) {
		s := Stroke{ID: b.NextID, Points: in.Points, Color: in.Color, Width: in.Width, ClientID: c.ClientID()}
		b.NextID++
		b.Strokes = append(b.Strokes, s)
		if n := len(b.Strokes); n > MaxStrokes {
			b.Strokes = append([]Stroke(nil), b.Strokes[n-MaxStrokes:]...)
		}
		return s.ID, nil
	})
	zocket.Method(a, "clear", func(b *Board, c *zocket.Call, _ struct{}) (int, error) {
		b.Strokes = []Stroke{}
		return 0, nil
	})
	return a
}
