// Package tsgen writes TypeScript declarations for an app's actor types:
// `zocket gen ts` (package cli) runs it in the app's own binary, so it
// reads the Go types of the states, method inputs and results and event
// payloads by reflection from the definitions (package actordef), with no
// parser of Go source.
//
// The declarations describe the JSON that encoding/json writes for each
// type, by encoding/json's rules:
//
//   - struct fields: unexported ones and `json:"-"` are skipped, a json tag
//     renames, embedded structs without a tag name are flattened (the
//     shallowest field of a name wins, a tagged one over an untagged one,
//     and two of the same depth and tagging drop each other), omitempty and
//     omitzero make a property optional, and so does an embedded pointer
//     (nil writes none of its fields); the ",string" option makes the value
//     a string;
//   - bool is boolean; integers and floats are number; string is string;
//     []byte is string (base64); time.Time is string; json.Number is
//     number; json.RawMessage, interfaces (any, error) are unknown;
//   - a pointer *T is T | null;
//   - slices are T[] (a nil slice is written as null: initialise slices in
//     states and results, or tag them omitempty); arrays of up to 8
//     elements are tuples, longer ones T[];
//   - maps are { [key: string]: T } (string, integer and
//     encoding.TextMarshaler keys);
//   - a type implementing json.Marshaler is unknown (its JSON is whatever
//     MarshalJSON writes), and so is one implementing json.Unmarshaler (the
//     declarations are those of inputs too, and it decides what it
//     accepts); one implementing encoding.TextMarshaler is string; methods
//     with a pointer receiver count (encoding/json calls them only on
//     values it can address: a state, or what a pointer leads to);
//   - a method's struct{} input is void: call(method) takes no input;
//   - channels, functions, complex numbers and maps with other keys cannot
//     be encoded: Generate fails, naming where it met them.
//
// The state of an actor type with a View (zocket.Actor.View) is what the
// view returns, which is declared as any: its type is the one it returns
// for a fresh state, so a view that returns values of different types is
// described by one of them, and one that returns nil or panics for a
// fresh state by unknown.
//
// Every named Go type gets a declaration of its own (an interface for a
// struct, a type alias otherwise; time.Time, json.RawMessage and
// json.Number excepted), so recursive types work. Its name is the Go name
// with its first letter upper-cased (Page_Item for Page[Item]), prefixed
// with the package name when two packages use the name or it is one the
// file uses itself (Record, ZocketActors), and numbered when that still
// collides. Declarations are sorted by name and the output depends only
// on the app's types: the same app, the same bytes.
package tsgen

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zocket-go/zocket/internal/actordef"
)

// DefaultImport is the module the generated file imports the client's
// types from.
const DefaultImport = "@zocket-go/client"

// Options adjust the generated file.
type Options struct {
	// Import is the module specifier of the browser client's
	// declarations; empty means DefaultImport.
	Import string
}

// maxTuple is the longest Go array written as a TypeScript tuple.
const maxTuple = 8

