package wire

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
)

// The encoder against the spec itself: every server→client frame written in
// ../../PROTOCOL.md (the examples of its code blocks marked ←, the
// server-pushed frames table, the error example, the refreshed reply) is
// compared with what Encode emits for a fully populated frame of that type:
// the same fields, nested objects and array elements included, of the same
// JSON types.

// specFrame is one server frame as PROTOCOL.md writes it.
type specFrame struct {
	text string         // as written, placeholders normalized
	obj  map[string]any // parsed
}

// specServerFrames extracts the server frames of PROTOCOL.md.
func specServerFrames(t *testing.T) []specFrame {
	t.Helper()
	b, err := os.ReadFile("../../PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	// Join a code block's continuation lines (indented) to the line they continue.
	var lines []string
	inCode := false
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			lines = append(lines, line)
			continue
		}
		if inCode && len(lines) > 0 && strings.HasPrefix(line, " ") {
			lines[len(lines)-1] += " " + strings.TrimSpace(line)
			continue
		}
		lines = append(lines, line)
	}
	var frames []specFrame
	for _, line := range lines {
		if strings.HasPrefix(line, "→") { // a client frame
			continue
		}
		for rest := line; ; {
			i := strings.Index(rest, `{"type":"`)
			if i < 0 {
				break
			}
			n := objectLen(rest[i:])
			if n < 0 {
				t.Fatalf("PROTOCOL.md: unbalanced frame in %q", line)
			}
			text := normalizePlaceholders(rest[i : i+n])
			rest = rest[i+n:]
			var obj map[string]any
			if err := json.Unmarshal([]byte(text), &obj); err != nil {
				t.Fatalf("PROTOCOL.md: frame %s does not parse after normalizing placeholders: %v", text, err)
			}
			if _, ok := specFrameBuilders[obj["type"].(string)]; !ok {
				continue // a client frame written outside a → line (refresh)
			}
			frames = append(frames, specFrame{text: text, obj: obj})
		}
	}
	return frames
}

