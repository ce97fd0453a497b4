package cli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/internal/testwait"
)

// A test user's nkey: its seed (what -nats-nkey reads) and public key
// (what the server lists). Made for these tests, used nowhere else.
const (
	testNKeySeed = "SUABBU64GG3KL35BDQE3HWBK4QFGVS4N74S7J4VTXQCZHWMIFAQH2UMETA"
	testNKeyUser = "UBWMLPEILBRNZJ3NWTBOF6QJJIL256WXR3J7TUVYXDPGVQEADIMLTCJW"
)

var gatewayLine = regexp.MustCompile(`zocket gateway: \S+ via (\S+)`)

// startRuntime runs the runtime command with args and env until it serves
// (GET /ready), checking that it says it is connected to url, and returns
// the function that stops it.
func startRuntime(t *testing.T, url string, env map[string]string, args ...string) func() error {
	t.Helper()
	line := regexp.MustCompile(`zocket runtime: \S+ on ` + regexp.QuoteMeta(url) + `, .*health at (http://\S+)/health`)
	base, stop := started(t, counterApp(t), env, line, append([]string{"runtime", "-api-port", "0"}, args...)...)
	testwait.For(t, 30*time.Second, "the runtime to serve", func() (bool, string) {
		resp, err := http.Get(base + "/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return stop
}

// runNATS starts a JetStream nats-server with opts (host, port, store and
// logging filled in) and returns its client port.
func runNATS(t *testing.T, opts *server.Options) int {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return ns.Addr().(*net.TCPAddr).Port
}

// pki is a test certificate authority and what it signed, as PEM files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyPEM := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zocket test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := leaf(3, x509.ExtKeyUsageClientAuth)
	return pki{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", srvDER),
		serverKey:  keyPEM("server-key.pem", srvKey),
		clientCert: write("client.pem", "CERTIFICATE", cliDER),
		clientKey:  keyPEM("client-key.pem", cliKey),
	}
}

// runCommand runs a command that must fail before it serves, and returns
// its error.
func runCommand(t *testing.T, env map[string]string, args ...string) error {
	t.Helper()
	err := cli.Run(t.Context(), counterApp(t), args, cli.Env{Getenv: func(k string) string { return env[k] }}, nil)
	if err == nil {
		t.Fatalf("%v: no error", args)
	}
	return err
}

// A server that takes TLS connections only, and wants a client
// certificate: the runtime and the gateway reach it with the TLS flags, or
// their environment variables.
func TestNATSOverTLS(t *testing.T) {
	p := newPKI(t)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey, CaFile: p.ca, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	port := runNATS(t, &server.Options{TLS: true, TLSVerify: true, TLSConfig: tc})
	url := "tls://127.0.0.1:" + strconv.Itoa(port)

	stop := startRuntime(t, url, nil, "-nats", url, "-nats-tls-ca", p.ca, "-nats-tls-cert", p.clientCert, "-nats-tls-key", p.clientKey)
	if err := stop(); err != nil {
		t.Fatalf("runtime returned %v after cancel", err)
	}
	env := map[string]string{"NATS_URL": url, "PORT": "0", "HOST": "127.0.0.1",
		"NATS_TLS_CA": p.ca, "NATS_TLS_CERT": p.clientCert, "NATS_TLS_KEY": p.clientKey}
	got, stop := started(t, counterApp(t), env, gatewayLine, "gateway")
	if got != url {
		t.Errorf("gateway connected to %q, want %q", got, url)
	}
	if err := stop(); err != nil {
		t.Fatalf("gateway returned %v after cancel", err)
	}

	// Without the client certificate, or without the CA, no connection.
	if err := runCommand(t, nil, "runtime", "-nats", url, "-api-port", "0", "-nats-tls-ca", p.ca); !strings.Contains(err.Error(), "connect to NATS") {
		t.Errorf("without a client certificate: %v, want a connection error", err)
	}
	err = runCommand(t, nil, "runtime", "-nats", url, "-api-port", "0", "-nats-tls-cert", p.clientCert, "-nats-tls-key", p.clientKey)
	if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("without the CA: %v, want an unknown authority error", err)
	}
}

// A server that lists its users by nkey: the seed file signs the runtime
// in.
func TestNATSWithNKey(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seed, []byte(testNKeySeed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := runNATS(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: testNKeyUser}}})
	url := "nats://127.0.0.1:" + strconv.Itoa(port)

	stop := startRuntime(t, url, map[string]string{"NATS_NKEY": seed}, "-nats", url)
	if err := stop(); err != nil {
		t.Fatalf("runtime returned %v after cancel", err)
	}
	_, stop = started(t, counterApp(t), map[string]string{"NATS_URL": url, "PORT": "0"}, wsLine, "dev", "-nats-nkey", seed)
	if err := stop(); err != nil {
		t.Fatalf("dev returned %v after cancel", err)
	}
	if err := runCommand(t, nil, "gateway", "-nats", url, "-port", "0"); !strings.Contains(err.Error(), "Authorization Violation") {
		t.Errorf("without the seed: %v, want an authorization error", err)
	}
}

// Files that are missing or hold the wrong thing are reported at once, by
// flag and path, before any connection is tried (the URL leads nowhere).
func TestNATSAuthFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		env   map[string]string
		want  string
		usage bool
	}{
		{args: []string{"-nats-creds", missing}, want: "NATS credentials (-nats-creds, NATS_CREDS): open " + missing},
		{env: map[string]string{"NATS_CREDS": missing}, want: "NATS credentials (-nats-creds, NATS_CREDS): open " + missing},
		{args: []string{"-nats-nkey", missing}, want: "NATS nkey seed (-nats-nkey, NATS_NKEY): open " + missing},
		{args: []string{"-nats-nkey", notPEM}, want: "NATS nkey seed (-nats-nkey, NATS_NKEY) " + notPEM + ":"},
		{args: []string{"-nats-tls-ca", missing}, want: "NATS TLS CAs (-nats-tls-ca, NATS_TLS_CA): open " + missing},
		{args: []string{"-nats-tls-ca", notPEM}, want: "no PEM certificate in it"},
		{args: []string{"-nats-tls-cert", missing, "-nats-tls-key", missing}, want: "NATS TLS client certificate (-nats-tls-cert, -nats-tls-key): open " + missing},
		{args: []string{"-nats-tls-cert", notPEM}, want: "-nats-tls-cert and -nats-tls-key go together", usage: true},
		{args: []string{"-nats-creds", notPEM, "-nats-nkey", notPEM}, want: "give one of them", usage: true},
	} {
		args := append([]string{"gateway", "-nats", "nats://127.0.0.1:1", "-port", "0"}, tc.args...)
		start := time.Now()
		err := runCommand(t, tc.env, args...)
		if !strings.Contains(err.Error(), tc.want) || errors.Is(err, cli.ErrUsage) != tc.usage || strings.Contains(err.Error(), "connect to NATS") {
			t.Errorf("%v %v: %v, want %q (usage error %v)", tc.args, tc.env, err, tc.want, tc.usage)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%v: took %v", tc.args, d)
		}
	}
	// The embedded server of dev has no authentication to give them to.
	if err := runCommand(t, nil, "dev", "-nats-port", "0", "-nats-creds", notPEM); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("dev with the embedded server and -nats-creds: %v, want a usage error", err)
	}
}