var (
	timeType          = reflect.TypeFor[time.Time]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	numberType        = reflect.TypeFor[json.Number]()
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	unmarshalerType   = reflect.TypeFor[json.Unmarshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// reserved are names the generated file uses itself.
var reserved = map[string]bool{"ZocketActors": true, "Record": true}

// Generate returns the TypeScript declarations of app's actor types: a
// declaration per named Go type, the ZocketActors interface mapping each
// actor type to its state, methods (input and result) and events, and
// typedClient, which types a client of package @zocket-go/client with them.
func Generate(app *actordef.App, opts Options) ([]byte, error) {
	if app == nil {
		return nil, errors.New("tsgen: nil app")
	}
	if opts.Import == "" {
		opts.Import = DefaultImport
	}
	g := &gen{named: map[reflect.Type]*decl{}}
	actors := make([]string, 0, len(app.Types))
	for name := range app.Types {
		actors = append(actors, name)
	}
	sort.Strings(actors)
	states := map[string]reflect.Type{} // what subscribers see; nil: unknown
	for _, name := range actors {
		d := app.Types[name]
		if d.State == nil {
			return nil, fmt.Errorf("tsgen: actor %q has no state type", name)
		}
		states[name] = clientState(d)
		if st := states[name]; st != nil {
			g.walk(st, fmt.Sprintf("actor %q: state", name))
		}
		for _, m := range sortedKeys(d.Methods) {
			md := d.Methods[m]
			if md.In == nil || md.Out == nil {
				return nil, fmt.Errorf("tsgen: actor %q: method %q has no input or result type", name, m)
			}
			if !isVoid(md.In) {
				g.walk(md.In, fmt.Sprintf("actor %q: method %q: input", name, m))
			}
			g.walk(md.Out, fmt.Sprintf("actor %q: method %q: result", name, m))
		}
		for _, e := range sortedKeys(d.Events) {
			g.walk(d.Events[e], fmt.Sprintf("actor %q: event %q", name, e))
		}
	}
	if len(g.errs) > 0 {
		return nil, fmt.Errorf("tsgen: %w", errors.Join(g.errs...))
	}
	decls := g.assignNames()

	var b bytes.Buffer
	b.WriteString("// Code generated by zocket gen ts; DO NOT EDIT.\n")
	b.WriteString("//\n")
	b.WriteString("// The app's actor types for the Zocket browser client: the JSON that\n")
	b.WriteString("// encoding/json writes for their Go types. Regenerate after changing them.\n\n")
	fmt.Fprintf(&b, "import type * as zocket from %s;\n", jsString(opts.Import))
	for _, d := range decls {
		b.WriteString("\n")
		g.writeDecl(&b, d)
	}

	b.WriteString("\n/** The app's actor types: state, methods (input and result) and events of each. */\n")
	b.WriteString("export interface ZocketActors {\n")
	for _, name := range actors {
		d := app.Types[name]
		fmt.Fprintf(&b, "  %s: {\n", propName(name))
		state := "unknown"
		if st := states[name]; st != nil {
			state = g.ref(st, "    ").s
		}
		if d.View != nil {
			b.WriteString("    /** What the actor type's View returns (its type for a fresh state). */\n")
		}
		fmt.Fprintf(&b, "    state: %s;\n", state)
		if len(d.Methods) == 0 {
			b.WriteString("    methods: {};\n")
		} else {
			b.WriteString("    methods: {\n")
			for _, m := range sortedKeys(d.Methods) {
				md := d.Methods[m]
				in, out := "void", g.ref(md.Out, "      ").s
				if !isVoid(md.In) {
					in = g.ref(md.In, "      ").s
				}
				if !strings.Contains(in+out, "\n") {
					fmt.Fprintf(&b, "      %s: { input: %s; result: %s };\n", propName(m), in, out)
					continue
				}
				// An inline struct: one line each.
				if !isVoid(md.In) {
					in = g.ref(md.In, "        ").s
				}
				out = g.ref(md.Out, "        ").s
				fmt.Fprintf(&b, "      %s: {\n        input: %s;\n        result: %s;\n      };\n", propName(m), in, out)
			}
			b.WriteString("    };\n")
		}
		if len(d.Events) == 0 {
			b.WriteString("    events: {};\n")
		} else {
			b.WriteString("    events: {\n")
			for _, e := range sortedKeys(d.Events) {
				fmt.Fprintf(&b, "      %s: %s;\n", propName(e), g.ref(d.Events[e], "      ").s)
			}
			b.WriteString("    };\n")
		}
		b.WriteString("  };\n")
	}
	b.WriteString("}\n\n")
	b.WriteString("/**\n")
	b.WriteString(" * client, typed with the app's actor types: client.actor(type, id) checks\n")
	b.WriteString(" * the type, and its call, on and subscribeState the method names, inputs,\n")
	b.WriteString(" * results, events and state. It returns client itself.\n")
	b.WriteString(" */\n")
	b.WriteString("export function typedClient(client: zocket.Client): zocket.TypedClient<ZocketActors> {\n")
	b.WriteString("  return client as unknown as zocket.TypedClient<ZocketActors>;\n")
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// clientState is the type of the state clients see: S, or with a View
// (which returns any) the type of what it returns for a fresh state;
// nil when that cannot be known (the view returned nil or panicked).
func clientState(d *actordef.Def) (t reflect.Type) {
	if d.View == nil {
		return d.State
	}
	defer func() {
		if recover() != nil {
			t = nil
		}
	}()
	v := reflect.ValueOf(d.View(d.NewState()))
	if !v.IsValid() {
		return nil
	}
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Type().Elem() // subscribers see what it points to
	}
	return v.Type()
}

// isVoid reports whether a method input type means "no input": struct{}.
func isVoid(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.Name() == "" && t.NumField() == 0
}

// decl is a named Go type that gets a TypeScript declaration.
type decl struct {
	t    reflect.Type
	name string
	seq  int // order of discovery, to tell apart types of the same Go name
}

type gen struct {
	named map[reflect.Type]*decl
	errs  []error
}

// special returns the TypeScript of the types encoding/json writes in a
// way of their own, which get no declaration.
func special(t reflect.Type) (string, bool) {
	switch t {
	case timeType:
		return "string", true
	case rawMessageType:
		return "unknown", true
	case numberType:
		return "number", true
	}
	if t.Kind() == reflect.Interface {
		return "unknown", true
	}
	return "", false
}

// isNamed reports whether t gets a declaration of its own.
func isNamed(t reflect.Type) bool {
	if t.Name() == "" || t.PkgPath() == "" { // unnamed, or predeclared (int, error, ...)
		return false
	}
	_, ok := special(t)
	return !ok
}

// marshals reports whether encoding/json encodes t with a MarshalJSON or
// MarshalText method, which it calls on t or, for an addressable value,
// on *t.
func marshals(t, iface reflect.Type) bool {
	return t.Implements(iface) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface))
}