// objectLen returns the length of the JSON-like object s starts with, or -1.
func objectLen(s string) int {
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// normalizePlaceholders turns the spec's elisions into JSON: […] and
// [msg, msg, …] into [], {…} into {}, and a value … into 0.
func normalizePlaceholders(s string) string {
	r := strings.NewReplacer(
		"[msg, msg, …]", "[]",
		"[room…]", "[]",
		"[…]", "[]",
		"{…}", "{}",
		":…", ":0",
	)
	return r.Replace(s)
}

// specMsg is a fully populated message.
var specMsg = persistence.Message{
	ID: "m_1", Offset: 58, TS: 1763800000123, FromID: "alice-42", FromName: "alice",
	Kind: "text", Text: "hi", Data: []byte(`{"x":1}`), ReplyTo: "m_0", CID: "c-1",
}

// specDocMsg is a fully populated document update.
var specDocMsg = persistence.Message{
	ID: "m_2", Offset: 59, TS: 1763800000123, FromID: "alice-42", FromName: "alice",
	Kind: "doc", Data: []byte(`"AAEC+g=="`), CID: "c-2",
}

var specUser = actors.UserRef{ID: "alice-42", Name: "alice"}

// specStates are fully populated presence state changes.
var specStates = []actors.StateChange{{User: specUser, Conn: "$42", State: []byte(`{"color":"#e33"}`)}}

// specFrameBuilders builds, for each server frame type, a fully populated
// frame like the spec's example ex (with an id when ex has one).
var specFrameBuilders = map[string]func(ex map[string]any) actors.Frame{
	"welcome": func(ex map[string]any) actors.Frame {
		w := actors.Welcome{ID: exampleID(ex), Session: "s_1", User: specUser, Resumed: true, HeartbeatMS: 25000, TimeoutMS: 60000, FrameBytes: 65536, RatePerS: 20, ServerTime: 1}
		if _, ok := ex["conn"]; ok { // the welcome of the collaboration section
			w.Conn, w.SignalRatePerS = "$42", 60
		}
		return w
	},
	"joined": func(ex map[string]any) actors.Frame {
		j := actors.Joined{ID: exampleID(ex), Room: "general", Epoch: "e", Offset: 58, Recovered: true, Members: []actors.UserRef{specUser}, Messages: []persistence.Message{specMsg}}
		if _, ok := ex["states"]; ok {
			j.States = specStates
		}
		return j
	},
	"left": func(ex map[string]any) actors.Frame { return actors.Left{ID: exampleID(ex), Room: "general"} },
	"ack": func(ex map[string]any) actors.Frame {
		if _, room := ex["room"]; !room { // the ack of a direct message
			return actors.Ack{ID: exampleID(ex), TS: 1}
		}
		return actors.Ack{ID: exampleID(ex), Room: "general", MsgID: "m_1", Offset: 58, TS: 1, Dup: true}
	},
	"message": func(ex map[string]any) actors.Frame {
		m := specMsg
		if msg, _ := ex["msg"].(map[string]any); msg["kind"] == "doc" { // the shared documents section
			m = specDocMsg
		}
		return actors.MessagePush{Room: "general", Msg: &m}
	},
	"doc_sync": func(ex map[string]any) actors.Frame {
		return actors.DocSyncReply{ID: exampleID(ex), Room: "notes", Snapshot: &persistence.Snapshot{Offset: 40, Data: []byte{1}, TS: 1},
			Updates: []persistence.Message{specDocMsg}, Offset: 59}
	},
	"doc_snapshot": func(ex map[string]any) actors.Frame {
		return actors.DocSnapshotReply{ID: exampleID(ex), Room: "notes", Offset: 59, Stored: true}
	},
	"batch": func(map[string]any) actors.Frame {
		return actors.BatchPush{Room: "general", Msgs: []persistence.Message{specMsg, specMsg}}
	},
	"presence": func(ex map[string]any) actors.Frame {
		m := actors.PresenceMember{ID: "alice-42", Name: "alice", Conns: 2}
		if members, _ := ex["members"].([]any); len(members) > 0 {
			if first, _ := members[0].(map[string]any); first["states"] != nil {
				m.States = []actors.ConnState{{Conn: "$42", State: []byte(`{"color":"#e33"}`)}}
			}
		}
		return actors.PresenceReply{ID: exampleID(ex), Room: "general", Members: []actors.PresenceMember{m}}
	},
	"presence_diff": func(ex map[string]any) actors.Frame {
		d := actors.PresenceDiff{Room: "general", Joins: []actors.UserRef{specUser}, Leaves: []actors.UserRef{specUser}}
		if _, ok := ex["states"]; ok {
			d.States = specStates
		}
		return d
	},
	"signal": func(map[string]any) actors.Frame {
		return actors.SignalPush{Room: "general", User: specUser, Conn: "$42", Key: "cursor", Data: []byte(`{"x":1}`)}
	},
	"typing": func(map[string]any) actors.Frame {
		return actors.TypingPush{Room: "general", User: specUser, On: true}
	},
	"history": func(ex map[string]any) actors.Frame {
		return actors.HistoryReply{ID: exampleID(ex), Room: "general", Msgs: []persistence.Message{specMsg}, More: true}
	},
	"rooms": func(ex map[string]any) actors.Frame {
		return actors.RoomsReply{ID: exampleID(ex), Rooms: []actors.RoomSummary{{Room: "general", Members: 12}}}
	},
	"direct": func(map[string]any) actors.Frame {
		return actors.DirectPush{From: specUser, Text: "psst", Data: []byte(`{"x":1}`), TS: 1}
	},
	"pong":      func(ex map[string]any) actors.Frame { return actors.Pong{ID: exampleID(ex), ServerTime: 1} },
	"refreshed": func(ex map[string]any) actors.Frame { return actors.Refreshed{ID: exampleID(ex), Exp: 1} },
	"notify": func(map[string]any) actors.Frame {
		return actors.Notify{Event: "order_status_changed", Data: []byte(`{"x":1}`), TS: 1}
	},
	"system": func(map[string]any) actors.Frame {
		return actors.SystemPush{Room: "general", Event: "room_restarted", Text: "t"}
	},
	"room_closed": func(ex map[string]any) actors.Frame {
		return actors.RoomClosed{Room: "general", Reason: ex["reason"].(string)}
	},
	"error": func(ex map[string]any) actors.Frame {
		return actors.ErrorFrame{ID: exampleID(ex), Code: "not_joined", Message: "m"}
	},
}

// exampleID is 1 when the spec's example carries an id, else 0 (no id).
func exampleID(ex map[string]any) int64 {
	if _, ok := ex["id"]; ok {
		return 1
	}
	return 0
}

// anyValue names the fields whose value is any JSON value.
var anyValue = map[string]bool{"data": true}

// shapeDiff reports how got's structure differs from want's: missing or
// extra object keys, and values of another JSON type. An empty array or
// object in want (an elision) matches any array or object.
func shapeDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an object", path, got)}
		}
		if len(w) == 0 {
			return nil
		}
		var diffs []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			if anyValue[k] {
				continue
			}
			diffs = append(diffs, shapeDiff(path+"."+k, wv, gv)...)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: not in the spec", path, k))
			}
		}
		slices.Sort(diffs)
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an array", path, got)}
		}
		if len(w) == 0 || len(g) == 0 {
			return nil
		}
		return shapeDiff(path+"[0]", w[0], g[0])
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			return []string{fmt.Sprintf("%s: %T (%v), the spec shows %T (%v)", path, got, got, want, want)}
		}
		return nil
	}
}

