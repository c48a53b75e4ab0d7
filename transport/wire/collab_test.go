package wire

import (
	"reflect"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/actors"
)

func TestDecodeCollab(t *testing.T) {
	big := `{"x":"` + strings.Repeat("a", DefaultMaxSignalBytes) + `"}`
	bigState := `{"x":"` + strings.Repeat("a", DefaultMaxStateBytes) + `"}`
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"signal", `{"type":"signal","id":3,"room":"r","key":"cursor","data":{"x": 1, "y": 2}}`,
			actors.Signal{ID: 3, Room: "r", Key: "cursor", Data: []byte(`{"x":1,"y":2}`)}},
		{"signal without data", `{"type":"signal","room":"r","key":"a.b:c-d_e"}`, actors.Signal{Room: "r", Key: "a.b:c-d_e"}},
		{"signal null data", `{"type":"signal","room":"r","key":"k","data":null}`, actors.Signal{Room: "r", Key: "k"}},
		{"signal scalar data", `{"type":"signal","room":"r","key":"k","data":7}`, actors.Signal{Room: "r", Key: "k", Data: []byte(`7`)}},
		{"signal no key", `{"type":"signal","id":4,"room":"r","data":1}`, rej(actors.CodeInvalid, 4)},
		{"signal empty key", `{"type":"signal","id":4,"room":"r","key":""}`, rej(actors.CodeInvalid, 4)},
		{"signal long key", `{"type":"signal","id":4,"room":"r","key":"` + strings.Repeat("k", 33) + `"}`, rej(actors.CodeInvalid, 4)},
		{"signal bad key", `{"type":"signal","id":4,"room":"r","key":"a b"}`, rej(actors.CodeInvalid, 4)},
		{"signal key wrong type", `{"type":"signal","id":4,"room":"r","key":5}`, rej(actors.CodeBadFrame, 4)},
		{"signal no room", `{"type":"signal","id":4,"key":"k"}`, rej(actors.CodeInvalid, 4)},
		{"signal oversize data", `{"type":"signal","id":4,"room":"r","key":"k","data":` + big + `}`, rej(actors.CodeInvalid, 4)},
		{"presence_set", `{"type":"presence_set","id":5,"room":"r","state":{"color": "#e33"}}`,
			actors.PresenceSet{ID: 5, Room: "r", State: []byte(`{"color":"#e33"}`)}},
		{"presence_set empty", `{"type":"presence_set","room":"r","state":{}}`, actors.PresenceSet{Room: "r", State: []byte(`{}`)}},
		{"presence_set null clears", `{"type":"presence_set","room":"r","state":null}`, actors.PresenceSet{Room: "r"}},
		{"presence_set absent clears", `{"type":"presence_set","room":"r"}`, actors.PresenceSet{Room: "r"}},
		{"presence_set array", `{"type":"presence_set","id":6,"room":"r","state":[1]}`, rej(actors.CodeBadFrame, 6)},
		{"presence_set string", `{"type":"presence_set","id":6,"room":"r","state":"x"}`, rej(actors.CodeBadFrame, 6)},
		{"presence_set oversize", `{"type":"presence_set","id":6,"room":"r","state":` + bigState + `}`, rej(actors.CodeInvalid, 6)},
		{"presence_set bad room", `{"type":"presence_set","id":6,"room":"a b","state":{}}`, rej(actors.CodeInvalid, 6)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decode([]byte(tc.in), Limits{})
			if want, ok := tc.want.(actors.Rejected); ok {
				r, ok := got.(actors.Rejected)
				if !ok || r.Code != want.Code || r.ID != want.ID || r.Message == "" {
					t.Fatalf("Decode(%.120s) = %#v, want code %s id %d", tc.in, got, want.Code, want.ID)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode(%.120s)\n got %#v\nwant %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDecodeCollabLimits(t *testing.T) {
	lim := Limits{MaxSignalBytes: 8, MaxStateBytes: 10}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"type":"signal","room":"r","key":"k","data":[1, 2, 3]}`, true}, // 7 bytes compact
		{`{"type":"signal","room":"r","key":"k","data":[1,2,3,4]}`, false},
		{`{"type":"presence_set","room":"r","state":{"ab": 123}}`, true},  // 10 bytes compact
		{`{"type":"presence_set","room":"r","state":{"abc":123}}`, false}, // 11 bytes
	} {
		_, rejected := Decode([]byte(tc.in), lim).(actors.Rejected)
		if rejected == tc.ok {
			t.Errorf("Decode(%s) rejected = %v, want %v", tc.in, rejected, !tc.ok)
		}
	}
}

func TestEncodeCollab(t *testing.T) {
	alice := actors.UserRef{ID: "alice-42", Name: "alice"}
	for _, tc := range []struct {
		frame actors.Frame
		want  string
	}{
		{actors.SignalPush{Room: "r", User: alice, Conn: "$4", Key: "cursor", Data: []byte(`{"x":1}`)},
			`{"type":"signal","room":"r","user":{"id":"alice-42","name":"alice"},"conn":"$4","key":"cursor","data":{"x":1}}`},
		{actors.SignalPush{Room: "r", User: alice, Conn: "n/$4", Key: "k"},
			`{"type":"signal","room":"r","user":{"id":"alice-42","name":"alice"},"conn":"n/$4","key":"k","data":null}`},
		{actors.PresenceDiff{Room: "r", Joins: []actors.UserRef{}, Leaves: []actors.UserRef{}, States: []actors.StateChange{
			{User: alice, Conn: "$4", State: []byte(`{"c":1}`)}, {User: alice, Conn: "$5"}}},
			`{"type":"presence_diff","room":"r","joins":[],"leaves":[],"states":[{"user":{"id":"alice-42","name":"alice"},"conn":"$4","state":{"c":1}},{"user":{"id":"alice-42","name":"alice"},"conn":"$5","state":null}]}`},
		{actors.PresenceReply{ID: 2, Room: "r", Members: []actors.PresenceMember{{ID: "a", Name: "A", Conns: 2,
			States: []actors.ConnState{{Conn: "$1", State: []byte(`{}`)}, {Conn: "$2", State: []byte(`{"x":true}`)}}}, {ID: "b", Name: "B", Conns: 1}}},
			`{"type":"presence","id":2,"room":"r","members":[{"id":"a","name":"A","conns":2,"states":{"$1":{},"$2":{"x":true}}},{"id":"b","name":"B","conns":1}]}`},
		{actors.Welcome{ID: 1, Session: "s", User: alice, HeartbeatMS: 1, TimeoutMS: 2, FrameBytes: 3, RatePerS: 4, ServerTime: 5, Conn: "$9", SignalRatePerS: 60},
			`{"type":"welcome","id":1,"session":"s","user":{"id":"alice-42","name":"alice"},"resumed":false,"heartbeat":{"interval_ms":1,"timeout_ms":2},"limits":{"frame_bytes":3,"rate_per_s":4,"signal_rate_per_s":60},"server_time":5,"conn":"$9"}`},
	} {
		if got := string(Encoder{}.Encode(tc.frame)); got != tc.want {
			t.Errorf("Encode(%T)\n got %s\nwant %s", tc.frame, got, tc.want)
		}
	}
}