// walk records the named types t uses, and reports those encoding/json
// cannot encode; where says where t was met.
func (g *gen) walk(t reflect.Type, where string) {
	if _, ok := special(t); ok {
		return
	}
	if isNamed(t) {
		if g.named[t] != nil {
			return
		}
		g.named[t] = &decl{t: t, seq: len(g.named)}
		where = t.String()
	}
	if t.Kind() == reflect.Pointer {
		g.walk(t.Elem(), where)
		return
	}
	if marshals(t, marshalerType) || marshals(t, unmarshalerType) || marshals(t, textMarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
	case reflect.Slice:
		if !isBytes(t) {
			g.walk(t.Elem(), where+"[]")
		}
	case reflect.Array:
		g.walk(t.Elem(), where+"[]")
	case reflect.Map:
		if !mapKeyOK(t.Key()) {
			g.errs = append(g.errs, fmt.Errorf("%s: map key type %s cannot be encoded as JSON", where, t.Key()))
			return
		}
		g.walk(t.Elem(), where+"[key]")
	case reflect.Struct:
		for _, f := range jsonFields(t) {
			g.walk(f.typ, where+"."+f.name)
		}
	default:
		g.errs = append(g.errs, fmt.Errorf("%s: type %s cannot be encoded as JSON", where, t))
	}
}

// isBytes reports whether encoding/json writes slice type t as a base64
// string.
func isBytes(t reflect.Type) bool {
	if t.Elem().Kind() != reflect.Uint8 {
		return false
	}
	p := reflect.PointerTo(t.Elem())
	return !p.Implements(marshalerType) && !p.Implements(textMarshalerType)
}

