package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDecode from decodeSeeds")

// decodeSeeds is FuzzDecode's seed corpus: one valid frame of each type and
// nasty ones. TestSeedCorpusFiles keeps testdata/fuzz/FuzzDecode in step.
func decodeSeeds() []struct{ name, payload string } {
	return []struct{ name, payload string }{
		{"hello", `{"type":"hello","id":1,"token":"a.b.c","name":"alice","session":"s_1"}`},
		{"refresh", `{"type":"refresh","id":10,"token":"a.b.c"}`},
		{"join", `{"type":"join","id":2,"room":"general","password":"pw","since":{"offset":41,"epoch":"e7f"},"history":50}`},
		{"leave", `{"type":"leave","id":3,"room":"general"}`},
		{"send", `{"type":"send","id":4,"room":"general","kind":"text","text":"hi","data":null,"reply_to":"m_1","cid":"c-8f2"}`},
		{"send-data", `{"type":"send","id":4,"room":"general","kind":"image","data":{"url":"https://x/y.png","size":12,"tags":["a",1.5e3,true,null]}}`},
		{"typing", `{"type":"typing","room":"general","on":true}`},
		{"signal", `{"type":"signal","room":"general","key":"cursor","data":{"x":120,"y":48}}`},
		{"presence-set", `{"type":"presence_set","id":5,"room":"general","state":{"color":"#e33","editing":true}}`},
		{"presence", `{"type":"presence","id":5,"room":"general"}`},
		{"history", `{"type":"history","id":6,"room":"general","before":58,"limit":50}`},
		{"rooms", `{"type":"rooms","id":7}`},
		{"direct", `{"type":"direct","id":8,"to":"bob-7","text":"psst","data":null}`},
		{"ping", `{"type":"ping","id":9}`},
		{"doc-update", `{"type":"doc_update","id":11,"room":"notes","data":"AAEC+g==","cid":"c-1"}`},
		{"doc-sync", `{"type":"doc_sync","id":12,"room":"notes","after":40,"limit":1000}`},
		{"doc-snapshot", `{"type":"doc_snapshot","id":13,"room":"notes","offset":59,"data":"AAE="}`},
		{"deep", `{"type":"send","room":"r","data":` + nest(70, "1") + `}`},
		{"deep-objects", strings.Repeat(`{"a":`, 80) + "1" + strings.Repeat("}", 80)},
		{"huge-numbers", `{"type":"history","id":99999999999999999999999,"room":"r","before":1e999,"after":-0,"limit":18446744073709551616}`},
		{"wrong-types", `{"type":"send","id":"4","room":5,"text":[],"kind":{},"cid":true,"data":1}`},
		{"id-float", `{"type":"ping","id":1.0}`},
		{"invalid-utf8", "{\"type\":\"send\",\"room\":\"r\",\"text\":\"\xff\xfe\xed\xa0\x80\",\"data\":[\"\xc3\"]}"},
		{"nul", "{\"type\":\"send\",\"room\":\"r\\u0000\",\"text\":\"a\\u0000b\"}\x00"},
		{"proto", `{"__proto__":{"type":"ping"},"constructor":{"prototype":{}},"type":"ping"}`},
		{"duplicate-keys", `{"type":"send","type":"ping","id":1,"id":"x","room":"a","room":"b"}`},
		{"escaped-keys", `{"\u0074ype":"p\u0069ng","\ud800":1,"i\u0064":2}`},
		{"surrogates", `{"type":"send","room":"r","text":"\ud83d\ude00\ud800\udc00\udbff\udfff\ude00\ud83d"}`},
		{"not-object", `[{"type":"ping"}]`},
		{"truncated", `{"type":"send","room":"r","text":"abc`},
		{"empty", ``},
		{"case-keys", `{"TYPE":"ping","Type":"rooms"}`},
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add([]byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkDecode(t, payload)
	})
}

var rejectCodes = map[string]bool{
	actors.CodeBadJSON: true, actors.CodeBadFrame: true, actors.CodeUnknownType: true, actors.CodeInvalid: true,
}

