package app_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
)

// BenchmarkDocSync10k measures what a new page pays to load a document of
// 10,000 updates of about 40 bytes each: a fresh connection's hello, join
// and doc_sync paged to the end (the default limit, 1,000 a page), on the
// default SQLite store; without a snapshot, and with one (32 KiB) at
// offset 9,990, after which 10 updates remain.
func BenchmarkDocSync10k(b *testing.B) {
	a := startServer(b, "--rate-limit", "0")
	addr := a.Addr.String()
	writer := mustDial(b, addr)
	writer.hello("writer")
	const updates = 10_000
	for _, room := range []string{"plain", "snap"} {
		if f := writer.request(map[string]any{"type": "join", "room": room}); f["type"] != "joined" {
			b.Fatalf("join %s: %v", room, f)
		}
		fillDoc(b, writer, room, updates)
	}
	snap := make([]byte, 32<<10)
	if _, err := rand.Read(snap); err != nil {
		b.Fatal(err)
	}
	if r := writer.request(map[string]any{"type": "doc_snapshot", "room": "snap", "offset": updates - 10,
		"data": base64.StdEncoding.EncodeToString(snap)}); r["stored"] != true {
		b.Fatalf("doc_snapshot: %v", r)
	}
	for _, c := range []struct {
		name, room string
		want       int // updates in the sync
	}{
		{"NoSnapshot", "plain", updates},
		{"Snapshot9990", "snap", 10},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				r := mustDial(b, addr)
				r.hello("reader")
				if f := r.request(map[string]any{"type": "join", "room": c.room}); f["type"] != "joined" {
					b.Fatalf("join: %v", f)
				}
				if n := syncCount(b, r, c.room); n != c.want {
					b.Fatalf("synced %d updates, want %d", n, c.want)
				}
			}
		})
	}
}

// fillDoc pipelines n doc updates of 40 bytes (before base64) into room.
func fillDoc(b *testing.B, c *rawClient, room string, n int) {
	const window = 64
	sent, acked := 0, 0
	send := func() {
		sent++
		c.sendJSON(map[string]any{"type": "doc_update", "id": sent, "room": room,
			"data": base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%040d", sent))})
	}
	for range min(window, n) {
		send()
	}
	for acked < n {
		f := c.next()
		if _, ok := f["id"]; !ok {
			continue
		}
		if f["type"] != "ack" {
			b.Fatalf("fill %s: %v", room, f)
		}
		acked++
		if sent < n {
			send()
		}
	}
}

// syncCount pages doc_sync from 0 to the end and counts the updates.
func syncCount(b *testing.B, c *rawClient, room string) int {
	n, after := 0, 0.0
	for {
		r := c.request(map[string]any{"type": "doc_sync", "room": room, "after": after})
		if r["type"] != "doc_sync" {
			b.Fatalf("doc_sync: %v", r)
		}
		n += len(r["updates"].([]any))
		after = r["offset"].(float64)
		if r["more"] != true {
			return n
		}
	}
}