func TestEncoderMatchesSpecFrames(t *testing.T) {
	frames := specServerFrames(t)
	seen := map[string]bool{}
	for _, sf := range frames {
		typ := sf.obj["type"].(string)
		seen[typ] = true
		t.Run(typ, func(t *testing.T) {
			got := Encoder{}.Encode(specFrameBuilders[typ](sf.obj))
			var obj map[string]any
			if err := json.Unmarshal(got, &obj); err != nil {
				t.Fatalf("Encode output %s does not parse: %v", got, err)
			}
			if diffs := shapeDiff("frame", sf.obj, obj); len(diffs) > 0 {
				t.Errorf("Encode\n got %s\nspec %s\n%s", got, sf.text, strings.Join(diffs, "\n"))
			}
		})
	}
	for typ := range specFrameBuilders {
		if !seen[typ] {
			t.Errorf("PROTOCOL.md shows no %q frame from the server", typ)
		}
	}
	if len(frames) < len(specFrameBuilders) {
		t.Errorf("found %d server frames in PROTOCOL.md, want at least %d", len(frames), len(specFrameBuilders))
	}
}

// TestShapeDiff checks that the spec comparison catches a missing and an
// extra field and a field of another type.
func TestShapeDiff(t *testing.T) {
	want := map[string]any{"type": "notify", "ts": 0.0, "msg": map[string]any{"id": "m"}}
	for _, tc := range []struct {
		got  string
		diff int
	}{
		{`{"type":"notify","ts":5,"msg":{"id":"x"}}`, 0},
		{`{"type":"notify","msg":{"id":"x"}}`, 1},
		{`{"type":"notify","ts":5,"msg":{"id":"x"},"extra":1}`, 1},
		{`{"type":"notify","ts":"5","msg":{"id":1}}`, 2},
	} {
		var got map[string]any
		if err := json.Unmarshal([]byte(tc.got), &got); err != nil {
			t.Fatal(err)
		}
		if d := shapeDiff("frame", want, got); len(d) != tc.diff {
			t.Errorf("shapeDiff(%s) = %q, want %d differences", tc.got, d, tc.diff)
		}
	}
}
