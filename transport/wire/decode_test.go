package wire

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/actors"
)

func rej(code string, id int64) actors.Rejected { return actors.Rejected{ID: id, Code: code} }

func nest(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

func TestDecode(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		in   string
		want any
	}{
		// hello
		{"hello full", `{"type":"hello","id":1,"token":"t.k.n","name":"alice","session":"s_1"}`,
			actors.Hello{ID: 1, Token: "t.k.n", Name: "alice", Session: "s_1"}},
		{"hello minimal", `{"type":"hello"}`, actors.Hello{}},
		{"hello nulls", `{"type":"hello","id":1,"token":null,"name":null,"session":null}`, actors.Hello{ID: 1}},
		{"hello token wrong type", `{"type":"hello","id":1,"token":5}`, rej(actors.CodeBadFrame, 1)},
		{"hello name wrong type", `{"type":"hello","id":1,"name":["a"]}`, rej(actors.CodeBadFrame, 1)},
		{"hello session wrong type", `{"type":"hello","id":1,"session":true}`, rej(actors.CodeBadFrame, 1)},

		// refresh
		{"refresh", `{"type":"refresh","id":10,"token":"new"}`, actors.Refresh{ID: 10, Token: "new"}},
		{"refresh no token", `{"type":"refresh","id":10}`, rej(actors.CodeInvalid, 10)},
		{"refresh empty token", `{"type":"refresh","id":10,"token":""}`, rej(actors.CodeInvalid, 10)},
		{"refresh token wrong type", `{"type":"refresh","id":10,"token":1}`, rej(actors.CodeBadFrame, 10)},

		// join
		{"join full", `{"type":"join","id":2,"room":"general","password":"pw","since":{"offset":41,"epoch":"e7f"},"history":50}`,
			actors.Join{ID: 2, Room: "general", Password: "pw", Since: &actors.Position{Offset: 41, Epoch: "e7f"}, History: 50}},
		{"join minimal", `{"type":"join","room":"general"}`, actors.Join{Room: "general", History: -1}},
		{"join history 0", `{"type":"join","room":"r","history":0}`, actors.Join{Room: "r", History: 0}},
		{"join history above max passed", `{"type":"join","room":"r","history":500}`, actors.Join{Room: "r", History: 500}},
		{"join history null", `{"type":"join","room":"r","history":null}`, actors.Join{Room: "r", History: -1}},
		{"join since null", `{"type":"join","room":"r","since":null}`, actors.Join{Room: "r", History: -1}},
		{"join since offset 0 extra keys", `{"type":"join","room":"r","since":{"epoch":"e","offset":0,"x":[1]}}`,
			actors.Join{Room: "r", History: -1, Since: &actors.Position{Offset: 0, Epoch: "e"}}},
		{"join history negative", `{"type":"join","id":2,"room":"r","history":-1}`, rej(actors.CodeInvalid, 2)},
		{"join history float", `{"type":"join","id":2,"room":"r","history":1.5}`, rej(actors.CodeBadFrame, 2)},
		{"join history string", `{"type":"join","id":2,"room":"r","history":"5"}`, rej(actors.CodeBadFrame, 2)},
		{"join history huge", `{"type":"join","id":2,"room":"r","history":99999999999999999999}`, rej(actors.CodeInvalid, 2)},
		{"join since missing epoch", `{"type":"join","id":2,"room":"r","since":{"offset":4}}`, rej(actors.CodeInvalid, 2)},
		{"join since missing offset", `{"type":"join","id":2,"room":"r","since":{"epoch":"e"}}`, rej(actors.CodeInvalid, 2)},
		{"join since empty", `{"type":"join","id":2,"room":"r","since":{}}`, rej(actors.CodeInvalid, 2)},
		{"join since negative offset", `{"type":"join","id":2,"room":"r","since":{"offset":-1,"epoch":"e"}}`, rej(actors.CodeInvalid, 2)},
		{"join since offset float", `{"type":"join","id":2,"room":"r","since":{"offset":1.0,"epoch":"e"}}`, rej(actors.CodeBadFrame, 2)},
		{"join since epoch wrong type", `{"type":"join","id":2,"room":"r","since":{"offset":1,"epoch":7}}`, rej(actors.CodeBadFrame, 2)},
		{"join since not object", `{"type":"join","id":2,"room":"r","since":41}`, rej(actors.CodeBadFrame, 2)},
		{"join since array", `{"type":"join","id":2,"room":"r","since":[41,"e"]}`, rej(actors.CodeBadFrame, 2)},
		{"join password wrong type", `{"type":"join","id":2,"room":"r","password":1}`, rej(actors.CodeBadFrame, 2)},

		// room rules (via leave)
		{"leave", `{"type":"leave","id":3,"room":"general"}`, actors.Leave{ID: 3, Room: "general"}},
		{"room all classes", `{"type":"leave","room":"Az09_.:-"}`, actors.Leave{Room: "Az09_.:-"}},
		{"room 64", `{"type":"leave","room":"` + long(64) + `"}`, actors.Leave{Room: long(64)}},
		{"room 65", `{"type":"leave","id":3,"room":"` + long(65) + `"}`, rej(actors.CodeInvalid, 3)},
		{"room empty", `{"type":"leave","id":3,"room":""}`, rej(actors.CodeInvalid, 3)},
		{"room space", `{"type":"leave","id":3,"room":"a b"}`, rej(actors.CodeInvalid, 3)},
		{"room slash", `{"type":"leave","id":3,"room":"a/b"}`, rej(actors.CodeInvalid, 3)},
		{"room unicode", `{"type":"leave","id":3,"room":"général"}`, rej(actors.CodeInvalid, 3)},
		{"room NUL", `{"type":"leave","id":3,"room":"a\u0000"}`, rej(actors.CodeInvalid, 3)},
		{"room missing", `{"type":"leave","id":3}`, rej(actors.CodeInvalid, 3)},
		{"room null", `{"type":"leave","id":3,"room":null}`, rej(actors.CodeInvalid, 3)},
		{"room wrong type", `{"type":"leave","id":3,"room":5}`, rej(actors.CodeBadFrame, 3)},
		{"room escaped", `{"type":"leave","room":"\u0067eneral"}`, actors.Leave{Room: "general"}},

		// send
		{"send full", `{"type":"send","id":4,"room":"general","kind":"text","text":"hi","data":null,"reply_to":"m_1","cid":"c-8f2"}`,
			actors.Send{ID: 4, Room: "general", Kind: "text", Text: "hi", ReplyTo: "m_1", CID: "c-8f2"}},
		{"send kind absent", `{"type":"send","room":"r","text":"hi"}`, actors.Send{Room: "r", Kind: "text", Text: "hi"}},
		{"send kind null", `{"type":"send","room":"r","text":"hi","kind":null}`, actors.Send{Room: "r", Kind: "text", Text: "hi"}},
		{"send kind app", `{"type":"send","room":"r","text":"hi","kind":"poll.v2_x-y"}`, actors.Send{Room: "r", Kind: "poll.v2_x-y", Text: "hi"}},
		{"send kind 32", `{"type":"send","room":"r","text":"hi","kind":"k` + long(31) + `"}`, actors.Send{Room: "r", Kind: "k" + long(31), Text: "hi"}},
		{"send data only", `{"type":"send","room":"r","kind":"image","data":{"url": "https://x/y.png", "size" : 12}}`,
			actors.Send{Room: "r", Kind: "image", Data: []byte(`{"url":"https://x/y.png","size":12}`)}},
		{"send empty text with data", `{"type":"send","room":"r","text":"","data":[1, 2]}`, actors.Send{Room: "r", Kind: "text", Data: []byte(`[1,2]`)}},
		{"send data scalar", `{"type":"send","room":"r","data":0}`, actors.Send{Room: "r", Kind: "text", Data: []byte(`0`)}},
		{"send data false", `{"type":"send","room":"r","data":false}`, actors.Send{Room: "r", Kind: "text", Data: []byte(`false`)}},
		{"send data empty string", `{"type":"send","room":"r","data":""}`, actors.Send{Room: "r", Kind: "text", Data: []byte(`""`)}},
		{"send text escapes", `{"type":"send","room":"r","text":"a\"b\\c\/d\n\t\u00e9\ud83d\ude00\ud800x"}`,
			actors.Send{Room: "r", Kind: "text", Text: "a\"b\\c/d\n\té😀\uFFFDx"}},
		{"send text max", `{"type":"send","room":"r","text":"` + long(DefaultMaxTextBytes) + `"}`,
			actors.Send{Room: "r", Kind: "text", Text: long(DefaultMaxTextBytes)}},
		{"send text too long", `{"type":"send","id":4,"room":"r","text":"` + long(DefaultMaxTextBytes+1) + `"}`, rej(actors.CodeInvalid, 4)},
		{"send text too long multibyte", `{"type":"send","id":4,"room":"r","text":"` + strings.Repeat("é", DefaultMaxTextBytes/2) + `x"}`, rej(actors.CodeInvalid, 4)},
		{"send cid 64", `{"type":"send","room":"r","text":"x","cid":"` + long(64) + `"}`, actors.Send{Room: "r", Kind: "text", Text: "x", CID: long(64)}},
		{"send cid 65", `{"type":"send","id":4,"room":"r","text":"x","cid":"` + long(65) + `"}`, rej(actors.CodeInvalid, 4)},
		{"send cid empty", `{"type":"send","id":4,"room":"r","text":"x","cid":""}`, rej(actors.CodeInvalid, 4)},
		{"send cid null", `{"type":"send","room":"r","text":"x","cid":null}`, actors.Send{Room: "r", Kind: "text", Text: "x"}},
		{"send kind system", `{"type":"send","id":4,"room":"r","text":"x","kind":"system"}`, rej(actors.CodeInvalid, 4)},
		{"send kind upper", `{"type":"send","id":4,"room":"r","text":"x","kind":"Text"}`, rej(actors.CodeInvalid, 4)},
		{"send kind empty", `{"type":"send","id":4,"room":"r","text":"x","kind":""}`, rej(actors.CodeInvalid, 4)},
		{"send kind digit first", `{"type":"send","id":4,"room":"r","text":"x","kind":"1a"}`, rej(actors.CodeInvalid, 4)},
		{"send kind 33", `{"type":"send","id":4,"room":"r","text":"x","kind":"k` + long(32) + `"}`, rej(actors.CodeInvalid, 4)},
		{"send nothing", `{"type":"send","id":4,"room":"r"}`, rej(actors.CodeInvalid, 4)},
		{"send empty text null data", `{"type":"send","id":4,"room":"r","text":"","data":null}`, rej(actors.CodeInvalid, 4)},
		{"send no room", `{"type":"send","id":4,"text":"x"}`, rej(actors.CodeInvalid, 4)},
		{"send text wrong type", `{"type":"send","id":4,"room":"r","text":5}`, rej(actors.CodeBadFrame, 4)},
		{"send kind wrong type", `{"type":"send","id":4,"room":"r","text":"x","kind":1}`, rej(actors.CodeBadFrame, 4)},
		{"send cid wrong type", `{"type":"send","id":4,"room":"r","text":"x","cid":1}`, rej(actors.CodeBadFrame, 4)},
		{"send reply_to wrong type", `{"type":"send","id":4,"room":"r","text":"x","reply_to":{}}`, rej(actors.CodeBadFrame, 4)},
		{"wrong type beats invalid", `{"type":"send","id":4,"room":"bad room","text":5}`, rej(actors.CodeBadFrame, 4)},

		// typing
		{"typing on", `{"type":"typing","room":"r","on":true}`, actors.Typing{Room: "r", On: true}},
		{"typing off", `{"type":"typing","id":5,"room":"r","on":false}`, actors.Typing{ID: 5, Room: "r", On: false}},
		{"typing on missing", `{"type":"typing","id":5,"room":"r"}`, rej(actors.CodeInvalid, 5)},
		{"typing on null", `{"type":"typing","id":5,"room":"r","on":null}`, rej(actors.CodeInvalid, 5)},
		{"typing on number", `{"type":"typing","id":5,"room":"r","on":1}`, rej(actors.CodeBadFrame, 5)},
		{"typing on string", `{"type":"typing","id":5,"room":"r","on":"true"}`, rej(actors.CodeBadFrame, 5)},

		// presence, rooms, ping
		{"presence", `{"type":"presence","id":5,"room":"general"}`, actors.PresenceQuery{ID: 5, Room: "general"}},
		{"presence no room", `{"type":"presence","id":5}`, rej(actors.CodeInvalid, 5)},
		{"rooms", `{"type":"rooms","id":7}`, actors.RoomsQuery{ID: 7}},
		{"ping", `{"type":"ping","id":9}`, actors.Ping{ID: 9}},
		{"ping no id", `{"type":"ping"}`, actors.Ping{}},
		{"ping id null", `{"type":"ping","id":null}`, actors.Ping{}},
		{"ping ignores other fields", `{"type":"ping","id":9,"room":5,"on":"x","__proto__":{"a":1}}`, actors.Ping{ID: 9}},

		// history
		{"history before", `{"type":"history","id":6,"room":"general","before":58,"limit":50}`,
			actors.HistoryQuery{ID: 6, Room: "general", Before: 58, Limit: 50}},
		{"history after", `{"type":"history","id":6,"room":"r","after":3}`, actors.HistoryQuery{ID: 6, Room: "r", After: 3, Forward: true}},
		{"history after 0", `{"type":"history","id":6,"room":"r","after":0}`, actors.HistoryQuery{ID: 6, Room: "r", After: 0, Forward: true}},
		{"history latest", `{"type":"history","room":"r"}`, actors.HistoryQuery{Room: "r"}},
		{"history limit max", `{"type":"history","room":"r","limit":200}`, actors.HistoryQuery{Room: "r", Limit: 200}},
		{"history limit 1", `{"type":"history","room":"r","limit":1}`, actors.HistoryQuery{Room: "r", Limit: 1}},
		{"history limit 0", `{"type":"history","id":6,"room":"r","limit":0}`, rej(actors.CodeInvalid, 6)},
		{"history limit negative", `{"type":"history","id":6,"room":"r","limit":-5}`, rej(actors.CodeInvalid, 6)},
		{"history limit 201", `{"type":"history","id":6,"room":"r","limit":201}`, rej(actors.CodeInvalid, 6)},
		{"history limit huge", `{"type":"history","id":6,"room":"r","limit":1e400}`, rej(actors.CodeBadFrame, 6)},
		{"history limit string", `{"type":"history","id":6,"room":"r","limit":"5"}`, rej(actors.CodeBadFrame, 6)},
		{"history before and after", `{"type":"history","id":6,"room":"r","before":5,"after":1}`, rej(actors.CodeInvalid, 6)},
		{"history before null and after", `{"type":"history","room":"r","before":null,"after":1}`, actors.HistoryQuery{Room: "r", After: 1, Forward: true}},
		{"history before negative", `{"type":"history","id":6,"room":"r","before":-1}`, rej(actors.CodeInvalid, 6)},
		{"history after float", `{"type":"history","id":6,"room":"r","after":2.5}`, rej(actors.CodeBadFrame, 6)},
		{"history before bool", `{"type":"history","id":6,"room":"r","before":true}`, rej(actors.CodeBadFrame, 6)},
		{"history before max uint64", `{"type":"history","room":"r","before":18446744073709551615}`,
			actors.HistoryQuery{Room: "r", Before: 18446744073709551615}},
		{"history before overflow", `{"type":"history","id":6,"room":"r","before":18446744073709551616}`, rej(actors.CodeInvalid, 6)},
		{"history before -0", `{"type":"history","room":"r","before":-0}`, actors.HistoryQuery{Room: "r"}},

		// direct
		{"direct", `{"type":"direct","id":8,"to":"bob-7","text":"psst","data":null}`, actors.Direct{ID: 8, To: "bob-7", Text: "psst"}},
		{"direct data", `{"type":"direct","to":"bob","data":{"k":"v"}}`, actors.Direct{To: "bob", Data: []byte(`{"k":"v"}`)}},
		{"direct no to", `{"type":"direct","id":8,"text":"x"}`, rej(actors.CodeInvalid, 8)},
		{"direct empty to", `{"type":"direct","id":8,"to":"","text":"x"}`, rej(actors.CodeInvalid, 8)},
		{"direct to 128", `{"type":"direct","to":"` + long(128) + `","text":"x"}`, actors.Direct{To: long(128), Text: "x"}},
		{"direct to 129", `{"type":"direct","id":8,"to":"` + long(129) + `","text":"x"}`, rej(actors.CodeInvalid, 8)},
		{"direct to wrong type", `{"type":"direct","id":8,"to":7,"text":"x"}`, rej(actors.CodeBadFrame, 8)},
		{"direct nothing", `{"type":"direct","id":8,"to":"bob"}`, rej(actors.CodeInvalid, 8)},
		{"direct text too long", `{"type":"direct","id":8,"to":"bob","text":"` + long(DefaultMaxTextBytes+1) + `"}`, rej(actors.CodeInvalid, 8)},

		// id rules
		{"id max int64", `{"type":"ping","id":9223372036854775807}`, actors.Ping{ID: 9223372036854775807}},
		{"id zero", `{"type":"ping","id":0}`, rej(actors.CodeInvalid, 0)},
		{"id negative", `{"type":"ping","id":-3}`, rej(actors.CodeInvalid, 0)},
		{"id above int64", `{"type":"ping","id":9223372036854775808}`, rej(actors.CodeInvalid, 0)},
		{"id above uint64", `{"type":"ping","id":99999999999999999999999}`, rej(actors.CodeInvalid, 0)},
		{"id string", `{"type":"ping","id":"1"}`, rej(actors.CodeBadFrame, 0)},
		{"id float", `{"type":"ping","id":1.5}`, rej(actors.CodeBadFrame, 0)},
		{"id float integral", `{"type":"ping","id":1.0}`, rej(actors.CodeBadFrame, 0)},
		{"id exponent", `{"type":"ping","id":1e3}`, rej(actors.CodeBadFrame, 0)},
		{"id bool", `{"type":"ping","id":true}`, rej(actors.CodeBadFrame, 0)},
		{"id object", `{"type":"ping","id":{}}`, rej(actors.CodeBadFrame, 0)},
		{"id wrong type beats missing type", `{"id":"1"}`, rej(actors.CodeBadFrame, 0)},
		{"id zero with wrong type field", `{"type":"send","id":0,"room":5,"text":"x"}`, rej(actors.CodeBadFrame, 0)},
		{"id zero with invalid field", `{"type":"send","id":0,"room":"a b","text":"x"}`, rej(actors.CodeInvalid, 0)},
		{"id echoed with missing type", `{"id":3}`, rej(actors.CodeBadFrame, 3)},

		// type rules
		{"missing type", `{}`, rej(actors.CodeBadFrame, 0)},
		{"type number", `{"type":5,"id":2}`, rej(actors.CodeBadFrame, 2)},
		{"type null", `{"type":null}`, rej(actors.CodeBadFrame, 0)},
		{"type object", `{"type":{"x":1}}`, rej(actors.CodeBadFrame, 0)},
		{"unknown type", `{"type":"foo","id":7}`, rej(actors.CodeUnknownType, 7)},
		{"unknown empty type", `{"type":""}`, rej(actors.CodeUnknownType, 0)},
		{"type case", `{"type":"PING"}`, rej(actors.CodeUnknownType, 0)},
		{"key case", `{"Type":"ping"}`, rej(actors.CodeBadFrame, 0)},
		{"unknown type wins over field rules", `{"type":"nope","id":7,"room":5}`, rej(actors.CodeUnknownType, 7)},
		{"escaped key", `{"\u0074ype":"ping","i\u0064":4}`, actors.Ping{ID: 4}},
		{"escaped type value", `{"type":"p\u0069ng"}`, actors.Ping{}},
		{"duplicate key last wins", `{"type":"ping","type":"rooms","id":1,"id":2}`, actors.RoomsQuery{ID: 2}},
		{"duplicate key wrong type last", `{"type":"ping","type":1}`, rej(actors.CodeBadFrame, 0)},
		{"whitespace", " \t\r\n{ \"type\" :\n\"ping\" , \"id\" : 1 }\n ", actors.Ping{ID: 1}},

		// bad_json
		{"empty", ``, rej(actors.CodeBadJSON, 0)},
		{"spaces", `   `, rej(actors.CodeBadJSON, 0)},
		{"garbage", `nope`, rej(actors.CodeBadJSON, 0)},
		{"truncated", `{"type":"ping"`, rej(actors.CodeBadJSON, 0)},
		{"truncated string", `{"type":"pi`, rej(actors.CodeBadJSON, 0)},
		{"trailing garbage", `{"type":"ping"} x`, rej(actors.CodeBadJSON, 0)},
		{"two objects", `{"type":"ping"}{"type":"ping"}`, rej(actors.CodeBadJSON, 0)},
		{"array", `[{"type":"ping"}]`, rej(actors.CodeBadJSON, 0)},
		{"string", `"ping"`, rej(actors.CodeBadJSON, 0)},
		{"null", `null`, rej(actors.CodeBadJSON, 0)},
		{"number", `12`, rej(actors.CodeBadJSON, 0)},
		{"single quotes", `{'type':'ping'}`, rej(actors.CodeBadJSON, 0)},
		{"trailing comma", `{"type":"ping",}`, rej(actors.CodeBadJSON, 0)},
		{"leading zero", `{"type":"ping","id":01}`, rej(actors.CodeBadJSON, 0)},
		{"plus number", `{"type":"ping","id":+1}`, rej(actors.CodeBadJSON, 0)},
		{"bare dot", `{"type":"ping","id":1.}`, rej(actors.CodeBadJSON, 0)},
		{"NaN", `{"type":"ping","x":NaN}`, rej(actors.CodeBadJSON, 0)},
		{"raw control char", "{\"type\":\"ping\",\"x\":\"a\x01\"}", rej(actors.CodeBadJSON, 0)},
		{"raw newline in string", "{\"type\":\"ping\",\"x\":\"a\nb\"}", rej(actors.CodeBadJSON, 0)},
		{"bad escape", `{"type":"ping","x":"\x41"}`, rej(actors.CodeBadJSON, 0)},
		{"short unicode escape", `{"type":"ping","x":"\u12"}`, rej(actors.CodeBadJSON, 0)},
		{"missing colon", `{"type" "ping"}`, rej(actors.CodeBadJSON, 0)},
		{"unquoted key", `{type:"ping"}`, rej(actors.CodeBadJSON, 0)},
		{"bad literal", `{"type":"ping","x":tru}`, rej(actors.CodeBadJSON, 0)},
		{"NUL outside string", "{\"type\":\"ping\"}\x00", rej(actors.CodeBadJSON, 0)},
		{"BOM", "\ufeff{\"type\":\"ping\"}", rej(actors.CodeBadJSON, 0)},
		{"depth 64 ok", `{"type":"send","room":"r","data":` + nest(63, "") + `}`,
			actors.Send{Room: "r", Kind: "text", Data: []byte(nest(63, ""))}},
		{"depth 65", `{"type":"send","id":4,"room":"r","data":` + nest(64, "") + `}`, rej(actors.CodeBadJSON, 0)},
		{"depth 65 in unknown field", `{"type":"ping","x":` + nest(64, "") + `}`, rej(actors.CodeBadJSON, 0)},
		{"depth huge", nest(100000, ""), rej(actors.CodeBadJSON, 0)},
		{"depth huge unterminated", strings.Repeat(`{"a":`, 100000), rej(actors.CodeBadJSON, 0)},
		{"invalid JSON beats all", `{"type":"nope","id":"x",}`, rej(actors.CodeBadJSON, 0)},

		// invalid UTF-8 and NUL inside strings
		{"invalid utf8 text replaced", "{\"type\":\"send\",\"room\":\"r\",\"text\":\"a\xffb\"}", actors.Send{Room: "r", Kind: "text", Text: "a\uFFFDb"}},
		{"invalid utf8 data replaced", "{\"type\":\"send\",\"room\":\"r\",\"data\":[\"a\xffb\"]}", actors.Send{Room: "r", Kind: "text", Data: []byte("[\"a\uFFFDb\"]")}},
		{"NUL escaped in text", `{"type":"send","room":"r","text":"a\u0000b"}`, actors.Send{Room: "r", Kind: "text", Text: "a\x00b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decode([]byte(tc.in), Limits{})
			if want, ok := tc.want.(actors.Rejected); ok {
				r, ok := got.(actors.Rejected)
				if !ok {
					t.Fatalf("Decode(%.200s) = %#v, want rejection %s", tc.in, got, want.Code)
				}
				if r.Code != want.Code || r.ID != want.ID || r.Message == "" {
					t.Fatalf("Decode(%.200s) = %+v, want code %s id %d", tc.in, r, want.Code, want.ID)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode(%.200s)\n got %#v\nwant %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	lim := Limits{MaxTextBytes: 4, MaxCIDBytes: 2, MaxDepth: 3, HistoryMax: 10}
	tests := []struct {
		in   string
		code string // "" for accepted
	}{
		{`{"type":"send","room":"r","text":"abcd"}`, ""},
		{`{"type":"send","room":"r","text":"abcde"}`, actors.CodeInvalid},
		{`{"type":"send","room":"r","text":"a","cid":"ab"}`, ""},
		{`{"type":"send","room":"r","text":"a","cid":"abc"}`, actors.CodeInvalid},
		{`{"type":"send","room":"r","data":[[1]]}`, ""},
		{`{"type":"send","room":"r","data":[[[1]]]}`, actors.CodeBadJSON},
		{`{"type":"history","room":"r","limit":10}`, ""},
		{`{"type":"history","room":"r","limit":11}`, actors.CodeInvalid},
	}
	for _, tc := range tests {
		got := Decode([]byte(tc.in), lim)
		r, rejected := got.(actors.Rejected)
		switch {
		case tc.code == "" && rejected:
			t.Errorf("Decode(%s) = %+v, want accepted", tc.in, r)
		case tc.code != "" && (!rejected || r.Code != tc.code):
			t.Errorf("Decode(%s) = %#v, want %s", tc.in, got, tc.code)
		}
	}
}

// TestDecodeCopies checks that nothing in a decoded command aliases the payload.
func TestDecodeCopies(t *testing.T) {
	payloads := []string{
		`{"type":"send","id":4,"room":"general","kind":"image","text":"hi","data":{"a":[1,2]},"reply_to":"m_1","cid":"c1"}`,
		`{"type":"join","id":2,"room":"general","password":"pw","since":{"offset":41,"epoch":"e7f"}}`,
		`{"type":"hello","id":1,"token":"tok","name":"alice","session":"s1"}`,
		`{"type":"direct","to":"bob","text":"psst","data":"x"}`,
	}
	for _, p := range payloads {
		buf := []byte(p)
		want := Decode([]byte(p), Limits{})
		got := Decode(buf, Limits{})
		for i := range buf {
			buf[i] = 'X'
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decoded %s aliases the payload: after overwrite %#v", p, got)
		}
	}
}

func TestDecodeDataCompact(t *testing.T) {
	got := Decode([]byte("{\"type\":\"send\",\"room\":\"r\",\"data\": {\n \"a b\" : [ 1 , \"x y\" ] } }"), Limits{})
	s, ok := got.(actors.Send)
	if !ok || !bytes.Equal(s.Data, []byte(`{"a b":[1,"x y"]}`)) {
		t.Fatalf("got %#v", got)
	}
}

func TestValidRoomKind(t *testing.T) {
	for _, r := range []string{"a", "general", "A-Z_0.9:x", strings.Repeat("z", 64)} {
		if !ValidRoom(r) {
			t.Errorf("ValidRoom(%q) = false", r)
		}
	}
	for _, r := range []string{"", " ", "a b", "a/b", "é", strings.Repeat("z", 65), "a\x00"} {
		if ValidRoom(r) {
			t.Errorf("ValidRoom(%q) = true", r)
		}
	}
	for _, k := range []string{"text", "image", "file", "a", "a.b-c_d9", "a" + strings.Repeat("b", 31)} {
		if !ValidKind(k) {
			t.Errorf("ValidKind(%q) = false", k)
		}
	}
	for _, k := range []string{"", "system", "Text", "9a", "_a", "a b", "a" + strings.Repeat("b", 32), "a:b"} {
		if ValidKind(k) {
			t.Errorf("ValidKind(%q) = true", k)
		}
	}
}
