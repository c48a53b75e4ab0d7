package cluster

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
)

func sampleBatch(n int) actors.RoomEvent {
	ev := actors.RoomEvent{Kind: actors.EventBatch, Node: "node-1", Epoch: "00000000000000aa"}
	for i := range n {
		off := uint64(1000 + i)
		ev.Msgs = append(ev.Msgs, persistence.Message{
			ID: "m_" + strconv.Itoa(i), Offset: off, TS: 1_700_000_000_000 + int64(i),
			FromID: "u" + strconv.Itoa(i%7), FromName: "Ünïcode 🙂", Kind: "text",
			Text: strings.Repeat("hello ", i%5), Data: []byte(`{"k":[1,2,3]}`), ReplyTo: "m_0", CID: "c" + strconv.Itoa(i),
		})
		ev.Senders = append(ev.Senders, actors.SenderTag("node-1", "conn/"+strconv.Itoa(i)))
	}
	return ev
}

func sampleEvents() []actors.RoomEvent {
	return []actors.RoomEvent{
		sampleBatch(3),
		{Kind: actors.EventBatch, Node: "n", Msgs: []persistence.Message{{Offset: 1}}, Senders: []string{""}},
		{Kind: actors.EventTail, Node: "n", Epoch: "e", Offset: 1<<64 - 1},
		{Kind: actors.EventPresence, Node: "n", Seq: 42, Users: []actors.PresenceMember{{ID: "a", Name: "A", Conns: 2}, {ID: "b", Conns: -1}}},
		{Kind: actors.EventPresence, Node: "n", Seq: 43, Users: []actors.PresenceMember{{ID: "a", Name: "A", Conns: 2,
			States: []actors.ConnState{{Conn: "n/$1", State: []byte(`{"color":"red"}`)}, {Conn: "n/$2", State: []byte(`{}`)}}}}},
		{Kind: actors.EventSignal, Node: "n", User: actors.UserRef{ID: "u", Name: "U"}, Conn: "n/$3", Key: "cursor", Data: []byte(`{"x":1,"y":2}`)},
		{Kind: actors.EventSignal, Node: "n", User: actors.UserRef{ID: "u"}, Conn: "n/$3", Key: "cursor"},
		{Kind: actors.EventPresenceSync, Node: "n"},
		{Kind: actors.EventTyping, Node: "n", User: actors.UserRef{ID: "u", Name: "U"}, On: true},
		{Kind: 200, Node: "\x00.*>", Epoch: "\xff"},
		{},
	}
}

func sampleSends() []actors.RemoteSend {
	return []actors.RemoteSend{
		{Room: "team.a b", From: actors.UserRef{ID: "u1", Name: "Ann"}, Kind: "text", Text: "hi",
			Data: []byte(`{"x":1}`), ReplyTo: "m_9", CID: "cid-1", Sender: "node-2/1/2"},
		{},
	}
}

func sampleResults() []actors.RemoteSendResult {
	return []actors.RemoteSendResult{
		{MsgID: "m_1", Offset: 17, TS: 1_700_000_000_123, Dup: true},
		{Code: actors.CodeRateLimited, Message: "slow down", TS: -5},
		{},
	}
}

func sampleUsers() []userRequest {
	return []userRequest{
		{Node: "a", D: actors.UserDelivery{Kind: actors.DeliverDirect, User: "u1",
			Direct: actors.DirectPush{From: actors.UserRef{ID: "u2", Name: "Bo"}, Text: "psst", Data: []byte(`[1]`), TS: 99}}},
		{Node: "a", D: actors.UserDelivery{Kind: actors.DeliverNotify, User: "u1",
			Notify: actors.Notify{Event: "invoice", Data: []byte(`{"n":1}`), TS: 100}}},
		{Node: "a", D: actors.UserDelivery{Kind: actors.DeliverDisconnect, User: "u1", Code: 4003, Reason: "banned"}},
		{},
	}
}

func sampleAnswers() []userAnswer {
	return []userAnswer{{Node: "b", N: 3}, {Node: "c", N: -2}, {}}
}

// frames returns one encoded frame of every sample.
func frames() [][]byte {
	var out [][]byte
	for _, ev := range sampleEvents() {
		out = append(out, appendFeed(nil, &ev))
	}
	for _, s := range sampleSends() {
		out = append(out, appendSend(nil, &s))
	}
	for _, r := range sampleResults() {
		out = append(out, appendResult(nil, &r))
	}
	for _, u := range sampleUsers() {
		out = append(out, appendUser(nil, &u))
	}
	for _, a := range sampleAnswers() {
		out = append(out, appendUserAnswer(nil, &a))
	}
	return out
}