// checkDecode holds Decode to its contract on one payload, with encoding/json as
// the reference for JSON validity and string decoding.
func checkDecode(t *testing.T, payload []byte) {
	buf := bytes.Clone(payload)
	got := Decode(buf, Limits{})
	for i := range buf {
		buf[i] ^= 0xff
	}
	if again := Decode(payload, Limits{}); !reflect.DeepEqual(got, again) {
		t.Fatalf("result aliases the payload or is not deterministic: %#v vs %#v", got, again)
	}

	wantBadJSON := !json.Valid(payload) || maxDepth(payload) > DefaultMaxDepth ||
		payload[len(payload)-len(bytes.TrimLeft(payload, " \t\r\n")):][0] != '{'
	r, rejected := got.(actors.Rejected)
	if gotBadJSON := rejected && r.Code == actors.CodeBadJSON; gotBadJSON != wantBadJSON {
		t.Fatalf("Decode(%q) = %#v; want bad_json: %v", payload, got, wantBadJSON)
	}
	if rejected {
		if !rejectCodes[r.Code] || r.Message == "" || r.ID < 0 {
			t.Fatalf("bad rejection %#v", r)
		}
		return
	}

	var m map[string]json.RawMessage // exact keys, last duplicate wins
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("accepted a payload encoding/json refuses: %v", err)
	}
	str := func(key, got string) {
		var want string
		if raw, ok := m[key]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
		}
		if got != want {
			t.Fatalf("%s = %q, encoding/json says %q", key, got, want)
		}
	}
	rawField := func(key string, got []byte) {
		raw, ok := m[key]
		if !ok || string(raw) == "null" {
			if got != nil {
				t.Fatalf("%s = %s, want nil", key, got)
			}
			return
		}
		if !json.Valid(got) || !utf8.Valid(got) {
			t.Fatalf("%s %q is not valid JSON", key, got)
		}
		if utf8.Valid(raw) {
			var want bytes.Buffer
			if err := json.Compact(&want, raw); err != nil || !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("%s = %s, want %s", key, got, want.Bytes())
			}
		}
	}
	data := func(got []byte) { rawField("data", got) }
	switch c := got.(type) {
	case actors.Hello:
		str("token", c.Token)
		str("name", c.Name)
		str("session", c.Session)
	case actors.Refresh:
		str("token", c.Token)
	case actors.Join:
		str("room", c.Room)
		str("password", c.Password)
		if !ValidRoom(c.Room) || c.History < -1 {
			t.Fatalf("bad join %#v", c)
		}
	case actors.Leave:
		str("room", c.Room)
	case actors.Send:
		str("room", c.Room)
		str("text", c.Text)
		str("reply_to", c.ReplyTo)
		str("cid", c.CID)
		data(c.Data)
		if !ValidRoom(c.Room) || !ValidKind(c.Kind) || len(c.Text) > DefaultMaxTextBytes || (c.Text == "" && c.Data == nil) {
			t.Fatalf("bad send %#v", c)
		}
	case actors.Typing:
		str("room", c.Room)
	case actors.Signal:
		str("room", c.Room)
		str("key", c.Key)
		data(c.Data)
		if !ValidRoom(c.Room) || !ValidSignalKey(c.Key) || len(c.Data) > DefaultMaxSignalBytes {
			t.Fatalf("bad signal %#v", c)
		}
	case actors.PresenceSet:
		str("room", c.Room)
		rawField("state", c.State)
		if !ValidRoom(c.Room) || len(c.State) > DefaultMaxStateBytes || (c.State != nil && c.State[0] != '{') {
			t.Fatalf("bad presence_set %#v", c)
		}
	case actors.PresenceQuery:
		str("room", c.Room)
	case actors.HistoryQuery:
		str("room", c.Room)
		if c.Limit < 0 || c.Limit > DefaultHistoryMax || (c.Before != 0 && c.After != 0) {
			t.Fatalf("bad history %#v", c)
		}
	case actors.Direct:
		str("to", c.To)
		str("text", c.Text)
		data(c.Data)
	case actors.DocUpdate:
		str("room", c.Room)
		str("cid", c.CID)
		var b64 string
		if err := json.Unmarshal(c.Data, &b64); err != nil || !ValidBase64(b64) || !ValidRoom(c.Room) {
			t.Fatalf("bad doc_update %#v", c)
		}
		str("data", b64)
	case actors.DocSync:
		str("room", c.Room)
		if !ValidRoom(c.Room) || c.Limit < 0 || c.Limit > actors.DocSyncMax {
			t.Fatalf("bad doc_sync %#v", c)
		}
	case actors.DocSnapshot:
		str("room", c.Room)
		if !ValidRoom(c.Room) || c.Offset == 0 || len(c.Data) == 0 {
			t.Fatalf("bad doc_snapshot %#v", c)
		}
		var b64 string
		if err := json.Unmarshal(m["data"], &b64); err != nil {
			t.Fatalf("doc_snapshot data: %v", err)
		}
		if want, err := base64.StdEncoding.DecodeString(b64); err != nil || !bytes.Equal(c.Data, want) {
			t.Fatalf("doc_snapshot data = %x, want %x (%v)", c.Data, want, err)
		}
	case actors.RoomsQuery, actors.Ping:
	default:
		t.Fatalf("Decode returned %T", got)
	}
}

