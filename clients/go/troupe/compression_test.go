package troupe_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/clients/go/troupe"
)

// TestCompressedAndPlainClientsInOneRoom: a client with Compression and one
// without share a room; each gets the other's long messages (which the
// server deflates once for the compressed client and sends plain to the
// other) and the compressed client's deflated sends are stored as sent.
func TestCompressedAndPlainClientsInOneRoom(t *testing.T) {
	_, url := startServer(t)
	ctx := testCtx(t)
	zed, zedEv := dial(t, url, troupe.Options{Name: "zed", Compression: true})
	pat, patEv := dial(t, url, troupe.Options{Name: "pat"})
	for _, c := range []*troupe.Client{zed, pat} {
		if _, err := c.Join(ctx, "mixed"); err != nil {
			t.Fatal(err)
		}
	}
	long := strings.Repeat("compressible ", 100)
	data := json.RawMessage(`{"blob":"` + strings.Repeat("x", 4000) + `"}`)
	for _, tc := range []struct {
		from *troupe.Client
		to   *recorder
	}{{zed, patEv}, {pat, zedEv}} {
		ack, err := tc.from.Send(ctx, "mixed", troupe.Message{Text: long, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		got := await[troupe.MessageEvent](t, tc.to, "the long message", func(m troupe.MessageEvent) bool { return m.ID == ack.MsgID })
		if got.Text != long || string(got.Data) != string(data) {
			t.Fatalf("got %d text bytes and %d data bytes, want %d and %d", len(got.Text), len(got.Data), len(long), len(data))
		}
	}
	page, err := pat.History(ctx, "mixed", troupe.HistoryQuery{Limit: 10})
	if err != nil || len(page.Messages) != 2 || page.Messages[0].Text != long {
		t.Fatalf("history = %d messages, %v", len(page.Messages), err)
	}
}
