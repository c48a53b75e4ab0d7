// Package troupe is the Go client of the troupe chat server (wire protocol
// troupe.v1, ../../../PROTOCOL.md).
//
// A Client holds one WebSocket connection at a time and replaces it when it
// drops: it reconnects with full-jitter backoff, resumes its session, joins
// its rooms again with since {epoch, offset} and replays what it missed.
//
// Invariants:
//   - Events reach Options.OnEvent one at a time, on one goroutine, in the
//     order the client produced them. Within a room, message events come in
//     offset order and no offset is delivered twice; a replay after a
//     reconnect comes before anything newer, announced by a RecoveryEvent that
//     says whether it closed the gap.
//   - Send retries a message with the same cid until the server acks it (or
//     the context ends, or a non-retryable error comes back); the server's
//     dedup makes the retries exactly-once.
//   - Requests and replies are matched by id on the connection that carried
//     them; a connection that ends fails its pending requests at once.
//   - Every goroutine the client starts is waited for by Close.
package troupe
