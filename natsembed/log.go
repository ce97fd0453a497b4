package natsembed

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

// levelTrace is the slog level of nats-server trace lines.
const levelTrace = slog.LevelDebug - 4

// setLogger routes the server's log to l. Debug and trace lines are
// produced only when l has those levels enabled.
func setLogger(ns *server.Server, l *slog.Logger) {
	l = l.With("component", "nats-server")
	ctx := context.Background()
	ns.SetLoggerV2(slogAdapter{l}, l.Enabled(ctx, slog.LevelDebug), l.Enabled(ctx, levelTrace), false)
}

// slogAdapter implements server.Logger on a slog.Logger. Fatalf logs at
// Error and never exits the process.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.log(slog.LevelInfo, format, v) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.log(slog.LevelWarn, format, v) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.log(slog.LevelError, format, v) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.log(slog.LevelError, format, v) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.log(slog.LevelDebug, format, v) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.log(levelTrace, format, v) }

func (a slogAdapter) log(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, fmt.Sprintf(format, v...))
}
