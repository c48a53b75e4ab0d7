package actors

import (
	"context"
	"errors"
	"time"

	"github.com/troupe-chat/troupe/persistence"
)

// Cluster is the port to the other nodes of a cluster, the way Store is the
// port to the log. The transport implements it over NATS (transport/cluster);
// a single node has none (Deps.Cluster nil) and behaves as before.
//
// Delivery is at most once and ordered per publisher: every guarantee the
// engine gives across nodes rests on the store (offsets, fences, client ids),
// not on the bus. Callbacks run on the adapter's goroutines and must not block.
type Cluster interface {
	// Node names this node, unique in the cluster (--node-id).
	Node() string
	// Healthy reports whether this node's link to the bus is up. An owner
	// refuses sends while it is not, so an isolated node stops acking
	// instead of diverging.
	Healthy() bool

	// SubscribeRoom delivers the events other nodes publish on the room's
	// feed, each node's in the order it published them, until unsubscribe is
	// called. A node's own events are not delivered back to it.
	SubscribeRoom(room string, deliver func(RoomEvent)) (unsubscribe func(), err error)
	// PublishRoom sends ev to the other nodes subscribed to the room's feed.
	PublishRoom(room string, ev RoomEvent) error

	// ServeNode starts handing this node the sends other nodes forward to
	// the rooms it owns. serve must return at once; it answers through
	// respond, exactly once.
	ServeNode(serve func(send RemoteSend, respond func(RemoteSendResult))) (stop func(), err error)
	// SendToNode forwards a send to a room on node. It publishes the send
	// before it returns, so sends forwarded one after another (from one room
	// actor) reach the node in that order; it never blocks on the answer.
	// done is called exactly once, on another goroutine, with the node's
	// answer, or with an error wrapping ErrNodeUnreachable when no live
	// subscriber of node got the send (it certainly did not arrive; NATS's
	// no-responders status), or one wrapping context.DeadlineExceeded when
	// no answer came within timeout (it may have arrived).
	SendToNode(node string, send RemoteSend, timeout time.Duration, done func(RemoteSendResult, error))

	// ServeUsers starts handing this node the user deliveries of other
	// nodes; deliver does them here and returns how many connections of the
	// user it reached (for a disconnect: closed).
	ServeUsers(deliver func(UserDelivery) int) (stop func(), err error)
	// DeliverToUsers hands d to every other live node and returns the total
	// of their answers, once every live node answered or ctx ended (then
	// with the answers so far and ctx's error).
	DeliverToUsers(ctx context.Context, d UserDelivery) (int, error)
}

// ErrNodeUnreachable is returned by Cluster.SendToNode when nobody serves the
// node: it is down or cut off, and the send was not delivered.
var ErrNodeUnreachable = errors.New("actors: node unreachable")

// RoomEventKind tells what a RoomEvent carries.
type RoomEventKind uint8

// The kinds of room feed events.
const (
	// EventBatch is the owner's broadcast of messages it stored: Epoch,
	// Msgs (ascending offsets) and Senders.
	EventBatch RoomEventKind = iota + 1
	// EventTail is the owner's beat while the room is active: Epoch and
	// Offset, its committed offset. A relay behind it reads the store.
	EventTail
	// EventPresence is a node's complete local presence in the room: Users,
	// under a sequence number Seq that grows with every snapshot of that
	// node (an older or repeated snapshot is ignored).
	EventPresence
	// EventPresenceSync asks every node with the room active to publish its
	// EventPresence now (a node whose room just started).
	EventPresenceSync
	// EventTyping relays a typing signal of User.
	EventTyping
	// EventSignal relays a signal of User's connection Conn: Key and Data.
	EventSignal
)

// RoomEvent is one event of a room's feed. Which fields are set depends on
// Kind; Node is always the publishing node.
type RoomEvent struct {
	Kind  RoomEventKind
	Node  string
	Epoch string
	// Msgs are the stored messages of a batch; Senders[i] is the sending
	// connection of Msgs[i] as SenderTag gives it ("" for none), left out of
	// the sender's own push because it got an ack.
	Msgs    []persistence.Message
	Senders []string
	Offset  uint64
	Seq     uint64
	Users   []PresenceMember
	User    UserRef
	On      bool
	// Conn, Key and Data are a signal's (EventSignal).
	Conn string
	Key  string
	Data []byte
}

// RemoteSend is a send forwarded by a relay to the room's owner.
type RemoteSend struct {
	Room    string
	From    UserRef
	Kind    string
	Text    string
	Data    []byte
	ReplyTo string
	CID     string
	// Sender is the sending connection (SenderTag), left out of the
	// broadcast of its own message.
	Sender string
}

// RemoteSendResult answers a RemoteSend: the ack's fields, or an error code
// and message of the protocol.
type RemoteSendResult struct {
	MsgID   string
	Offset  uint64
	TS      int64
	Dup     bool
	Code    string // "" on success
	Message string
}

// UserDeliveryKind tells what a UserDelivery does.
type UserDeliveryKind uint8

// The kinds of user deliveries.
const (
	// DeliverDirect pushes Direct to every connection of the user.
	DeliverDirect UserDeliveryKind = iota + 1
	// DeliverNotify pushes Notify to every connection of the user.
	DeliverNotify
	// DeliverDisconnect closes every connection of the user with Code and Reason.
	DeliverDisconnect
)

// UserDelivery is a delivery to every connection of one user, on whichever
// nodes they are.
type UserDelivery struct {
	Kind   UserDeliveryKind
	User   string
	Direct DirectPush
	Notify Notify
	Code   int
	Reason string
}

// SenderTag names a connection across the cluster: node and actor id.
func SenderTag(node, conn string) string { return node + "/" + conn }
