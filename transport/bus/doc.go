// Package bus is troupe's cross-node transport: core NATS between the nodes of
// a cluster.
//
// A troupe cluster is many troupe processes acting as one. PostgreSQL holds
// the log (so no JetStream here); NATS only carries traffic between nodes:
// commands to the node that owns a room, one broadcast per batch to every
// node with members in the room, and per-user deliveries (direct messages,
// notifications, disconnects).
//
// The package has three parts:
//
//   - [Embedded] runs a nats-server inside the troupe process. Its routes to
//     the other nodes' embedded servers (troupe's --cluster-peers) make them
//     one NATS cluster, so a small deployment needs no separate NATS server.
//   - [Conn] is a thin wrapper over a nats.go connection: to the embedded
//     server's [Embedded.ClientURL], or to an existing NATS cluster (troupe's
//     --nats nats://…). It reconnects forever and logs connection events
//     through log/slog.
//   - [RoomSubject] and [UserSubject] build troupe's subjects. Room names and
//     user ids are escaped (see [EncodeToken]) so that any string, however
//     hostile, gives a valid single-token subject and different names never
//     share a subject.
//
// Delivery is core NATS: at most once, ordered per publisher and subject,
// with no persistence. A message published while no subscriber's interest has
// reached the publisher's server is dropped; interest propagates across
// routes asynchronously, after [Conn.Subscribe] returns. Whoever builds on this
// (the actors package's cluster port, designed elsewhere) recovers gaps from
// PostgreSQL, not from the bus.
//
// The actors package does not import this one, nor NATS: it talks to a port,
// and an adapter in between uses [Conn].
package bus
