package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/zocket-go/zocket/web"
)

func get(t *testing.T, srv *httptest.Server, method, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestHandlerServesFiles(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		path        string
		contentType string
		contains    string
	}{
		{"/zocket.js", "text/javascript; charset=utf-8", "export function connect"},
		{"/patch.js", "text/javascript; charset=utf-8", "export function applyPatch"},
		{"/zocket.d.ts", "application/typescript; charset=utf-8", "export declare function connect"},
		{"/patch.d.ts", "application/typescript; charset=utf-8", "export function applyPatch"},
		{"/", "text/html; charset=utf-8", `href="/counter.html"`},
		{"/index.html", "text/html; charset=utf-8", `href="/chat.html"`},
		{"/counter.html", "text/html; charset=utf-8", `id="count"`},
		{"/chat.html", "text/html; charset=utf-8", `id="messages"`},
		{"/canvas.html", "text/html; charset=utf-8", `id="canvas"`},
		{"/style.css", "text/css; charset=utf-8", ":root"},
		{"/demo.js", "text/javascript; charset=utf-8", "from '/zocket.js'"},
		{"/index.js", "text/javascript; charset=utf-8", "from '/demo.js'"},
		{"/counter.js", "text/javascript; charset=utf-8", "'counter'"},
		{"/chat.js", "text/javascript; charset=utf-8", "'chat'"},
		{"/canvas.js", "text/javascript; charset=utf-8", "'canvas'"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
		{"/react-core.js", "text/javascript; charset=utf-8", "export function bindReact"},
		{"/react-core.d.ts", "application/typescript; charset=utf-8", "export declare function bindReact"},
		{"/react.d.ts", "application/typescript; charset=utf-8", "export declare function useActorState"},
		{"/react.html", "text/html; charset=utf-8", `src="/react-demo.js"`},
		{"/react-demo.js", "text/javascript; charset=utf-8", "from '/react-core.js'"},
		{"/react.production.min.js", "text/javascript; charset=utf-8", "react.production.min.js"},
		{"/react-dom.production.min.js", "text/javascript; charset=utf-8", "react-dom.production.min.js"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, srv, http.MethodGet, tt.path, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if resp.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

func TestHandlerHeaders(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	resp, _ := get(t, srv, http.MethodGet, "/zocket.js", nil)
	if got := resp.Header.Get("X-TypeScript-Types"); got != "/zocket.d.ts" {
		t.Errorf("X-TypeScript-Types %q, want /zocket.d.ts", got)
	}
	resp, _ = get(t, srv, http.MethodGet, "/counter.html", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q lacks default-src 'self'", csp)
	}
}

func TestHandlerRevalidation(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	resp, _ := get(t, srv, http.MethodGet, "/zocket.js", nil)
	etag := resp.Header.Get("ETag")
	resp, body := get(t, srv, http.MethodGet, "/zocket.js", http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("conditional GET: status %d with %d bytes, want 304 and none", resp.StatusCode, len(body))
	}
	other, _ := get(t, srv, http.MethodGet, "/patch.js", nil)
	if other.Header.Get("ETag") == etag {
		t.Error("different files share an ETag")
	}
}

func TestHandlerHead(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	resp, body := get(t, srv, http.MethodHead, "/", nil)
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD /: status %d with %d bytes, want 200 and none", resp.StatusCode, len(body))
	}
	if resp.ContentLength <= 0 {
		t.Errorf("HEAD /: Content-Length %d", resp.ContentLength)
	}
}

func TestHandlerRejects(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	for _, path := range []string{
		"/nope", "/zocket", "/client/zocket.js", "/demo/index.html", "/package.json",
		"/test/client.test.js", "/embed.go", "/counter.html/", "/../embed.go", "/LICENSE",
		"/react.js", "/react.LICENSE.txt", // react.js imports 'react': for bundlers, not browsers
	} {
		resp, _ := get(t, srv, http.MethodGet, path, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp, _ := get(t, srv, method, "/zocket.js", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /zocket.js: status %d, want 405", method, resp.StatusCode)
		}
		if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s /zocket.js: Allow %q", method, got)
		}
	}
}

// TestLocalReferencesResolve checks that every root-relative or relative URL
// the pages and modules load (imports, src, href) is served, so a renamed
// file cannot break a page silently.
func TestLocalReferencesResolve(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)

	refs := regexp.MustCompile(`(?:from\s+|import\s*\(\s*|(?:src|href)=)["']((?:/|\./)[^"'?#]*)`)
	for _, page := range []string{
		"/", "/counter.html", "/chat.html", "/canvas.html",
		"/zocket.js", "/patch.js", "/demo.js", "/index.js", "/counter.js", "/chat.js", "/canvas.js",
		"/zocket.d.ts",
		"/react.html", "/react-demo.js", "/react-core.js", "/react-core.d.ts",
	} {
		_, body := get(t, srv, http.MethodGet, page, nil)
		found := refs.FindAllStringSubmatch(body, -1)
		if strings.HasSuffix(page, ".html") || page == "/" {
			if len(found) == 0 {
				t.Errorf("%s: no local references found; is the pattern still right?", page)
			}
		}
		for _, m := range found {
			ref := m[1]
			if strings.HasPrefix(ref, "./") {
				ref = "/" + strings.TrimPrefix(ref, "./") // every served file sits at the root
				if strings.HasSuffix(page, ".d.ts") {
					ref = strings.TrimSuffix(ref, ".js") + ".d.ts"
				}
			}
			resp, _ := get(t, srv, http.MethodGet, ref, nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s references %s: status %d", page, m[1], resp.StatusCode)
			}
		}
	}
}
