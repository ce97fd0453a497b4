package bench_test

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/internal/bench"
)

// A user nkey made for these tests: its seed, and the public key a server
// lists.
const (
	testNKeySeed = "SUABBU64GG3KL35BDQE3HWBK4QFGVS4N74S7J4VTXQCZHWMIFAQH2UMETA"
	testNKeyUser = "UBWMLPEILBRNZJ3NWTBOF6QJJIL256WXR3J7TUVYXDPGVQEADIMLTCJW"
)

// The JetStream floor runs against a server that wants an nkey, with the
// seed given by flag.
func TestFloorWithNKey(t *testing.T) {
	t.Parallel()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, Nkeys: []*server.NkeyUser{{Nkey: testNKeyUser}}})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	url := "nats://127.0.0.1:" + strconv.Itoa(ns.Addr().(*net.TCPAddr).Port)
	seed := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seed, []byte(testNKeySeed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCommand(t, "floor", "-kind", "jetstream-core", "-nats", url, "-nats-nkey", seed,
		"-clients", "1", "-duration", "300ms", "-warmup", "0s", "-json", "-q")
	if err != nil {
		t.Fatalf("floor: %v\n%s", err, stderr)
	}
	var r bench.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Calls == 0 {
		t.Fatalf("report %s (%v), want calls", stdout, err)
	}
	// Without the seed, the server refuses the floor.
	if _, _, err := runCommand(t, "floor", "-kind", "jetstream-core", "-nats", url, "-q", "-connect-timeout", "2s"); !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("floor without the seed: %v, want an authorization error", err)
	}
}

// The modes that connect to NATS take its credentials and TLS flags, and
// report a missing file, or flags that clash, before running anything.
func TestCommandNATSAuthFlags(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.creds")
	seed := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seed, []byte("not a seed"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"floor", "-kind", "jetstream", "-nats", "nats://127.0.0.1:1", "-nats-creds", missing}, "NATS credentials (-nats-creds, NATS_CREDS): open " + missing, false},
		{[]string{"churn", "-url", "ws://127.0.0.1:1/", "-nats", "nats://127.0.0.1:1", "-nats-tls-ca", missing}, "NATS TLS CAs (-nats-tls-ca, NATS_TLS_CA): open " + missing, false},
		{[]string{"rpc", "-url", "ws://127.0.0.1:1/", "-nats-nkey", seed}, "NATS nkey seed (-nats-nkey, NATS_NKEY) " + seed, false},
		{[]string{"floor", "-kind", "jetstream", "-nats-tls-key", seed}, "-nats-tls-cert and -nats-tls-key go together", true},
	} {
		_, stderr, err := runCommand(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, cli.ErrUsage) != tc.usage {
			t.Errorf("%v: error %v, want %q (usage error %v)", tc.args, err, tc.want, tc.usage)
		}
		if tc.usage && !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q lacks the usage error", tc.args, stderr)
		}
	}
	// The embedded server of the jetstream floors has no authentication.
	nk := filepath.Join(t.TempDir(), "ok.nk")
	if err := os.WriteFile(nk, []byte(testNKeySeed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCommand(t, "floor", "-kind", "jetstream", "-nats-nkey", nk, "-q")
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr, "need a NATS URL") {
		t.Errorf("floor with -nats-nkey and no -nats: %v (stderr %q), want a usage error", err, stderr)
	}
}
