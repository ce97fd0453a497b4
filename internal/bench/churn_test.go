package bench_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/cli"
	"github.com/zocket-go/zocket/examples/actors/counter"
	"github.com/zocket-go/zocket/internal/bench"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

func checkChurn(t *testing.T, r *bench.Report, sessions int) {
	t.Helper()
	c := r.Churn
	if r.Mode != "churn" || c == nil {
		t.Fatalf("mode %q churn %+v", r.Mode, c)
	}
	if c.Sessions != sessions || c.Opened != sessions || c.Answered != sessions || c.Deaf != 0 || c.Failed != 0 || r.Errors != 0 {
		t.Fatalf("churn %+v errors %d (first error %q), want %d sessions all answered", c, r.Errors, r.FirstError, sessions)
	}
	if c.Connect.Count != uint64(sessions) || c.RPC.Count != uint64(sessions) || c.RPC.P50 <= 0 || c.ChurnS <= 0 || r.Calls != uint64(sessions) {
		t.Fatalf("latencies %+v %+v churn %vs calls %d", c.Connect, c.RPC, c.ChurnS, r.Calls)
	}
	if r.CPU.Cores <= 0 {
		t.Fatalf("cpu %+v", r.CPU)
	}
}

func TestChurn(t *testing.T) {
	t.Parallel()
	url := startServer(t)
	// 200/s for 200ms: sessions start at 0, 5, ..., 195 ms.
	r, err := bench.Churn(t.Context(), bench.ChurnConfig{URL: url, Rate: 200, Duration: 200 * time.Millisecond, Concurrency: 4, Options: quiet})
	if err != nil {
		t.Fatal(err)
	}
	checkChurn(t, r, 40)
	if r.Churn.Concurrency != 4 || r.Churn.Consumers != nil || r.Actor != "counter" || r.Method != "increment" {
		t.Fatalf("report %+v churn %+v", r, r.Churn)
	}
}

// A server that welcomes but never answers leaves every session deaf; the
// command prints the report and fails.
func TestChurnDeaf(t *testing.T) {
	t.Parallel()
	var handlers sync.WaitGroup
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if err := ws.Write(r.Context(), websocket.MessageText, protocol.AppendWelcome(nil, "c")); err != nil {
			return
		}
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		ts.Close()
		handlers.Wait()
	})
	start := time.Now()
	stdout, _, err := runCommand(t, "churn", "-url", ts.URL, "-rate", "100", "-duration", "50ms", "-connect-timeout", "300ms", "-q")
	if !errors.Is(err, bench.ErrFailedRun) {
		t.Fatalf("error %v, want ErrFailedRun\n%s", err, stdout)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %v", el)
	}
	if !strings.Contains(stdout, "!!! 5 sessions deaf") {
		t.Fatalf("report does not flag the deaf sessions:\n%s", stdout)
	}
}

var (
	devWS   = regexp.MustCompile(`websocket\s+(ws://\S+/)`)
	devNATS = regexp.MustCompile(`NATS\s+(nats://\S+)`)
)

// startDev runs "zocket dev" (gateway, runtime and embedded NATS in this
// process) and returns its WebSocket and NATS URLs.
func startDev(t *testing.T) (wsURL, natsURL string) {
	t.Helper()
	app, err := zocket.NewApp(counter.Actor())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	out.init()
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, app, []string{"dev", "-port", "0", "-nats-port", "0"},
			cli.Env{Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }}, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	})
	failsafe := time.NewTimer(60 * time.Second)
	defer failsafe.Stop()
	for {
		s := out.String()
		if w, n := devWS.FindStringSubmatch(s), devNATS.FindStringSubmatch(s); w != nil && n != nil {
			return w[1], n[1]
		}
		select {
		case <-out.wrote:
		case err := <-done:
			done <- err
			t.Fatalf("dev exited early: %v\n%s", err, s)
		case <-failsafe.C:
			t.Fatalf("dev printed no URLs:\n%s", s)
		}
	}
}

// Against the distributed stack every session gets its own OUTBOUND
// consumer; after the run they are all gone.
func TestChurnDistributed(t *testing.T) {
	t.Parallel()
	wsURL, natsURL := startDev(t)
	stdout, stderr, err := runCommand(t, "churn", "-url", wsURL, "-nats", natsURL, "-rate", "100", "-duration", "300ms", "-json", "-q")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	var r bench.Report
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("output is not one Report: %v\n%s", err, stdout)
	}
	checkChurn(t, &r, 30)
	k := r.Churn.Consumers
	if k == nil || k.Stream != "OUTBOUND" || k.After != k.Before || k.LeftBehind != 0 || k.Err != "" || k.Peak < k.Before {
		t.Fatalf("consumers %+v", k)
	}

	// A consumer created on OUTBOUND during a run (after the baseline) and
	// never removed is reported as left behind, after the bounded wait.
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var progress syncBuffer
	progress.init()
	opts := quiet
	opts.Progress, opts.ProgressInterval = &progress, 10*time.Millisecond
	type result struct {
		r   *bench.Report
		err error
	}
	res := make(chan result, 1)
	go func() {
		r, err := bench.Churn(t.Context(), bench.ChurnConfig{URL: wsURL, NATSURL: natsURL, Rate: 20, Duration: time.Second,
			ConsumerWait: 300 * time.Millisecond, Options: opts})
		res <- result{r, err}
	}()
	<-progress.wrote // the baseline is counted before the first progress line
	if _, err := js.CreateConsumer(t.Context(), natstransport.OutboundStream, jetstream.ConsumerConfig{Durable: "bench-leftover"}); err != nil {
		t.Fatal(err)
	}
	got := <-res
	if got.err != nil {
		t.Fatal(got.err)
	}
	k = got.r.Churn.Consumers
	if k.LeftBehind != 1 || k.After != k.Before+1 || k.WaitS < 0.3 || got.r.Churn.Deaf != 0 {
		t.Fatalf("consumers %+v churn %+v", k, got.r.Churn)
	}
	var buf strings.Builder
	if err := got.r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "!!! LEFT BEHIND: 1 consumers") {
		t.Fatalf("report does not flag the consumer:\n%s", buf.String())
	}
}
