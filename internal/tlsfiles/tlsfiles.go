// Package tlsfiles serves a TLS certificate from PEM files and reloads it
// when the files change, so that a server renews its certificate (as
// certbot or cert-manager rewrite the files) without a restart.
package tlsfiles

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// checkEvery bounds how often the files are looked at: a handshake costs
// two stat calls at most once a second.
const checkEvery = time.Second

// Loader holds the certificate of a certificate file and a key file.
type Loader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time // modification times of the files loaded
	checked time.Time
}

// New loads the certificate (a PEM chain) and its key. It fails when the
// files cannot be read or do not match.
func New(certFile, keyFile string, log *slog.Logger) (*Loader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Loader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	stamp, err := l.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	l.cert, l.stamp, l.checked = &cert, stamp, l.now()
	return l, nil
}

func (l *Loader) stamps() ([2]time.Time, error) {
	var s [2]time.Time
	for i, f := range []string{l.certFile, l.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return s, fmt.Errorf("tls: %w", err)
		}
		s[i] = fi.ModTime()
	}
	return s, nil
}

// Certificate returns the current certificate, reloading it first when a
// file changed since it was loaded. A reload that fails (a half-written
// file, a key that does not match yet) keeps the old certificate, is
// logged, and is tried again at the next check.
func (l *Loader) Certificate() *tls.Certificate {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.checked) < checkEvery {
		return l.cert
	}
	l.checked = now
	stamp, err := l.stamps()
	if err != nil || stamp == l.stamp {
		return l.cert
	}
	cert, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		l.log.Warn("TLS certificate not reloaded; serving the previous one", "cert", l.certFile, "err", err)
		return l.cert
	}
	l.cert, l.stamp = &cert, stamp
	l.log.Info("TLS certificate reloaded", "cert", l.certFile)
	return l.cert
}

// Config returns a server TLS configuration that serves the certificate:
// TLS 1.2 or newer, HTTP/1.1 (WebSocket upgrades need it).
func (l *Loader) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return l.Certificate(), nil
		},
	}
}
