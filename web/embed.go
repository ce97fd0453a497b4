package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// files holds the client package (only what a browser loads: react.js, which
// imports the bare specifier 'react', is for bundlers and stays out) and the
// demo pages. Tests and package metadata stay out of the binary.
//
//go:embed client/zocket.js client/patch.js client/zocket.d.ts client/patch.d.ts
//go:embed client/react-core.js client/react-core.d.ts client/react.d.ts
//go:embed demo
var files embed.FS

// asset is one servable file, prepared once.
type asset struct {
	body        []byte
	contentType string
	etag        string
	types       string // X-TypeScript-Types: the declarations of a .js module
}

// contentTypes maps file extensions to the Content-Type served for them.
// Only these extensions are served, so a stray file in demo/ never goes out
// with a guessed type.
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".ts":   "application/typescript; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// pagePolicy is the Content-Security-Policy of the HTML pages: same-origin
// scripts and styles only (the demos load nothing from elsewhere), WebSocket
// connections to any host so a page can also be pointed at another server.
const pagePolicy = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'self'; object-src 'none'"

var assets = sync.OnceValues(loadAssets)

// loadAssets maps each URL path to its asset: client files and demo files
// both at the root, since the pages import "/zocket.js" and zocket.js
// imports "./patch.js".
func loadAssets() (map[string]*asset, error) {
	m := make(map[string]*asset)
	add := func(urlPath, file string) error {
		body, err := files.ReadFile(file)
		if err != nil {
			return err
		}
		ext := path.Ext(file)
		ct, ok := contentTypes[ext]
		if !ok {
			return nil
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if ext == ".js" && strings.HasPrefix(file, "client/") {
			a.types = strings.TrimSuffix(urlPath, ".js") + ".d.ts"
		}
		m[urlPath] = a
		return nil
	}
	for _, dir := range []string{"client", "demo"} {
		entries, err := fs.ReadDir(files, dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			if err := add("/"+e.Name(), dir+"/"+e.Name()); err != nil {
				return nil, err
			}
		}
	}
	m["/"] = m["/index.html"]
	return m, nil
}

// Handler returns the handler of the client and demo files. It answers GET
// and HEAD with the file, Content-Type set from the extension, an ETag and
// "Cache-Control: no-cache" (browsers revalidate, so a rebuilt binary is
// picked up at once and an unchanged file costs a 304). Other methods get
// 405, unknown paths 404. It never upgrades WebSockets: mount it beside the
// WebSocket handler, not in front of it.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	m, err := assets()
	if err != nil { // only if the embedded tree is broken, which tests catch
		http.Error(w, "web: "+err.Error(), http.StatusInternalServerError)
		return
	}
	a, ok := m[r.URL.Path]
	if !ok || a == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.types != "" {
		h.Set("X-TypeScript-Types", a.types)
	}
	if strings.HasPrefix(a.contentType, "text/html") {
		h.Set("Content-Security-Policy", pagePolicy)
		h.Set("Referrer-Policy", "same-origin")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
