package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Report statuses.
const (
	statusReady  = "ready"
	statusFailed = "failed"
)

// ReportPath is the control-plane endpoint, under Config.ControlPlaneURL,
// that receives a runtime's boot report.
const ReportPath = "/api/internal/runtime/report"

// reportBody is the JSON of a boot report (the runtime contract, docs/ARCHITECTURE.md).
type reportBody struct {
	DeploymentID string   `json:"deploymentId"`
	Status       string   `json:"status"`
	ActorTypes   []string `json:"actorTypes,omitempty"`
	Message      string   `json:"message,omitempty"`
}

// reportAttempts bounds the tries of one report; a report that still
// fails is logged, never fatal.
const reportAttempts = 3

// report tells the control plane, if one is configured, that boot ended
// with status. It retries briefly and gives up when ctx is done.
func (rt *Runtime) report(ctx context.Context, status, message string) {
	if rt.cfg.ControlPlaneURL == "" {
		return
	}
	body := reportBody{DeploymentID: rt.cfg.DeploymentID, Status: status, Message: message}
	if status == statusReady {
		body.ActorTypes = rt.names
	}
	data, err := json.Marshal(body)
	if err != nil { // strings only: cannot happen
		rt.log.LogAttrs(ctx, slog.LevelError, "encode report", slog.Any("err", err))
		return
	}
	url := rt.cfg.ControlPlaneURL + ReportPath
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err = rt.postReport(ctx, url, data)
		if err == nil {
			rt.log.LogAttrs(ctx, slog.LevelInfo, "reported to control plane", slog.String("status", status))
			return
		}
		if attempt == reportAttempts || ctx.Err() != nil {
			break
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		backoff *= 2
	}
	rt.log.LogAttrs(ctx, slog.LevelError, "control-plane report failed",
		slog.String("status", status), slog.String("url", url), slog.Any("err", err))
}

func (rt *Runtime) postReport(ctx context.Context, url string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultReportTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if rt.cfg.ControlPlaneToken != "" {
		req.Header.Set("Authorization", "Bearer "+rt.cfg.ControlPlaneToken)
	}
	resp, err := rt.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("control plane answered %s", resp.Status)
	}
	return nil
}
