package wire

import (
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
)

func BenchmarkDecodeSend(b *testing.B) {
	payload := []byte(`{"type":"send","id":4,"room":"general","kind":"text","text":"hello everyone, how is it going today?","data":null,"reply_to":"m_01HZX3","cid":"c-8f2a91"}`)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Decode(payload, Limits{}).(actors.Send); !ok {
			b.Fatal("not a send")
		}
	}
}

func BenchmarkDecodeSendData(b *testing.B) {
	payload := []byte(`{"type":"send","id":4,"room":"general","kind":"image","text":"look","data":{"url":"https://cdn.example.com/i/8f2a91.png","size":48213,"mime":"image/png","w":640,"h":480}}`)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Decode(payload, Limits{}).(actors.Send); !ok {
			b.Fatal("not a send")
		}
	}
}

func benchMessage(i int) persistence.Message {
	return persistence.Message{
		ID: "m_01HZX3K9Q" + strings.Repeat("x", i%3), Offset: uint64(1000 + i), TS: 1763800000123 + int64(i),
		FromID: "alice-42", FromName: "alice", Kind: "text",
		Text: "hello everyone, how is it going today? \"quoted\" and a newline\n", ReplyTo: "m_01HZX3K9P",
	}
}

func BenchmarkEncodeBatch10(b *testing.B) {
	msgs := make([]persistence.Message, 10)
	for i := range msgs {
		msgs[i] = benchMessage(i)
	}
	frame := actors.BatchPush{Room: "general", Msgs: msgs}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(Encoder{}.Encode(frame))
	}
	b.SetBytes(int64(n))
}

func BenchmarkEncodeMessagePush(b *testing.B) {
	m := benchMessage(0)
	m.Data = []byte(`{"url":"https://cdn.example.com/i/8f2a91.png","size":48213}`)
	frame := actors.MessagePush{Room: "general", Msg: &m}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(Encoder{}.Encode(frame))
	}
	b.SetBytes(int64(n))
}