func roundTrip[T any](t *testing.T, v T, enc func([]byte, *T) []byte, dec func([]byte) (T, error)) {
	t.Helper()
	frame := enc([]byte("prefix"), &v)[len("prefix"):] // appends, keeping what was there
	got, err := dec(frame)
	if err != nil {
		t.Fatalf("%+v: %v", v, err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
	}
	// Every strict prefix is refused, and so is a trailing byte.
	for i := range len(frame) {
		if _, err := dec(frame[:i]); err == nil {
			t.Fatalf("%+v: prefix of %d of %d bytes decoded", v, i, len(frame))
		}
	}
	if _, err := dec(append(frame[:len(frame):len(frame)], 0)); err == nil {
		t.Fatalf("%+v: trailing byte accepted", v)
	}
	// Another version is refused as such.
	other := append([]byte{codecVersion + 1}, frame[1:]...)
	if _, err := dec(other); !errors.Is(err, errVersion) {
		t.Fatalf("%+v: version %d: %v", v, codecVersion+1, err)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		roundTrip(t, ev, appendFeed, decodeFeed)
		frame := appendFeed(nil, &ev)
		node, err := feedNode(frame)
		if err != nil || string(node) != ev.Node {
			t.Fatalf("feedNode = %q, %v; want %q", node, err, ev.Node)
		}
	}
	for _, s := range sampleSends() {
		roundTrip(t, s, appendSend, decodeSend)
	}
	for _, r := range sampleResults() {
		roundTrip(t, r, appendResult, decodeResult)
	}
	for _, u := range sampleUsers() {
		roundTrip(t, u, appendUser, decodeUser)
	}
	for _, a := range sampleAnswers() {
		roundTrip(t, a, appendUserAnswer, decodeUserAnswer)
	}
}

// TestCodecEmptyIsNil: empty slices and Data decode to nil, as absent ones.
func TestCodecEmptyIsNil(t *testing.T) {
	ev := actors.RoomEvent{Kind: actors.EventPresence, Users: []actors.PresenceMember{}, Msgs: []persistence.Message{}}
	got, err := decodeFeed(appendFeed(nil, &ev))
	if err != nil || got.Users != nil || got.Msgs != nil || got.Senders != nil {
		t.Fatalf("%+v, %v", got, err)
	}
	s := actors.RemoteSend{Data: []byte{}}
	gs, err := decodeSend(appendSend(nil, &s))
	if err != nil || gs.Data != nil {
		t.Fatalf("%+v, %v", gs, err)
	}
}

func TestCodecRefusesOtherFrames(t *testing.T) {
	ev := sampleBatch(1)
	feed := appendFeed(nil, &ev)
	if _, err := decodeSend(feed); err == nil || errors.Is(err, errVersion) {
		t.Fatalf("a feed frame as a send: %v", err)
	}
	for _, frame := range [][]byte{nil, {}, {codecVersion}, {0, 1}, {255, 1}} {
		if _, err := decodeFeed(frame); err == nil {
			t.Fatalf("%x decoded", frame)
		}
	}
	// A bad bool.
	r := actors.RemoteSendResult{Dup: true}
	frame := appendResult(nil, &r)
	i := 2 + 1 + 1 + 1 // header, empty MsgID, Offset 0, TS 0
	if frame[i] != 1 {
		t.Fatalf("layout changed: %x", frame)
	}
	frame[i] = 2
	if _, err := decodeResult(frame); err == nil {
		t.Fatal("bool 2 accepted")
	}
	// A hostile count does not allocate a huge list.
	huge := append(appendHeader(nil, frameFeed), byte(actors.EventBatch), 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
	if _, err := decodeFeed(huge); err == nil {
		t.Fatal("huge count accepted")
	}
}

// FuzzDecoders feeds arbitrary bytes to every decoder: none panics, and
// whatever one accepts encodes back to a frame that decodes to the same.
func FuzzDecoders(f *testing.F) {
	for _, fr := range frames() {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		_, _ = feedNode(frame)
		if ev, err := decodeFeed(frame); err == nil {
			again, err := decodeFeed(appendFeed(nil, &ev))
			if err != nil || !reflect.DeepEqual(again, ev) {
				t.Fatalf("feed %+v re-decoded as %+v, %v", ev, again, err)
			}
			node, err := feedNode(frame)
			if err != nil || string(node) != ev.Node {
				t.Fatalf("feedNode %q, %v; decoded node %q", node, err, ev.Node)
			}
		}
		fuzzOne(t, frame, appendSend, decodeSend)
		fuzzOne(t, frame, appendResult, decodeResult)
		fuzzOne(t, frame, appendUser, decodeUser)
		fuzzOne(t, frame, appendUserAnswer, decodeUserAnswer)
	})
}

func fuzzOne[T any](t *testing.T, frame []byte, enc func([]byte, *T) []byte, dec func([]byte) (T, error)) {
	v, err := dec(frame)
	if err != nil {
		return
	}
	again, err := dec(enc(nil, &v))
	if err != nil || !reflect.DeepEqual(again, v) {
		t.Fatalf("%+v re-decoded as %+v, %v", v, again, err)
	}
}

// BenchmarkFeedBatch encodes and decodes a batch of 64 messages, what a
// busy room broadcasts.
func BenchmarkFeedBatch(b *testing.B) {
	ev := sampleBatch(64)
	buf := appendFeed(nil, &ev)
	b.SetBytes(int64(len(buf)))
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendFeed(buf[:0], &ev)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeFeed(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