func mapKeyOK(k reflect.Type) bool {
	switch k.Kind() {
	case reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return k.Implements(textMarshalerType)
}

// assignNames names every declaration and returns them sorted by name.
func (g *gen) assignNames() []*decl {
	decls := make([]*decl, 0, len(g.named))
	for _, d := range g.named {
		d.name = baseName(d.t)
		decls = append(decls, d)
	}
	// A stable order for the numbering below, whatever the map's: by Go
	// name, and for types of the same name (declared in functions) in the
	// order walk met them, which depends only on the app.
	sort.Slice(decls, func(i, j int) bool {
		if a, b := goName(decls[i].t), goName(decls[j].t); a != b {
			return a < b
		}
		return decls[i].seq < decls[j].seq
	})
	byName := func() map[string][]*decl {
		m := map[string][]*decl{}
		for _, d := range decls {
			m[d.name] = append(m[d.name], d)
		}
		return m
	}
	// Names used in two packages, or reserved, are prefixed with the
	// package name.
	for name, ds := range byName() {
		pkgs := map[string]bool{}
		for _, d := range ds {
			pkgs[d.t.PkgPath()] = true
		}
		if len(pkgs) > 1 || reserved[name] {
			for _, d := range ds {
				d.name = pkgName(d.t) + name
			}
		}
	}
	// Should that still collide, the later ones are numbered.
	taken := map[string]bool{}
	for n := range reserved {
		taken[n] = true
	}
	for _, d := range decls {
		name := d.name
		for i := 2; taken[name]; i++ {
			name = d.name + strconv.Itoa(i)
		}
		d.name = name
		taken[name] = true
	}
	sort.Slice(decls, func(i, j int) bool { return decls[i].name < decls[j].name })
	return decls
}

// goName is t's full Go name, import path included.
func goName(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// pkgName is the name of t's package, as t.String() qualifies it, in
// upper camel case: my_pkg is MyPkg.
func pkgName(t reflect.Type) string {
	name, _, _ := strings.Cut(t.String(), ".")
	var b strings.Builder
	for _, part := range strings.Split(sanitize(name), "_") {
		if part != "" {
			b.WriteString(upperFirst(part))
		}
	}
	return b.String()
}

var qualifier = regexp.MustCompile(`[^\[\],*\s()]*[./]`)

// baseName is t's name as a TypeScript identifier: Page[example.com/x.Item]
// (an instance of a generic type) becomes Page_Item, first letter upper case.
func baseName(t reflect.Type) string {
	return upperFirst(sanitize(qualifier.ReplaceAllString(t.Name(), "")))
}

// sanitize turns runs of characters that cannot be in an identifier into
// one underscore, dropping them at the end.
func sanitize(s string) string {
	var b strings.Builder
	under := false
	for _, r := range s {
		if r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	out := strings.TrimRight(b.String(), "_")
	if out == "" {
		return "T"
	}
	return out
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if unicode.IsDigit(r) {
		return "T" + s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// ts is a TypeScript type expression.
type ts struct {
	s        string
	union    bool // needs parentheses before []
	nullable bool // includes null
}

func (x ts) orNull() ts {
	if x.nullable || x.s == "unknown" {
		return x
	}
	return ts{s: x.s + " | null", union: true, nullable: true}
}

func (x ts) array() ts {
	if x.union {
		return ts{s: "(" + x.s + ")[]"}
	}
	return ts{s: x.s + "[]"}
}

// ref is the TypeScript type of t where it is used: the name of its
// declaration if it has one.
// indent is that of the line it starts on.
func (g *gen) ref(t reflect.Type, indent string) ts {
	if d := g.named[t]; d != nil {
		return ts{s: d.name}
	}
	return g.structure(t, indent)
}

// structure is t's TypeScript type, spelled out, whether t is named or
// not; indent is that of the line it starts on.
func (g *gen) structure(t reflect.Type, indent string) ts {
	if s, ok := special(t); ok {
		return ts{s: s}
	}
	if t.Kind() == reflect.Pointer {
		return g.ref(t.Elem(), indent).orNull()
	}
	if marshals(t, marshalerType) || marshals(t, unmarshalerType) {
		return ts{s: "unknown"}
	}
	if marshals(t, textMarshalerType) {
		return ts{s: "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return ts{s: "boolean"}
	case reflect.String:
		return ts{s: "string"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return ts{s: "number"}
	case reflect.Slice:
		if isBytes(t) {
			return ts{s: "string"}
		}
		return g.ref(t.Elem(), indent).array()
	case reflect.Array:
		el := g.ref(t.Elem(), indent)
		if t.Len() > maxTuple {
			return el.array()
		}
		parts := make([]string, t.Len())
		for i := range parts {
			parts[i] = el.s
		}
		return ts{s: "[" + strings.Join(parts, ", ") + "]"}
	case reflect.Map:
		return ts{s: "{ [key: string]: " + g.ref(t.Elem(), indent).s + " }"}
	case reflect.Struct:
		fields := jsonFields(t)
		if len(fields) == 0 {
			return ts{s: "Record<string, never>"}
		}
		var b strings.Builder
		b.WriteString("{\n")
		g.writeFields(&b, fields, indent+"  ")
		b.WriteString(indent + "}")
		return ts{s: b.String()}
	}
	return ts{s: "unknown"} // walk reported it
}

func (g *gen) writeFields(b *strings.Builder, fields []jsonField, indent string) {
	for _, f := range fields {
		var typ ts
		if f.quoted {
			typ = ts{s: "string"}
			if f.typ.Kind() == reflect.Pointer && f.typ.Name() == "" {
				typ = typ.orNull()
			}
		} else {
			typ = g.ref(f.typ, indent)
		}
		opt := ""
		if f.omit || f.viaPointer {
			opt = "?"
		}
		fmt.Fprintf(b, "%s%s%s: %s;\n", indent, propName(f.name), opt, typ.s)
	}
}

func (g *gen) writeDecl(b *bytes.Buffer, d *decl) {
	t := d.t
	fmt.Fprintf(b, "/** Go: %s", goName(t))
	switch {
	case t.Kind() != reflect.Pointer && marshals(t, marshalerType):
		fmt.Fprintf(b, "; implements json.Marshaler, so its JSON is whatever MarshalJSON writes. */\n")
		fmt.Fprintf(b, "export type %s = unknown;\n", d.name)
	case t.Kind() != reflect.Pointer && marshals(t, unmarshalerType):
		fmt.Fprintf(b, "; implements json.Unmarshaler, so the JSON it accepts is up to UnmarshalJSON. */\n")
		fmt.Fprintf(b, "export type %s = unknown;\n", d.name)
	case t.Kind() != reflect.Pointer && marshals(t, textMarshalerType):
		fmt.Fprintf(b, "; implements encoding.TextMarshaler. */\n")
		fmt.Fprintf(b, "export type %s = string;\n", d.name)
	case t.Kind() == reflect.Struct:
		b.WriteString(" */\n")
		var sb strings.Builder
		g.writeFields(&sb, jsonFields(t), "  ")
		fmt.Fprintf(b, "export interface %s {\n%s}\n", d.name, sb.String())
	default:
		b.WriteString(" */\n")
		fmt.Fprintf(b, "export type %s = %s;\n", d.name, g.structure(t, "").s)
	}
}

var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// propName is name as a property name: quoted unless an identifier.
func propName(name string) string {
	if identifier.MatchString(name) {
		return name
	}
	return jsString(name)
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a JS string literal
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
