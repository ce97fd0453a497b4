package cli_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/internal/testcert"
)

// TestServeTLS: with -tls-cert and -tls-key, serve speaks wss:// and a
// client that trusts the certificate calls through it.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, cert := testcert.SelfSigned(t, t.TempDir(), 1)
	url, stop := started(t, counterApp(t), map[string]string{"PORT": "0", "TLS_CERT_FILE": certFile}, regexp.MustCompile(`(wss://[^/\s]+/)`),
		"serve", "-tls-key", keyFile)
	defer stop()

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, &client.Options{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close()
	if n, err := client.CallT[int](ctx, c.Actor("counter", "tls"), "increment", nil); err != nil || n != 1 {
		t.Fatalf("increment over TLS: %d, %v", n, err)
	}
	// A client that does not trust the certificate is refused by its own TLS.
	if _, err := client.Dial(ctx, url, &client.Options{DialTimeout: 5 * time.Second}); err == nil {
		t.Fatal("dial without trusting the certificate succeeded")
	}
}
