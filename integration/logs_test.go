package integration

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/gateway"
	"github.com/zocket-go/zocket/internal/syncbuf"
	"github.com/zocket-go/zocket/runtime"
	"github.com/zocket-go/zocket/standalone"
)

// jsonLog collects a JSON logger's records.
type jsonLog struct{ syncbuf.Buffer }

func (l *jsonLog) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// find returns the first record with msg whose attributes include want.
func (l *jsonLog) find(msg string, want map[string]string) map[string]any {
records:
	for line := range strings.SplitSeq(l.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != msg {
			continue
		}
		for k, v := range want {
			if rec[k] != v {
				continue records
			}
		}
		return rec
	}
	return nil
}

// A call's lines carry its workspace, project, session, actor type, actor
// id and request id in every process it passes through, and the request
// id is the same in the gateway's lines and the runtime's: it travels in
// the Zocket-Request header.
func TestRequestIDInLogs(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	var gwLog, rtLog jsonLog
	d := startDistributed(t, app, distOptions{
		gwConfig: gateway.Config{Logger: gwLog.logger()},
		rtConfig: runtime.Config{Logger: rtLog.logger()},
	})
	ctx := waitCtx(t)
	c := dial(t, d.URL, nil)
	if err := c.Actor("counter", "logged").Call(ctx, "crash", nil, nil); err == nil {
		t.Fatal("crash succeeded")
	}
	session := c.ID()
	var failed map[string]any
	eventually(t, ctx, "the runtime's \"call failed\" line", func() (bool, string) {
		failed = rtLog.find("request failed", map[string]string{"session_id": session})
		return failed != nil, ""
	})
	for k, v := range map[string]string{"ws": testScope.WorkspaceID, "proj": testScope.ProjectID, "actor": "counter",
		"actor_id": "logged", "method": "crash", "component": "runtime"} {
		if failed[k] != v {
			t.Errorf("runtime's call failed: %s = %v, want %q (%v)", k, failed[k], v, failed)
		}
	}
	rid, _ := failed["request_id"].(string)
	if !strings.HasPrefix(rid, session+"-") {
		t.Fatalf("runtime's request_id %q is not the session's", rid)
	}
	frame := gwLog.find("frame", map[string]string{"request_id": rid})
	if frame == nil {
		t.Fatalf("no gateway line with request_id %s", rid)
	}
	for k, v := range map[string]string{"ws": testScope.WorkspaceID, "proj": testScope.ProjectID, "session_id": session,
		"actor": "counter", "actor_id": "logged", "method": "crash", "component": "gateway"} {
		if frame[k] != v {
			t.Errorf("gateway's frame: %s = %v, want %q (%v)", k, frame[k], v, frame)
		}
	}
}

// The standalone server mints the request id itself.
func TestRequestIDInLogsStandalone(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	var log jsonLog
	srv, err := standalone.New(app, standalone.Config{Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	ctx := waitCtx(t)
	c := dial(t, wsURL(hs.URL), &client.Options{})
	if err := c.Actor("counter", "logged").Call(ctx, "crash", nil, nil); err == nil {
		t.Fatal("crash succeeded")
	}
	session := c.ID()
	failed := log.find("request failed", map[string]string{"session_id": session, "actor": "counter",
		"actor_id": "logged", "method": "crash"})
	if failed == nil {
		t.Fatal("no \"call failed\" line with the call's session, actor, actor id and method")
	}
	rid, _ := failed["request_id"].(string)
	if frame := log.find("frame", map[string]string{"request_id": rid, "session_id": session}); !strings.HasPrefix(rid, session+"-") || frame == nil {
		t.Fatalf("request_id %q: not the session's, or not on the line of its frame", rid)
	}
}
