package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const testAPIKey = "drill-key"

// apiCall sends one server API request and decodes the JSON answer.
func apiCall(t *testing.T, addr, key, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if resp.StatusCode == http.StatusNoContent && len(b) == 0 {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s answered %d with non-JSON %q", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, v
}

// runDrill starts a drill through the API and waits for its report.
func runDrill(t *testing.T, addr, spec string) map[string]any {
	t.Helper()
	return runDrillWithin(t, addr, spec, "50s")
}

// runDrillWithin is runDrill failing if the drill has not ended within wait.
func runDrillWithin(t *testing.T, addr, spec, wait string) map[string]any {
	t.Helper()
	code, started := apiCall(t, addr, testAPIKey, "POST", "/api/drills", spec)
	if code != http.StatusAccepted || started["state"] != "running" {
		t.Fatalf("start %s: %d %v", spec, code, started)
	}
	code, rep := apiCall(t, addr, testAPIKey, "GET", fmt.Sprintf("/api/drills/%s?wait=%s", started["id"], wait), "")
	if code != http.StatusOK || rep["state"] == "running" {
		t.Fatalf("drill %s did not end: %d %v", spec, code, rep)
	}
	return rep
}

func errorCode(v map[string]any) any {
	e, _ := v["error"].(map[string]any)
	return e["code"]
}

func TestDrillAPIRefusesWithoutTheKey(t *testing.T) {
	open := startServer(t).Addr.String()
	if code, v := apiCall(t, open, "", "POST", "/api/drills", `{"kind":"conn-kill"}`); code != 401 || errorCode(v) != "unauthorized" {
		t.Fatalf("drill on a server without --api-key: %d %v", code, v)
	}
	addr := startServer(t, "--api-key", testAPIKey).Addr.String()
	for _, c := range []struct {
		key, method, path, body string
		status                  int
		code                    string
	}{
		{"", "POST", "/api/drills", `{"kind":"conn-kill"}`, 401, "unauthorized"},
		{"wrong", "POST", "/api/drills", `{"kind":"conn-kill"}`, 401, "unauthorized"},
		{"wrong", "GET", "/api/drills/d1", "", 401, "unauthorized"},
		{testAPIKey, "POST", "/api/drills", `{"kind":`, 400, "bad_json"},
		{testAPIKey, "POST", "/api/drills", `{"kind":"meteor"}`, 400, "invalid"},
		{testAPIKey, "POST", "/api/drills", `{"kind":"room-crash","count":-1}`, 400, "invalid"},
		{testAPIKey, "POST", "/api/drills", `{"kind":"room-crash","colour":"red"}`, 400, "invalid"},
		{testAPIKey, "POST", "/api/drills", `{"kind":"store-stall","mode":"melt"}`, 400, "invalid"},
		{testAPIKey, "POST", "/api/drills", `{"kind":"conn-kill","pad":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "invalid"},
		{testAPIKey, "GET", "/api/drills/nope", "", 404, "no_such_drill"},
	} {
		if code, v := apiCall(t, addr, c.key, c.method, c.path, c.body); code != c.status || errorCode(v) != c.code {
			t.Errorf("%s %s %.40q with key %q: %d %v, want %d %s", c.method, c.path, c.body, c.key, code, v, c.status, c.code)
		}
	}
}

// TestRoomCrashDrill crashes a room three times through the API while a
// member sends: every crash is followed by a recovery, the member sees
// room_restarted each time, and all of its sends are acked with no gap.
func TestRoomCrashDrill(t *testing.T) {
	a := startServer(t, "--api-key", testAPIKey, "--rate-limit", "0")
	addr := a.Addr.String()
	member, _ := joinedClient(t, addr, "member", "drilled")
	rep := runDrill(t, addr, `{"kind":"room-crash","room":"drilled","count":3,"interval_ms":1}`)
	if rep["state"] != "done" || rep["injected"] != float64(3) || rep["recovered"] != float64(3) || rep["restarts"] != float64(3) {
		t.Fatalf("report: %v", rep)
	}
	rec := rep["recovery_ms"].(map[string]any)
	if rec["count"] != float64(3) || rec["max"].(float64) <= 0 || rec["p50"].(float64) > rec["max"].(float64) {
		t.Fatalf("recovery: %v", rec)
	}
	for i := range 3 {
		if f := member.nextOfType("system"); f["event"] != "room_restarted" {
			t.Fatalf("notice %d: %v", i, f)
		}
	}
	for i := 1; i <= 5; i++ {
		ack := member.request(map[string]any{"type": "send", "room": "drilled", "text": "after"})
		if ack["type"] != "ack" || ack["offset"] != float64(i) {
			t.Fatalf("send %d after the drill: %v", i, ack)
		}
	}
	_, samples := scrape(t, addr)
	if n := sample(t, samples, `troupe_drill_runs_total{kind="room-crash",outcome="recovered"}`); n != 1 {
		t.Fatalf("drill runs = %v, want 1", n)
	}
}

// TestRoomCrashDrillPastTheBudget crashes a room more often than its
// budget allows: the drill reports the crash that stopped it as unrecovered
// at once (well before the 30s a lost room is waited for), and the room's
// members are told it closed.
func TestRoomCrashDrillPastTheBudget(t *testing.T) {
	a := startServer(t, "--api-key", testAPIKey, "--room-restarts", "1", "--room-restart-backoff", "1ms")
	addr := a.Addr.String()
	member, _ := joinedClient(t, addr, "member", "fragile")
	rep := runDrillWithin(t, addr, `{"kind":"room-crash","room":"fragile","count":5,"interval_ms":1}`, "10s")
	if rep["injected"] != float64(2) || rep["recovered"] != float64(1) || rep["unrecovered"] != float64(1) || rep["rooms_stopped"] != float64(1) {
		t.Fatalf("report: %v", rep)
	}
	if f := member.nextOfType("room_closed"); f["reason"] != "crashed" {
		t.Fatalf("member got %v", f)
	}
}

// TestConnKillAndUserCrashDrills kills connections and crashes users through
// the API: killed sockets close with 1011, crashed users keep theirs.
func TestConnKillAndUserCrashDrills(t *testing.T) {
	a := startServer(t, "--api-key", testAPIKey)
	addr := a.Addr.String()
	c1, _ := joinedClient(t, addr, "one", "r")
	c2, w2 := joinedClient(t, addr, "two", "r")
	c3, _ := joinedClient(t, addr, "three", "r")
	two := w2["user"].(map[string]any)["id"].(string)
	rep := runDrill(t, addr, fmt.Sprintf(`{"kind":"conn-kill","user":%q}`, two))
	if rep["state"] != "done" || rep["injected"] != float64(1) {
		t.Fatalf("conn-kill of one user: %v", rep)
	}
	if code := c2.waitClose(); code != 1011 {
		t.Fatalf("the user's connection closed with %d, want 1011", code)
	}
	if f := c1.request(map[string]any{"type": "ping"}); f["type"] != "pong" {
		t.Fatalf("another user's connection after a targeted conn-kill: %v", f)
	}
	rep = runDrill(t, addr, `{"kind":"user-crash","count":5}`)
	if rep["state"] != "done" || rep["injected"] != float64(3) || rep["restarts"] != float64(3) {
		t.Fatalf("user-crash report: %v", rep)
	}
	if f := c1.request(map[string]any{"type": "ping"}); f["type"] != "pong" {
		t.Fatalf("after user-crash: %v", f)
	}
	rep = runDrill(t, addr, `{"kind":"conn-kill","fraction":1}`)
	if rep["state"] != "done" || rep["injected"] != float64(2) {
		t.Fatalf("conn-kill report: %v", rep)
	}
	for _, c := range []*rawClient{c1, c3} {
		if code := c.waitClose(); code != 1011 {
			t.Fatalf("killed connection closed with %d, want 1011", code)
		}
	}
	if rep := runDrill(t, addr, `{"kind":"conn-kill"}`); rep["state"] != "failed" {
		t.Fatalf("conn-kill with no connection: %v", rep)
	}
}

// TestStoreStallDrill stalls the store while a member sends: the send is
// acked only after the stall, the drill measures the backlog's recovery, and
// a second stall is refused while the first runs.
func TestStoreStallDrill(t *testing.T) {
	a := startServer(t, "--api-key", testAPIKey)
	addr := a.Addr.String()
	member, _ := joinedClient(t, addr, "member", "stalled")
	code, started := apiCall(t, addr, testAPIKey, "POST", "/api/drills", `{"kind":"store-stall","duration_ms":300}`)
	if code != http.StatusAccepted {
		t.Fatalf("start: %d %v", code, started)
	}
	if code, v := apiCall(t, addr, testAPIKey, "POST", "/api/drills", `{"kind":"store-stall"}`); code != 400 || errorCode(v) != "invalid" {
		t.Fatalf("second stall: %d %v", code, v)
	}
	ack := member.request(map[string]any{"type": "send", "room": "stalled", "text": "held", "cid": "c1"})
	if ack["type"] != "ack" || ack["offset"] != float64(1) {
		t.Fatalf("send during the stall: %v", ack)
	}
	_, rep := apiCall(t, addr, testAPIKey, "GET", fmt.Sprintf("/api/drills/%s?wait=50s", started["id"]), "")
	if rep["state"] != "done" || rep["recovered"] != float64(1) || rep["recovery_ms"].(map[string]any)["count"] != float64(1) {
		t.Fatalf("store-stall report: %v", rep)
	}
	h := member.request(map[string]any{"type": "history", "room": "stalled"})
	if msgs, _ := h["msgs"].([]any); len(msgs) != 1 {
		t.Fatalf("history after the stall: %v", h)
	}
}
