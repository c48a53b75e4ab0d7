package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
)

func TestDecodeDoc(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"doc_update", `{"type":"doc_update","id":3,"room":"r","data":"AAEC+g==","cid":"c-1"}`,
			actors.DocUpdate{ID: 3, Room: "r", Data: []byte(`"AAEC+g=="`), CID: "c-1"}},
		{"doc_update escaped", `{"type":"doc_update","room":"r","data":"\u0041AE="}`,
			actors.DocUpdate{Room: "r", Data: []byte(`"AAE="`)}},
		{"doc_update one pad", `{"type":"doc_update","room":"r","data":"AAA="}`, actors.DocUpdate{Room: "r", Data: []byte(`"AAA="`)}},
		{"doc_update no pad", `{"type":"doc_update","room":"r","data":"AAAA"}`, actors.DocUpdate{Room: "r", Data: []byte(`"AAAA"`)}},
		{"doc_update unpadded", `{"type":"doc_update","id":4,"room":"r","data":"AAE"}`, rej(actors.CodeInvalid, 4)},
		{"doc_update url alphabet", `{"type":"doc_update","id":4,"room":"r","data":"-_8="}`, rej(actors.CodeInvalid, 4)},
		{"doc_update newline", `{"type":"doc_update","id":4,"room":"r","data":"AA\nAAA=="}`, rej(actors.CodeInvalid, 4)},
		{"doc_update pad inside", `{"type":"doc_update","id":4,"room":"r","data":"A=AA"}`, rej(actors.CodeInvalid, 4)},
		{"doc_update three pads", `{"type":"doc_update","id":4,"room":"r","data":"A==="}`, rej(actors.CodeInvalid, 4)},
		{"doc_update empty", `{"type":"doc_update","id":4,"room":"r","data":""}`, rej(actors.CodeInvalid, 4)},
		{"doc_update no data", `{"type":"doc_update","id":4,"room":"r"}`, rej(actors.CodeInvalid, 4)},
		{"doc_update object data", `{"type":"doc_update","id":4,"room":"r","data":{}}`, rej(actors.CodeBadFrame, 4)},
		{"doc_update long cid", `{"type":"doc_update","id":4,"room":"r","data":"AAE=","cid":"` + strings.Repeat("c", 65) + `"}`, rej(actors.CodeInvalid, 4)},
		{"doc_update no room", `{"type":"doc_update","id":4,"data":"AAE="}`, rej(actors.CodeInvalid, 4)},
		{"send of kind doc", `{"type":"send","id":4,"room":"r","kind":"doc","data":"AAE="}`, rej(actors.CodeInvalid, 4)},
		{"doc_sync", `{"type":"doc_sync","id":5,"room":"r","after":40,"limit":5000}`, actors.DocSync{ID: 5, Room: "r", After: 40, Limit: 5000}},
		{"doc_sync defaults", `{"type":"doc_sync","room":"r"}`, actors.DocSync{Room: "r"}},
		{"doc_sync limit 0", `{"type":"doc_sync","id":5,"room":"r","limit":0}`, rej(actors.CodeInvalid, 5)},
		{"doc_sync limit over", `{"type":"doc_sync","id":5,"room":"r","limit":5001}`, rej(actors.CodeInvalid, 5)},
		{"doc_sync negative after", `{"type":"doc_sync","id":5,"room":"r","after":-1}`, rej(actors.CodeInvalid, 5)},
		{"doc_sync string after", `{"type":"doc_sync","id":5,"room":"r","after":"1"}`, rej(actors.CodeBadFrame, 5)},
		{"doc_snapshot", `{"type":"doc_snapshot","id":6,"room":"r","offset":59,"data":"AAEC+g=="}`,
			actors.DocSnapshot{ID: 6, Room: "r", Offset: 59, Data: []byte{0, 1, 2, 0xfa}}},
		{"doc_snapshot offset 0", `{"type":"doc_snapshot","id":6,"room":"r","offset":0,"data":"AAE="}`, rej(actors.CodeInvalid, 6)},
		{"doc_snapshot no offset", `{"type":"doc_snapshot","id":6,"room":"r","data":"AAE="}`, rej(actors.CodeInvalid, 6)},
		{"doc_snapshot bad data", `{"type":"doc_snapshot","id":6,"room":"r","offset":1,"data":"!!!!"}`, rej(actors.CodeInvalid, 6)},
		{"doc_snapshot no data", `{"type":"doc_snapshot","id":6,"room":"r","offset":1}`, rej(actors.CodeInvalid, 6)},
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
				t.Fatalf("Decode(%s) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

// TestEncodeDoc checks the document replies field by field, the optional
// snapshot and gap included.
func TestEncodeDoc(t *testing.T) {
	msg := persistence.Message{ID: "m_1", Offset: 7, TS: 9, FromID: "u", FromName: "U", Kind: "doc", Data: []byte(`"AAE="`)}
	for _, tc := range []struct {
		f    actors.Frame
		want string
	}{
		{actors.DocSyncReply{ID: 2, Room: "r", Snapshot: &persistence.Snapshot{Offset: 5, Data: []byte{0, 1, 2, 0xfa}, TS: 3},
			Updates: []persistence.Message{msg}, Offset: 7, More: true},
			`{"type":"doc_sync","id":2,"room":"r","snapshot":{"offset":5,"data":"AAEC+g==","ts":3},"updates":[{"id":"m_1","offset":7,"ts":9,"from":{"id":"u","name":"U"},"kind":"doc","text":"","data":"AAE=","reply_to":null}],"offset":7,"more":true}`},
		{actors.DocSyncReply{Room: "r", Updates: []persistence.Message{}, Offset: 4, Gap: true},
			`{"type":"doc_sync","room":"r","updates":[],"offset":4,"more":false,"gap":true}`},
		{actors.DocSnapshotReply{ID: 3, Room: "r", Offset: 5, Stored: false},
			`{"type":"doc_snapshot","id":3,"room":"r","offset":5,"stored":false}`},
	} {
		got := Encoder{}.Encode(tc.f)
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("Encode(%T) = %s, not JSON: %v", tc.f, got, err)
		}
		if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("Encode(%T)\n got %s\nwant %s", tc.f, got, tc.want)
		}
	}
}
