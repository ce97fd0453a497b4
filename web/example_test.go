package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/zocket-go/zocket/web"
)

// A host serves the pages beside its WebSocket endpoint: upgrade requests
// to "/" go to the WebSocket handler, everything else to web.Handler.
func ExampleHandler() {
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "a real host upgrades here", http.StatusNotImplemented)
	})
	pages := web.Handler()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			ws.ServeHTTP(w, r)
			return
		}
		pages.ServeHTTP(w, r)
	})

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/zocket.js")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	// Output: 200 text/javascript; charset=utf-8
}
