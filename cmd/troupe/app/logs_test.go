package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/cmd/troupe/app"
	"github.com/troupe-chat/troupe/configs"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestLogs checks the structured logs operators rely on, at debug level and
// in JSON: one line per connection opened and closed (with code and
// duration), a line per room restart and per drill, and never a message body.
func TestLogs(t *testing.T) {
	cfg, err := configs.Load([]string{
		"--addr", "127.0.0.1:0", "--store", "sqlite://" + filepath.Join(t.TempDir(), "troupe.db"),
		"--log-level", "debug", "--log-format", "json", "--api-key", testAPIKey,
	}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	a, err := app.Start(context.Background(), cfg, app.NewLogger(cfg, &logs))
	if err != nil {
		t.Fatal(err)
	}
	addr := a.Addr.String()
	const secret = "SECRET-BODY-7f3a"
	c, _ := joinedClient(t, addr, "logger", "logged")
	if ack := c.request(map[string]any{"type": "send", "room": "logged", "text": secret, "data": map[string]any{"s": secret}}); ack["type"] != "ack" {
		t.Fatalf("send: %v", ack)
	}
	c.request(map[string]any{"type": "direct", "to": "nobody", "text": secret})
	runDrill(t, addr, `{"kind":"room-crash","room":"logged"}`)
	c.nextOfType("system")
	if err := c.conn.WriteClose(1000, nil); err != nil {
		t.Fatal(err)
	}
	c.waitClose()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	found := map[string]bool{}
	for _, l := range logs.lines() {
		msg, _ := l["msg"].(string)
		switch msg {
		case "connection opened":
			found[msg] = found[msg] || l["ip"] != nil
		case "connection closed":
			found[msg] = found[msg] || (l["code"] != nil && l["duration"] != nil)
		case "room restarted", "drill started", "drill ended":
			found[msg] = true
		}
	}
	for _, want := range []string{"connection opened", "connection closed", "room restarted", "drill started", "drill ended"} {
		if !found[want] {
			for _, l := range logs.lines() {
				if l["msg"] == want {
					t.Logf("%v", l)
				}
			}
			t.Errorf("no %q line with its fields", want)
		}
	}
	logs.mu.Lock()
	leaked := strings.Contains(logs.buf.String(), secret)
	logs.mu.Unlock()
	if leaked {
		t.Error("a message body reached the logs")
	}
}
