package zocket

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
)

// App is a set of actor types registered under their names. It holds
// definitions only; an [Engine] runs them. An App is immutable after
// NewApp, apart from [App.Use] before any engine starts.
type App struct {
	types      map[string]*actorDef
	middleware []Middleware
}

// ActorInfo describes a registered actor type.
type ActorInfo struct {
	Name    string
	Methods []string
	Events  []string
}

// NewApp registers actor types. It returns every definition mistake (a
// duplicate type name, a bad method or event name, a state that is not
// JSON-serializable, a bad option) joined in one error wrapping
// [ErrInvalidDefinition].
func NewApp(actors ...ActorType) (*App, error) {
	app := &App{types: make(map[string]*actorDef, len(actors))}
	var errs []error
	for i, a := range actors {
		if a == nil || reflect.ValueOf(a).IsNil() { // also a typed nil *Actor[S]
			errs = append(errs, fmt.Errorf("actor %d is nil", i))
			continue
		}
		d := a.definition()
		for _, err := range d.errs {
			errs = append(errs, fmt.Errorf("actor %q: %w", d.name, err))
		}
		if _, dup := app.types[d.name]; dup {
			errs = append(errs, fmt.Errorf("actor type %q registered twice", d.name))
			continue
		}
		app.types[d.name] = d
	}
	if len(actors) == 0 {
		errs = append(errs, errors.New("no actor types"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDefinition, errors.Join(errs...))
	}
	return app, nil
}

// Use appends middleware run before every method call of every actor type,
// before the actor type's own middleware. Call it before starting engines.
func (app *App) Use(mw ...Middleware) {
	for _, m := range mw {
		if m != nil {
			app.middleware = append(app.middleware, m)
		}
	}
}

// Actors describes the registered actor types, sorted by name.
func (app *App) Actors() []ActorInfo {
	infos := make([]ActorInfo, 0, len(app.types))
	for _, d := range app.types {
		evs := make([]string, 0, len(d.events))
		for n := range d.events {
			evs = append(evs, n)
		}
		sort.Strings(evs)
		infos = append(infos, ActorInfo{Name: d.name, Methods: d.methodNames(), Events: evs})
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos
}

// ActorTypes returns the registered actor type names, sorted.
func (app *App) ActorTypes() []string {
	names := make([]string, 0, len(app.types))
	for n := range app.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
