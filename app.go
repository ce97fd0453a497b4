package zocket

import (
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/zocket-go/zocket/internal/actordef"
)

// App is a set of actor types registered under their names. It holds
// definitions only; an engine (package engine, which the standalone server
// and the runtime use) runs them. An App is immutable after NewApp, apart
// from [App.Use] before any engine starts.
type App struct {
	defs actordef.App
}

func init() {
	// The engine reads an App's definitions through actordef, so that
	// App needs no exported method for it. Set here once, never again.
	actordef.AppOf = func(app any) *actordef.App {
		if a := app.(*App); a != nil {
			return &a.defs
		}
		return nil
	}
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
	app := &App{defs: actordef.App{Types: make(map[string]*actordef.Def, len(actors))}}
	var errs []error
	for i, a := range actors {
		if a == nil || reflect.ValueOf(a).IsNil() { // also a typed nil *Actor[S]
			errs = append(errs, fmt.Errorf("actor %d is nil", i))
			continue
		}
		d := a.definition()
		for _, err := range d.Errs {
			errs = append(errs, fmt.Errorf("actor %q: %w", d.Name, err))
		}
		if _, dup := app.defs.Types[d.Name]; dup {
			errs = append(errs, fmt.Errorf("actor type %q registered twice", d.Name))
			continue
		}
		app.defs.Types[d.Name] = d
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
			app.defs.Middleware = append(app.defs.Middleware, m.erase())
		}
	}
}

// Actors describes the registered actor types, sorted by name.
func (app *App) Actors() []ActorInfo {
	infos := make([]ActorInfo, 0, len(app.defs.Types))
	for _, d := range app.defs.Types {
		evs := make([]string, 0, len(d.Events))
		for n := range d.Events {
			evs = append(evs, n)
		}
		sort.Strings(evs)
		infos = append(infos, ActorInfo{Name: d.Name, Methods: methodNames(d), Events: evs})
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos
}

// ActorTypes returns the registered actor type names, sorted.
func (app *App) ActorTypes() []string {
	names := make([]string, 0, len(app.defs.Types))
	for n := range app.defs.Types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
