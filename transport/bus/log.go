package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// LevelTrace is the slog level at which the embedded server's trace lines
// (every protocol message) are logged. The server produces them only when the
// logger is enabled at this level.
const LevelTrace = slog.LevelDebug - 4

// serverLogger adapts nats-server's Logger interface to log/slog.
//
// Notices are logged at Info, warnings at Warn, errors at Error, debug lines
// at Debug and traces at [LevelTrace]. Fatal lines are logged at Error with
// fatal=true and never exit the process (nats-server's own loggers call
// os.Exit): the first one is kept so that [StartEmbedded] can report why the
// server did not start.
type serverLogger struct {
	log *slog.Logger

	mu    sync.Mutex
	fatal error // first fatal line, nil if none
}

func newServerLogger(log *slog.Logger) *serverLogger {
	return &serverLogger{log: log}
}

func (l *serverLogger) logf(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, v...))
}

// Noticef implements server.Logger.
func (l *serverLogger) Noticef(format string, v ...any) { l.logf(slog.LevelInfo, format, v) }

// Warnf implements server.Logger.
func (l *serverLogger) Warnf(format string, v ...any) { l.logf(slog.LevelWarn, format, v) }

// Errorf implements server.Logger.
func (l *serverLogger) Errorf(format string, v ...any) { l.logf(slog.LevelError, format, v) }

// Debugf implements server.Logger.
func (l *serverLogger) Debugf(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }

// Tracef implements server.Logger.
func (l *serverLogger) Tracef(format string, v ...any) { l.logf(LevelTrace, format, v) }

// Fatalf implements server.Logger. It logs and records the error; it does not
// exit.
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "fatal", true)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal == nil {
		l.fatal = fmt.Errorf("nats-server: %s", msg)
	}
}

// fatalErr returns the first fatal line as an error, or nil.
func (l *serverLogger) fatalErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}
