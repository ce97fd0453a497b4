package cli

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/zocket-go/zocket/natstransport"
)

// streamFlags adds the INBOUND/OUTBOUND settings shared by every role.
func (f *flags) streamFlags() func() (natstransport.StreamSettings, error) {
	storage := f.String("stream-storage", "STREAM_STORAGE", "memory", "storage of INBOUND and OUTBOUND: memory or file")
	replicas := f.String("stream-replicas", "STREAM_REPLICAS", "1", "replicas of both streams (3 on a NATS cluster)")
	inAge := f.String("inbound-max-age", "INBOUND_MAX_AGE", "60s", "max age of INBOUND messages")
	outAge := f.String("outbound-max-age", "OUTBOUND_MAX_AGE", "30s", "max age of OUTBOUND messages")
	outConsumers := f.String("outbound-max-consumers", "OUTBOUND_MAX_CONSUMERS", strconv.Itoa(natstransport.DefaultOutboundMaxConsumers),
		"max consumers on OUTBOUND (one per open session)")
	return func() (natstransport.StreamSettings, error) {
		var s natstransport.StreamSettings
		var err error
		if s.Storage, err = natstransport.ParseStorage(*storage); err != nil {
			return s, fmt.Errorf("%w: -stream-storage: %v", ErrUsage, err)
		}
		if s.Replicas, err = strconv.Atoi(*replicas); err != nil {
			return s, fmt.Errorf("%w: -stream-replicas %q: not a number", ErrUsage, *replicas)
		}
		if s.InboundMaxAge, err = time.ParseDuration(*inAge); err != nil {
			return s, fmt.Errorf("%w: -inbound-max-age: %v", ErrUsage, err)
		}
		if s.OutboundMaxAge, err = time.ParseDuration(*outAge); err != nil {
			return s, fmt.Errorf("%w: -outbound-max-age: %v", ErrUsage, err)
		}
		if s.OutboundMaxConsumers, err = strconv.Atoi(*outConsumers); err != nil {
			return s, fmt.Errorf("%w: -outbound-max-consumers %q: not a number", ErrUsage, *outConsumers)
		}
		if err := s.Validate(); err != nil {
			return s, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		return s, nil
	}
}

// connectNATS connects with unlimited reconnects: roles outlive NATS
// restarts. opts (credentials, TLS) come after the command's own. The
// caller closes the connection.
func connectNATS(url, name string, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("NATS disconnected", slog.Any("err", err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", slog.String("url", nc.ConnectedUrlRedacted()))
		}),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// NATSAuth is how a command authenticates to NATS and secures its
// connection. The zero value adds nothing: no credentials, and TLS only if
// the URL asks for it (tls://) with the system's CAs.
type NATSAuth struct {
	// Creds is a credentials file (a user JWT and its nkey seed, as nsc
	// writes them), for servers in operator mode.
	Creds string
	// NKey is a file holding a user nkey seed ("SU..."), for servers that
	// list users by their nkey.
	NKey string
	// TLSCA is a PEM file of the certificate authorities that sign the
	// server's certificate; setting it requires TLS.
	TLSCA string
	// TLSCert and TLSKey are the PEM files of a client certificate and its
	// private key, for servers that verify clients; setting them requires
	// TLS.
	TLSCert, TLSKey string
}

// The NATS flags and their environment variables.
var natsAuthFlags = [...]struct{ flag, env, usage string }{
	{"nats-creds", "NATS_CREDS", "NATS credentials file (user JWT and nkey seed)"},
	{"nats-nkey", "NATS_NKEY", "file holding a NATS user nkey seed"},
	{"nats-tls-ca", "NATS_TLS_CA", "PEM file of the CAs that sign the NATS server's certificate (requires TLS)"},
	{"nats-tls-cert", "NATS_TLS_CERT", "PEM file of a client certificate for NATS (with -nats-tls-key; requires TLS)"},
	{"nats-tls-key", "NATS_TLS_KEY", "PEM file of the private key of -nats-tls-cert"},
}

// AddNATSAuthFlags defines -nats-creds, -nats-nkey, -nats-tls-ca,
// -nats-tls-cert and -nats-tls-key on fs, whose defaults are the
// environment variables NATS_CREDS, NATS_NKEY, NATS_TLS_CA, NATS_TLS_CERT
// and NATS_TLS_KEY read with getenv (nil means os.Getenv). The NATSAuth
// returned holds their values once fs is parsed.
func AddNATSAuthFlags(fs *flag.FlagSet, getenv func(string) string) *NATSAuth {
	if getenv == nil {
		getenv = os.Getenv
	}
	a := &NATSAuth{}
	for i, dst := range [...]*string{&a.Creds, &a.NKey, &a.TLSCA, &a.TLSCert, &a.TLSKey} {
		f := natsAuthFlags[i]
		fs.StringVar(dst, f.flag, getenv(f.env), f.usage+" ["+f.env+"]")
	}
	return a
}

// IsZero reports whether a sets nothing.
func (a NATSAuth) IsZero() bool { return a == NATSAuth{} }

// Options reads the files a names and returns the nats.Connect options
// that use them, so that a missing or unreadable file is reported at once,
// by flag and path, instead of as a failed connection. Combinations that
// cannot work (credentials and an nkey, a certificate without its key)
// wrap ErrUsage.
func (a NATSAuth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case a.Creds != "" && a.NKey != "":
		return nil, fmt.Errorf("%w: -nats-creds and -nats-nkey: give one of them", ErrUsage)
	case (a.TLSCert == "") != (a.TLSKey == ""):
		return nil, fmt.Errorf("%w: -nats-tls-cert and -nats-tls-key go together", ErrUsage)
	case a.Creds != "":
		// nats.go reads the file at each (re)connect; check it now, so that
		// a wrong path fails at once.
		if err := readable(a.Creds); err != nil {
			return nil, fmt.Errorf("NATS credentials (-nats-creds, NATS_CREDS): %w", err)
		}
		opts = append(opts, nats.UserCredentials(a.Creds))
	case a.NKey != "":
		if err := readable(a.NKey); err != nil {
			return nil, fmt.Errorf("NATS nkey seed (-nats-nkey, NATS_NKEY): %w", err)
		}
		opt, err := nats.NkeyOptionFromSeed(a.NKey) // reads it again for each signature
		if err != nil {
			return nil, fmt.Errorf("NATS nkey seed (-nats-nkey, NATS_NKEY) %s: %w", a.NKey, err)
		}
		opts = append(opts, opt)
	}
	if a.TLSCA == "" && a.TLSCert == "" {
		return opts, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.TLSCA != "" {
		pem, err := os.ReadFile(a.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("NATS TLS CAs (-nats-tls-ca, NATS_TLS_CA): %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("NATS TLS CAs (-nats-tls-ca, NATS_TLS_CA) %s: no PEM certificate in it", a.TLSCA)
		}
	}
	if a.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.TLSCert, a.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("NATS TLS client certificate (-nats-tls-cert, -nats-tls-key): %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return append(opts, nats.Secure(cfg)), nil
}

// readable reports why the file at path cannot be read, if it cannot.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}
