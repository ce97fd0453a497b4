package tlsfiles

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zocket-go/zocket/internal/testcert"
)

// writePair writes a self-signed certificate with serial and its key to
// dir/cert.pem and dir/key.pem, and dates both files at mod.
func writePair(t *testing.T, dir string, serial int64, mod time.Time) {
	t.Helper()
	certFile, keyFile, _ := testcert.SelfSigned(t, dir, serial)
	for _, p := range []string{certFile, keyFile} {
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// served handshakes with a server using l and returns the certificate's
// serial number.
func served(t *testing.T, l *Loader) int64 {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", l.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) // we check the serial ourselves
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	start := time.Now().Add(-time.Minute)
	writePair(t, dir, 1, start)
	l, err := New(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	l.now = func() time.Time { return clock }
	if s := served(t, l); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}

	// Renewed files: served from the next check on, not before.
	writePair(t, dir, 2, start.Add(time.Second))
	if s := served(t, l); s != 1 {
		t.Fatalf("serial %d within a second of the last check, want 1", s)
	}
	clock = clock.Add(checkEvery)
	if s := served(t, l); s != 2 {
		t.Fatalf("serial %d after the renewal, want 2", s)
	}

	// A half-written renewal (cert and key do not match) keeps serving the
	// previous pair.
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(checkEvery)
	if s := served(t, l); s != 2 {
		t.Fatalf("serial %d after a broken renewal, want 2 still", s)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key"), nil); err == nil {
		t.Fatal("missing files accepted")
	}
	writePair(t, dir, 1, time.Now())
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), nil); err == nil {
		t.Fatal("a key that is no key accepted")
	}
}
