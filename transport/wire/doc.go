// Package wire is troupe's wire protocol, version 1 (../../PROTOCOL.md), as code: the
// protocol constants, the decoder that turns one inbound WebSocket text frame into
// exactly one typed command of package actors (or an actors.Rejected), and the
// encoder that turns outbound actors frames into compact JSON.
//
// Both directions are hand-written and reflection-free because they run for every
// frame: Decode is a single strict RFC 8259 pass over the payload that records
// where each known top-level field's value lies and then copies out only the
// values the frame type uses; Append writes JSON with append-style functions into
// one buffer sized up front.
//
// The package holds no state: Decode, Encoder and the Append functions are safe
// for concurrent use.
package wire
