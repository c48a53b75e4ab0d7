// Package apptest starts real troupe servers for the tests of other packages
// (the load tool, the drill tool, the Go client, the Grafana check).
package apptest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/cmd/troupe/app"
	"github.com/troupe-chat/troupe/configs"
)

// Start runs a troupe server on 127.0.0.1:0 with a SQLite store in t's temp
// dir and error-level logs, plus flags (a flag given again wins), and shuts
// it down when t ends.
func Start(t testing.TB, flags ...string) *app.App {
	t.Helper()
	args := append([]string{
		"--addr", "127.0.0.1:0",
		"--store", "sqlite://" + filepath.Join(t.TempDir(), "troupe.db"),
		"--log-level", "error",
	}, flags...)
	cfg, err := configs.Load(args, func(string) string { return "" })
	if err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	a, err := app.Start(context.Background(), cfg, app.NewLogger(cfg, os.Stderr))
	if err != nil {
		t.Fatalf("apptest: start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("apptest: shutdown: %v", err)
		}
	})
	return a
}

// URL returns the base URL of a server Start returned.
func URL(a *app.App) string { return "http://" + a.Addr.String() }
