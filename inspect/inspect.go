// Package inspect serves a live inspector of an [engine.Engine] to a
// browser: a page at /_inspect/ showing the actor types, the live
// instances with their state as a tree, their watchers and queue depth,
// the sessions, a scrolling log of recent calls with latency and outcome,
// and charts of the call rate and p99 latency of the last five minutes.
// The page polls /_inspect/api (the engine's [engine.Snapshot] as JSON)
// once a second; it loads nothing from elsewhere.
//
// The inspector shows every instance's state, so it is an admin tool:
// `zocket serve` and `zocket dev` mount it (they are local tools), other
// commands only with an admin token. With [Config.Token] set, every
// request, the page and its files included, must carry the token, as
// "Authorization: Bearer <token>" or "?token=<token>"; others get 401.
package inspect

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zocket-go/zocket/engine"
	"github.com/zocket-go/zocket/internal/wsconn"
)

// Prefix is the path under which [Handler] serves.
const Prefix = "/_inspect/"

// Config configures [Handler].
type Config struct {
	// Engine returns the engine to inspect, or nil while there is none (a
	// standby runtime): the API then answers {"serving":false}. It is
	// called on every request, so it may follow an engine that changes.
	Engine func() *engine.Engine
	// Token, when not empty, is required on every request (bearer token
	// or ?token=).
	Token string
	// Options bounds each snapshot (see engine.InspectOptions).
	Options engine.InspectOptions
}

//go:embed page
var files embed.FS

var pageTemplate = template.Must(template.ParseFS(files, "page/index.html"))

// assets are the page's static files, by name under Prefix.
var assets = map[string]string{
	"inspector.js":  "text/javascript; charset=utf-8",
	"inspector.css": "text/css; charset=utf-8",
}

// pagePolicy allows the page's own script, style and API, nothing else.
const pagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler returns the inspector's handler. It expects full paths: mount it
// at [Prefix] (mux.Handle(inspect.Prefix, h)), or use [Mount]. GET
// /_inspect/ is the page, /_inspect/api the snapshot.
func Handler(cfg Config) http.Handler {
	want := sha256.Sum256([]byte(cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // the URL may hold the token
		h.Set("Cache-Control", "no-store")
		token := ""
		if cfg.Token != "" {
			token = requestToken(r)
			got := sha256.Sum256([]byte(token))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				h.Set("WWW-Authenticate", `Bearer realm="zocket inspector"`)
				http.Error(w, "inspector: admin token required (Authorization: Bearer, or ?token=)", http.StatusUnauthorized)
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		switch {
		case !ok && r.URL.Path+"/" == Prefix:
			u := *r.URL
			u.Path = Prefix
			http.Redirect(w, r, u.RequestURI(), http.StatusMovedPermanently)
		case !ok:
			http.NotFound(w, r)
		case name == "" || name == "index.html":
			servePage(w, r, token)
		case name == "api":
			serveAPI(w, cfg)
		case assets[name] != "":
			body, err := files.ReadFile("page/" + name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			h.Set("Content-Type", assets[name])
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		default:
			http.NotFound(w, r)
		}
	})
}

// requestToken returns the bearer token of r, or its token parameter.
func requestToken(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	return r.URL.Query().Get("token")
}

// servePage writes the page; its file URLs carry the token when the page's
// did, since a browser sends no Authorization header for them.
func servePage(w http.ResponseWriter, r *http.Request, token string) {
	q := ""
	if token != "" && r.URL.Query().Get("token") != "" {
		q = "?token=" + url.QueryEscape(token)
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, struct{ Query string }{q}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pagePolicy)
	_, _ = w.Write(buf.Bytes())
}

// apiResponse is what /_inspect/api answers.
type apiResponse struct {
	Serving bool `json:"serving"`
	*engine.Snapshot
}

func serveAPI(w http.ResponseWriter, cfg Config) {
	resp := apiResponse{}
	if e := cfg.Engine(); e != nil {
		s := e.Inspect(cfg.Options)
		resp = apiResponse{Serving: true, Snapshot: &s}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// Mount returns a handler that sends requests under [Prefix] (and the
// prefix without its slash) to inspector and all others to next; a nil
// next answers them 404.
func Mount(inspector, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix) || r.URL.Path+"/" == Prefix {
			inspector.ServeHTTP(w, r)
			return
		}
		if next == nil {
			next = http.HandlerFunc(wsconn.NoPages) // as the host would answer without pages
		}
		next.ServeHTTP(w, r)
	})
}
