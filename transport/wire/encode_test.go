package wire

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
)

func testMsg() persistence.Message {
	return persistence.Message{
		ID: "m_1", Offset: 58, TS: 1763800000123, FromID: "alice-42", FromName: "alice",
		Kind: "text", Text: "hi", ReplyTo: "m_0", CID: "c-1",
	}
}

const testMsgJSON = `{"id":"m_1","offset":58,"ts":1763800000123,"from":{"id":"alice-42","name":"alice"},"kind":"text","text":"hi","data":null,"reply_to":"m_0"}`

func TestEncodeGolden(t *testing.T) {
	m := testMsg()
	m2 := persistence.Message{ID: "m_2", Offset: 59, TS: 5, FromID: "bob", FromName: "bob", Kind: "image", Data: []byte(`{"url":"u"}`)}
	const m2JSON = `{"id":"m_2","offset":59,"ts":5,"from":{"id":"bob","name":"bob"},"kind":"image","text":"","data":{"url":"u"},"reply_to":null}`
	alice := actors.UserRef{ID: "alice-42", Name: "alice"}
	bob := actors.UserRef{ID: "bob-7", Name: "bob"}
	tests := []struct {
		name  string
		frame actors.Frame
		want  string
	}{
		{"welcome", actors.Welcome{ID: 1, Session: "s_1", User: alice, Resumed: false, HeartbeatMS: 25000, TimeoutMS: 60000, FrameBytes: 65536, RatePerS: 20, ServerTime: 1763800000000},
			`{"type":"welcome","id":1,"session":"s_1","user":{"id":"alice-42","name":"alice"},"resumed":false,"heartbeat":{"interval_ms":25000,"timeout_ms":60000},"limits":{"frame_bytes":65536,"rate_per_s":20},"server_time":1763800000000}`},
		{"welcome fractional rate no id", &actors.Welcome{Session: "s", User: alice, Resumed: true, RatePerS: 2.5},
			`{"type":"welcome","session":"s","user":{"id":"alice-42","name":"alice"},"resumed":true,"heartbeat":{"interval_ms":0,"timeout_ms":0},"limits":{"frame_bytes":0,"rate_per_s":2.5},"server_time":0}`},
		{"joined", actors.Joined{ID: 2, Room: "general", Epoch: "e7f", Offset: 59, Recovered: true, Members: []actors.UserRef{alice, bob}, Messages: []persistence.Message{m, m2}},
			`{"type":"joined","id":2,"room":"general","epoch":"e7f","offset":59,"recovered":true,"members":[{"id":"alice-42","name":"alice"},{"id":"bob-7","name":"bob"}],"messages":[` + testMsgJSON + `,` + m2JSON + `]}`},
		{"joined empty", actors.Joined{ID: 2, Room: "r", Epoch: "e"},
			`{"type":"joined","id":2,"room":"r","epoch":"e","offset":0,"recovered":false,"members":[],"messages":[]}`},
		{"left", actors.Left{ID: 3, Room: "general"}, `{"type":"left","id":3,"room":"general"}`},
		{"ack", actors.Ack{ID: 4, Room: "general", MsgID: "m_1", Offset: 58, TS: 1763800000123, Dup: true},
			`{"type":"ack","id":4,"room":"general","msg_id":"m_1","offset":58,"ts":1763800000123,"dup":true}`},
		{"ack direct", actors.Ack{ID: 8, TS: 77}, `{"type":"ack","id":8,"ts":77}`},
		{"message", actors.MessagePush{Room: "general", Msg: &m},
			`{"type":"message","room":"general","msg":` + testMsgJSON + `}`},
		{"message nil", actors.MessagePush{Room: "r"}, `{"type":"message","room":"r","msg":null}`},
		{"batch", actors.BatchPush{Room: "general", Msgs: []persistence.Message{m, m2}},
			`{"type":"batch","room":"general","msgs":[` + testMsgJSON + `,` + m2JSON + `]}`},
		{"batch empty", actors.BatchPush{Room: "r"}, `{"type":"batch","room":"r","msgs":[]}`},
		{"presence", actors.PresenceReply{ID: 5, Room: "general", Members: []actors.PresenceMember{{ID: "alice-42", Name: "alice", Conns: 2}, {ID: "bob-7", Name: "bob", Conns: 1}}},
			`{"type":"presence","id":5,"room":"general","members":[{"id":"alice-42","name":"alice","conns":2},{"id":"bob-7","name":"bob","conns":1}]}`},
		{"presence empty", actors.PresenceReply{ID: 5, Room: "r"}, `{"type":"presence","id":5,"room":"r","members":[]}`},
		{"presence_diff", actors.PresenceDiff{Room: "general", Joins: []actors.UserRef{bob}},
			`{"type":"presence_diff","room":"general","joins":[{"id":"bob-7","name":"bob"}],"leaves":[]}`},
		{"presence_diff leaves", actors.PresenceDiff{Room: "general", Leaves: []actors.UserRef{alice, bob}},
			`{"type":"presence_diff","room":"general","joins":[],"leaves":[{"id":"alice-42","name":"alice"},{"id":"bob-7","name":"bob"}]}`},
		{"typing", actors.TypingPush{Room: "general", User: alice, On: true},
			`{"type":"typing","room":"general","user":{"id":"alice-42","name":"alice"},"on":true}`},
		{"history", actors.HistoryReply{ID: 6, Room: "general", Msgs: []persistence.Message{m}, More: true},
			`{"type":"history","id":6,"room":"general","msgs":[` + testMsgJSON + `],"more":true}`},
		{"history empty", actors.HistoryReply{ID: 6, Room: "r"}, `{"type":"history","id":6,"room":"r","msgs":[],"more":false}`},
		{"rooms", actors.RoomsReply{ID: 7, Rooms: []actors.RoomSummary{{Room: "general", Members: 12}, {Room: "x", Members: 1, Private: true}}},
			`{"type":"rooms","id":7,"rooms":[{"room":"general","members":12,"private":false},{"room":"x","members":1,"private":true}]}`},
		{"rooms empty", actors.RoomsReply{ID: 7}, `{"type":"rooms","id":7,"rooms":[]}`},
		{"direct", actors.DirectPush{From: alice, Text: "psst", TS: 9},
			`{"type":"direct","from":{"id":"alice-42","name":"alice"},"text":"psst","data":null,"ts":9}`},
		{"direct data", actors.DirectPush{From: alice, Text: "", Data: []byte(`[1,{"a":null}]`), TS: 9},
			`{"type":"direct","from":{"id":"alice-42","name":"alice"},"text":"","data":[1,{"a":null}],"ts":9}`},
		{"pong", actors.Pong{ID: 9, ServerTime: 1763800000456}, `{"type":"pong","id":9,"server_time":1763800000456}`},
		{"refreshed", actors.Refreshed{ID: 10, Exp: 1763803600}, `{"type":"refreshed","id":10,"exp":1763803600}`},
		{"notify", actors.Notify{Event: "order_status_changed", Data: []byte(`{"order":1}`), TS: 3},
			`{"type":"notify","event":"order_status_changed","data":{"order":1},"ts":3}`},
		{"notify spaced data compacted", actors.Notify{Event: "e", Data: []byte(" { \"a b\" : [1, 2] }\n"), TS: 3},
			`{"type":"notify","event":"e","data":{"a b":[1,2]},"ts":3}`},
		{"notify invalid data", actors.Notify{Event: "e", Data: []byte(`{"a":`), TS: 3}, `{"type":"notify","event":"e","data":null,"ts":3}`},
		{"system", actors.SystemPush{Room: "general", Event: "room_restarted", Text: "the room restarted"},
			`{"type":"system","room":"general","event":"room_restarted","text":"the room restarted"}`},
		{"room_closed", actors.RoomClosed{Room: "general", Reason: "deleted"}, `{"type":"room_closed","room":"general","reason":"deleted"}`},
		{"error", actors.ErrorFrame{ID: 4, Code: "not_joined", Message: "join general before sending to it"},
			`{"type":"error","id":4,"code":"not_joined","message":"join general before sending to it"}`},
		{"error no id", actors.ErrorFrame{Code: "bad_frame", Message: "m"}, `{"type":"error","code":"bad_frame","message":"m"}`},
		{"unknown frame", otherFrame{}, `{"type":"error","code":"internal","message":"server cannot encode this frame"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Encoder{}.Encode(tc.frame)
			if string(got) != tc.want {
				t.Fatalf("Encode\n got %s\nwant %s", got, tc.want)
			}
			var obj map[string]any
			if err := json.Unmarshal(got, &obj); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if _, ok := tc.frame.(otherFrame); !ok && obj["type"] != tc.frame.FrameType() {
				t.Fatalf("type = %v, want %s", obj["type"], tc.frame.FrameType())
			}
			// Append onto a non-empty buffer leaves the prefix alone.
			if app := Append([]byte("xx"), tc.frame); string(app) != "xx"+tc.want {
				t.Fatalf("Append = %s", app)
			}
		})
	}
}

type otherFrame struct{}

func (otherFrame) FrameType() string { return "other" }

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\s/`, `"q\"b\\s/"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"<&>", `"<&>"`},
		{"é😀", `"é😀"`},
		{"a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\xe2\x82", `"\ufffd\ufffd"`},
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // encoded surrogate
	}
	for _, tc := range tests {
		if got := string(AppendString(nil, tc.in)); got != tc.want {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{20, "20"}, {0, "0"}, {2.5, "2.5"}, {-1, "-1"}, {1e21, "1e+21"}, {1e-7, "1e-7"},
		{math.NaN(), "0"}, {math.Inf(1), "0"}, {math.Inf(-1), "0"}, {123456789, "123456789"},
	}
	for _, tc := range tests {
		if got := string(appendFloat(nil, tc.in)); got != tc.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendRaw(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "null"},
		{"null", "null"},
		{"0", "0"},
		{`"s"`, `"s"`},
		{" [ 1 , 2 ] ", "[1,2]"},
		{`{"a": "x y"}`, `{"a":"x y"}`},
		{"[\"\xff\"]", "[\"\uFFFD\"]"},
		{"{", "null"},
		{"1 2", "null"},
		{"nul", "null"},
		{`"\u2028"`, `"\u2028"`},
	}
	for _, tc := range tests {
		if got := string(AppendRaw(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("AppendRaw(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestRoundTrip encodes message-bearing frames and parses them back with
// encoding/json.
func TestRoundTrip(t *testing.T) {
	m := testMsg()
	m.Text = "line1\nline2 \"quoted\" \u2028 é\x01"
	m.Data = []byte(`{"k":[1,2.5,"v"],"n":null}`)
	out := Encoder{}.Encode(actors.BatchPush{Room: "general", Msgs: []persistence.Message{m, m}})
	var got struct {
		Type string `json:"type"`
		Room string `json:"room"`
		Msgs []struct {
			ID     string `json:"id"`
			Offset uint64 `json:"offset"`
			TS     int64  `json:"ts"`
			From   struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"from"`
			Kind    string          `json:"kind"`
			Text    string          `json:"text"`
			Data    json.RawMessage `json:"data"`
			ReplyTo *string         `json:"reply_to"`
		} `json:"msgs"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "batch" || got.Room != "general" || len(got.Msgs) != 2 {
		t.Fatalf("got %+v", got)
	}
	g := got.Msgs[1]
	if g.ID != m.ID || g.Offset != m.Offset || g.TS != m.TS || g.From.ID != m.FromID || g.From.Name != m.FromName ||
		g.Kind != m.Kind || g.Text != m.Text || string(g.Data) != string(m.Data) || g.ReplyTo == nil || *g.ReplyTo != m.ReplyTo {
		t.Fatalf("round trip: got %+v, want %+v", g, m)
	}

	// A decoded send's fields survive encode → encoding/json.
	cmd := Decode([]byte(`{"type":"send","room":"r","text":"a\u2029\"b","data":{"x":"\u00e9"}}`), Limits{}).(actors.Send)
	msg := persistence.Message{Text: cmd.Text, Data: cmd.Data}
	var back struct {
		Text string          `json:"text"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(AppendMessage(nil, &msg), &back); err != nil {
		t.Fatal(err)
	}
	var x struct{ X string }
	if err := json.Unmarshal(back.Data, &x); err != nil || back.Text != "a\u2029\"b" || x.X != "é" {
		t.Fatalf("got %q %s %v", back.Text, back.Data, err)
	}
}

func TestIsReply(t *testing.T) {
	for _, tc := range []struct {
		frame actors.Frame
		reply bool
	}{
		{actors.Ack{ID: 7, Room: "r", MsgID: "m", Offset: 1}, true},
		{actors.Joined{ID: 1, Room: "r", Epoch: "e"}, true},
		{actors.ErrorFrame{ID: 3, Code: "invalid", Message: "x"}, true},
		{actors.Pong{ID: 2}, true},
		{actors.ErrorFrame{Code: "invalid", Message: "no id"}, false},
		{actors.RoomClosed{Room: "r", Reason: "moved"}, false},
		{actors.PresenceDiff{Room: "r"}, false},
		{actors.TypingPush{Room: "r", User: actors.UserRef{ID: "u"}, On: true}, false},
	} {
		if got := IsReply(Append(nil, tc.frame)); got != tc.reply {
			t.Errorf("IsReply(%s) = %v, want %v", Append(nil, tc.frame), got, tc.reply)
		}
	}
	if IsReply([]byte(`{"id":1,"type":"ack"}`)) || IsReply([]byte(`[]`)) || IsReply(nil) {
		t.Error("IsReply accepted a frame not written by Append")
	}
}
