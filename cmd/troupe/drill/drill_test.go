package drill

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
	"github.com/troupe-chat/troupe/cmd/troupe/app/apptest"
	"github.com/troupe-chat/troupe/persistence/pgtest"
)

const testKey = "drill-test-key"

func startServer(t *testing.T) string {
	t.Helper()
	return apptest.URL(apptest.Start(t, "--api-key", testKey))
}

// TestEveryDrillKindLosesNothing runs `troupe drill` with each fault kind
// against a real server and real clients: every message is acked, and
// every acked message reaches every member once, in order, with no gap.
func TestEveryDrillKindLosesNothing(t *testing.T) {
	drillEveryKind(t, startServer(t))
}

// TestEveryDrillKindLosesNothingOnPostgres runs the same drills against a
// server on a real PostgreSQL store: the store stall holds the database
// calls as a stalled PostgreSQL would, and nothing acked is lost.
func TestEveryDrillKindLosesNothingOnPostgres(t *testing.T) {
	dsn := pgtest.New(t).NewDatabase(t)
	drillEveryKind(t, apptest.URL(apptest.Start(t, "--api-key", testKey, "--store", dsn)))
}

// drillEveryKind drills the server at url with each fault kind in turn.
func drillEveryKind(t *testing.T, url string) {
	for _, kind := range drills.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			o := Options{URL: url, APIKey: testKey, Kinds: []drills.Kind{kind}, Clients: 10, Rooms: 2,
				Duration: 2 * time.Second, Rate: 10, Settle: 30 * time.Second, Crashes: 3}
			rep, err := Drill(context.Background(), o, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			rep.write(&out)
			if !rep.OK || rep.Messages.Acked != rep.Messages.Sent || len(rep.DrillErrors) > 0 {
				t.Fatalf("drill failed:\n%s", out.String())
			}
			if rep.Faults[string(kind)] == 0 {
				t.Fatalf("no %s fault was injected:\n%s", kind, out.String())
			}
			switch kind {
			case drills.RoomCrash, drills.UserCrash, drills.StoreStall:
				if rep.Recovery[string(kind)].Count == 0 {
					t.Fatalf("no recovery measured:\n%s", out.String())
				}
			case drills.ConnKill:
				if rep.Reconnects == 0 || rep.Reconnect.Count == 0 {
					t.Fatalf("no client reconnected after conn-kill:\n%s", out.String())
				}
			}
			t.Logf("\n%s", out.String())
		})
	}
}

func TestRunRefusesBadFlagsAndKeys(t *testing.T) {
	url := startServer(t)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--url", url}, 2, "--api-key is required"},
		{[]string{"--url", url, "--api-key", "wrong", "--duration", "1s"}, 2, "refused the API key"},
		{[]string{"--url", url, "--api-key", testKey, "--kinds", "meteor"}, 2, "unknown drill"},
		{[]string{"--url", url, "--api-key", testKey, "--clients", "2", "--rooms", "3"}, 2, "--rooms <= --clients"},
	} {
		var stderr strings.Builder
		if code := Run(c.args, io.Discard, &stderr); code != c.code || !strings.Contains(stderr.String(), c.says) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.says)
		}
	}
}