// maxDepth is the reference nesting depth: brackets outside strings.
func maxDepth(b []byte) int {
	depth, deepest, inStr := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

func TestDecodeSeeds(t *testing.T) {
	for _, s := range decodeSeeds() {
		t.Run(s.name, func(t *testing.T) { checkDecode(t, []byte(s.payload)) })
	}
}

// TestSeedCorpusFiles checks that testdata/fuzz/FuzzDecode holds every seed in
// the go fuzz corpus format (-update-corpus rewrites them).
func TestSeedCorpusFiles(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for _, s := range decodeSeeds() {
		path := filepath.Join(dir, "seed-"+s.name)
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(s.payload) + ")\n"
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (run go test -run TestSeedCorpusFiles -update-corpus): %v", path, err)
		}
	}
}

func FuzzEncode(f *testing.F) {
	f.Add("alice", "hi \"there\"\n", int64(1), []byte(`{"a":[1,2]}`))
	f.Add("", "", int64(0), []byte(nil))
	f.Add("\xff\xfe", "\u2028\u2029\x00\x1f\\", int64(-1), []byte("[\"\xff\"]"))
	f.Add("é😀", "\xed\xa0\x80", int64(1<<62), []byte(" { \"k\" : null } "))
	f.Add("x", "y", int64(5), []byte(`{"a":`))
	f.Fuzz(func(t *testing.T, a, b string, n int64, data []byte) {
		msg := persistence.Message{ID: a, Offset: uint64(n), TS: n, FromID: b, FromName: a, Kind: b, Text: a + b, Data: data, ReplyTo: b, CID: a}
		user := actors.UserRef{ID: a, Name: b}
		frames := []actors.Frame{
			actors.Welcome{ID: n, Session: a, User: user, Resumed: n%2 == 0, HeartbeatMS: n, TimeoutMS: -n, FrameBytes: int(n), RatePerS: float64(n) / 3, ServerTime: n},
			actors.Joined{ID: n, Room: a, Epoch: b, Offset: uint64(n), Members: []actors.UserRef{user, user}, Messages: []persistence.Message{msg, msg}},
			actors.Left{ID: n, Room: a},
			actors.Ack{ID: n, Room: a, MsgID: b, Offset: uint64(n), TS: n, Dup: true},
			actors.MessagePush{Room: a, Msg: &msg},
			actors.BatchPush{Room: b, Msgs: []persistence.Message{msg}},
			actors.PresenceReply{ID: n, Room: a, Members: []actors.PresenceMember{{ID: a, Name: b, Conns: int(n)}}},
			actors.PresenceDiff{Room: a, Joins: []actors.UserRef{user}},
			actors.TypingPush{Room: a, User: user, On: true},
			actors.SignalPush{Room: a, User: user, Conn: b, Key: a, Data: data},
			actors.PresenceDiff{Room: a, States: []actors.StateChange{{User: user, Conn: a, State: data}, {User: user, Conn: b}}},
			actors.PresenceReply{ID: n, Room: a, Members: []actors.PresenceMember{{ID: a, Name: b, Conns: int(n), States: []actors.ConnState{{Conn: b, State: data}}}}},
			actors.HistoryReply{ID: n, Room: a, Msgs: []persistence.Message{msg}, More: true},
			actors.RoomsReply{ID: n, Rooms: []actors.RoomSummary{{Room: a, Members: int(n), Private: true}}},
			actors.DirectPush{From: user, Text: a, Data: data, TS: n},
			actors.Pong{ID: n, ServerTime: n},
			actors.Refreshed{ID: n, Exp: n},
			actors.Notify{Event: a, Data: data, TS: n},
			actors.SystemPush{Room: a, Event: b, Text: a},
			actors.RoomClosed{Room: a, Reason: b},
			actors.ErrorFrame{ID: n, Code: a, Message: b},
		}
		for _, fr := range frames {
			out := Encoder{}.Encode(fr)
			if !json.Valid(out) || !utf8.Valid(out) {
				t.Fatalf("%T: invalid JSON %q", fr, out)
			}
		}
		var back struct {
			Type string `json:"type"`
			Room string `json:"room"`
			Msg  struct {
				Text string          `json:"text"`
				Kind string          `json:"kind"`
				Data json.RawMessage `json:"data"`
			} `json:"msg"`
		}
		if err := json.Unmarshal(Encoder{}.Encode(actors.MessagePush{Room: a, Msg: &msg}), &back); err != nil {
			t.Fatal(err)
		}
		if back.Type != "message" || back.Room != string([]rune(a)) || back.Msg.Text != string([]rune(a+b)) || back.Msg.Kind != string([]rune(b)) {
			t.Fatalf("strings did not round-trip: %+v", back)
		}
		wantData := "null"
		if _, ok := scanValue(data, maxRawDepth); ok && json.Valid(data) {
			var c bytes.Buffer
			_ = json.Compact(&c, data)
			wantData = c.String()
			if !utf8.Valid(data) {
				wantData = string(back.Msg.Data) // sanitized: checked valid above
			}
		}
		if string(back.Msg.Data) != wantData {
			t.Fatalf("data = %s, want %s", back.Msg.Data, wantData)
		}
	})
}
