package cli_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestServeExportsTraces: with -otlp-endpoint, serve sends the spans of
// its calls to an OTLP/HTTP collector (flushed when it stops at the
// latest).
func TestServeExportsTraces(t *testing.T) {
	var posts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" && r.ContentLength != 0 {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	url, stop := started(t, counterApp(t), map[string]string{"PORT": "0", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}, wsLine, "serve")
	if n := increment(t, url); n != 1 {
		t.Fatalf("increment = %d", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if posts.Load() == 0 {
		t.Fatal("the collector received no traces")
	}
}
