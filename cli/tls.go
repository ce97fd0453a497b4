package cli

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/zocket-go/zocket/internal/tlsfiles"
)

// listener is how a command accepts connections: plain TCP, or TLS with
// -tls-cert and -tls-key.
type listener struct {
	tls *tls.Config // nil: plain
}

// listen listens on addr, with TLS when configured.
func (l listener) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	return ln, nil
}

// scheme returns plain or secure, whichever the listener serves.
func (l listener) scheme(plain, secure string) string {
	if l.tls != nil {
		return secure
	}
	return plain
}

// tlsFlags adds -tls-cert and -tls-key, for servers deployed without a
// proxy to terminate TLS, and returns their parser. The files are
// reloaded when they change (renewals need no restart).
func (f *flags) tlsFlags() func(log *slog.Logger) (listener, error) {
	cert := f.String("tls-cert", "TLS_CERT_FILE", "", "PEM certificate chain: serve TLS (wss://, https://) with it; reloaded when the file changes")
	key := f.String("tls-key", "TLS_KEY_FILE", "", "PEM private key of -tls-cert")
	return func(log *slog.Logger) (listener, error) {
		switch {
		case *cert == "" && *key == "":
			return listener{}, nil
		case *cert == "" || *key == "":
			return listener{}, fmt.Errorf("%w: -tls-cert and -tls-key go together", ErrUsage)
		}
		l, err := tlsfiles.New(*cert, *key, log)
		if err != nil {
			return listener{}, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		return listener{tls: l.Config()}, nil
	}
}

// front is how a command that accepts WebSockets meets its clients: who
// may connect (the authentication flags) and over what (the TLS flags).
type front struct {
	authSettings
	listener
}

// frontFlags adds the authentication and TLS flags (see authFlags,
// tlsFlags) and returns their parser; the caller defers front.close.
func (f *flags) frontFlags(gateway bool) func(log *slog.Logger) (front, error) {
	authn, secure := f.authFlags(gateway), f.tlsFlags()
	return func(log *slog.Logger) (front, error) {
		as, err := authn(log)
		if err != nil {
			return front{}, err
		}
		lis, err := secure(log)
		if err != nil {
			as.close()
			return front{}, err
		}
		return front{as, lis}, nil
	}
}
