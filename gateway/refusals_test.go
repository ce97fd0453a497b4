package gateway_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/gateway"
)

// A client refused again and again is soon refused at once (429 with
// Retry-After) without a control plane call, and logged once per window
// (refusals_internal_test.go checks the windows and other addresses).
func TestRefusedUpgradesLimitedPerAddress(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	cp := newControlPlane(t, func(w http.ResponseWriter, _ *http.Request, call authCall) {
		calls.Add(1)
		if string(call.body["token"]) == `"good"` {
			_, _ = w.Write([]byte(`{"workspaceId":"local-workspace","projectId":"local-project"}`))
			return
		}
		http.Error(w, "no", http.StatusUnauthorized)
	})
	// cp.seen holds the first 16 calls, more than this test lets through.
	var logs syncBuffer
	r := newRig(t, gateway.Config{ControlPlaneURL: cp.URL,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	const burst, attempts = 10, 300 // burst: the gateway's allowance per window of 10 s
	statuses := map[int]int{}
	var retryAfter string
	start := time.Now()
	for range attempts {
		status, header := dialForStatus(t, r.url+"?token=bad")
		statuses[status]++
		if status == http.StatusTooManyRequests {
			retryAfter = header.Get("Retry-After")
		}
	}
	elapsed := time.Since(start)
	if elapsed >= 10*time.Second {
		t.Skipf("%d refused upgrades took %v, longer than a window: the counts below would not hold", attempts, elapsed)
	}
	if statuses[http.StatusUnauthorized] != burst || statuses[http.StatusTooManyRequests] != attempts-burst {
		t.Fatalf("statuses %v, want %d × 401 then 429", statuses, burst)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 || n > 10 {
		t.Fatalf("Retry-After %q, want 1 to 10 seconds", retryAfter)
	}
	if n := calls.Load(); n != burst {
		t.Fatalf("control plane called %d times, want %d", n, burst)
	}
	if n := strings.Count(logs.String(), `"msg":"upgrade refused"`); n != 1 {
		t.Fatalf("%d upgrade refused lines, want 1:\n%s", n, logs.String())
	}
	if s := r.gw.Stats(); s.AuthRefused != burst {
		t.Fatalf("AuthRefused = %d, want %d", s.AuthRefused, burst)
	}

}

// dialForStatus tries a WebSocket upgrade and returns the response's
// status and header.
func dialForStatus(t *testing.T, url string) (int, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, nil)
	if err == nil {
		defer ws.CloseNow()
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	return resp.StatusCode, resp.Header
}
