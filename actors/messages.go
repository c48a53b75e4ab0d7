package actors

import (
	"errors"

	"github.com/troupe-chat/troupe/persistence"

	"github.com/asynkron/protoactor-go/actor"
)

// Messages between actors. Commands are imperative, events past tense. They are
// internal to the engine: the transport only ever posts the commands of
// commands.go.

// joinRoom asks a room to add a connection as a member.
type joinRoom struct {
	Conn       *actor.PID
	Peer       Outbox
	User       UserRef
	ReqID      int64
	Password   string
	Since      *Position
	History    int
	TokenRooms []string
	// checkedAgainst is the room password hash Password was compared with,
	// off the room's goroutine (bcrypt is slow on purpose), and passwordOK
	// the verdict.
	checkedAgainst string
	passwordOK     bool
}

// leaveRoom asks a room to remove a member at the member's request.
type leaveRoom struct {
	Conn  *actor.PID
	Peer  Outbox
	ReqID int64
}

// connGone tells a room that a member's connection ended without a leave.
type connGone struct {
	Conn *actor.PID
}

// publish asks a room to store and broadcast a message.
type publish struct {
	Conn     *actor.PID // nil for server-API publishes
	Peer     Outbox     // nil for server-API publishes
	ReqID    int64
	From     UserRef
	Kind     string
	Text     string
	Data     []byte
	ReplyTo  string
	CID      string
	Received int64 // Unix nanoseconds when the transport decoded the frame
	Reply    chan<- PublishResult
	// Remote answers a send another node forwarded (Conn and Peer nil);
	// Sender is the sending connection there (SenderTag), left out of its
	// own message's broadcast.
	Remote func(RemoteSendResult)
	Sender string
	// forwards counts how often a relay forwarded this send to an owner.
	forwards int
}

// PublishResult is the outcome of a server-API publish.
type PublishResult struct {
	Room   string
	MsgID  string
	Offset uint64
	TS     int64
	Err    error
}

// typingIn relays a typing signal.
type typingIn struct {
	Conn *actor.PID
	Peer Outbox
	On   bool
	ID   int64
}

// signalIn relays an ephemeral signal of a member connection.
type signalIn struct {
	Conn *actor.PID
	Peer Outbox
	ID   int64
	Key  string
	Data []byte
}

// presenceSetIn sets a member connection's presence state (State nil
// clears it).
type presenceSetIn struct {
	Conn  *actor.PID
	Peer  Outbox
	ID    int64
	State []byte
}

// presenceOf asks a room for its presence.
type presenceOf struct {
	Conn *actor.PID
	Peer Outbox
	ID   int64
}

// historyOf asks a room for a page of its stream.
type historyOf struct {
	Conn    *actor.PID
	Peer    Outbox
	ID      int64
	Before  uint64
	After   uint64
	Forward bool
	Limit   int
}

// roomJoined tells a connection that its join succeeded (the room already wrote
// the joined frame).
type roomJoined struct {
	Room string
	PID  *actor.PID
}

// roomJoinFailed tells a connection that its join was refused (the room already
// wrote the error frame).
type roomJoinFailed struct {
	Room string
}

// roomLeft tells a connection that it is no longer a member of a room, after a
// leave or because the room closed.
type roomLeft struct {
	Room string
}

// openSession asks the sessions actor to start or resume a session.
type openSession struct {
	Requested string
	UserID    string // "" for anonymous users
	Name      string
	Conn      *actor.PID
	Peer      Peer
}

// sessionRefused answers openSession when the user is at its connection
// limit.
type sessionRefused struct {
	Limit int
}

// sessionOpened answers openSession.
type sessionOpened struct {
	Session string
	UserID  string
	Name    string
	Resumed bool
}

// detachSession tells the sessions actor that a session's connection ended.
// Session is "" when the connection ended before it learnt its session.
type detachSession struct {
	Session string
	Conn    *actor.PID
}

// takenOver tells a connection that a newer connection resumed its session.
type takenOver struct{}

// attachConn registers a connection with its user actor.
type attachConn struct {
	Conn *actor.PID
	Peer Peer
	User UserRef
	// Welcome, when set, is queued to Peer by the user actor as it attaches
	// the connection, which it then tells with connAttached: the client
	// learns it is welcome only once direct messages reach it, and no push
	// of the user actor can overtake the welcome.
	Welcome *Welcome
}

// connAttached tells a connection actor that its user actor has it (and
// has queued its welcome).
type connAttached struct{}

// detachConn unregisters a connection from its user actor.
type detachConn struct {
	Conn *actor.PID
}

// deliverDirect asks a user actor to push a direct message to every connection.
type deliverDirect struct {
	Frame   DirectPush
	ReplyTo *actor.PID
	ReqID   int64
}

// directDelivered answers deliverDirect.
type directDelivered struct {
	ReqID     int64
	TS        int64
	Delivered int
}

// kick closes a connection with a close code (server API disconnect).
type kick struct {
	Code   int
	Reason string
	Reply  chan<- int // if set, told how many connections were closed
}

// connWelcomed tells a heartbeat shard that a connection finished its hello, so
// the idle timeout applies to it from now on.
type connWelcomed struct {
	Conn *actor.PID
	User string
}

// heartbeatTick makes a heartbeat shard check and ping its connections.
type heartbeatTick struct{}

// spawnConn asks a heartbeat shard to spawn a connection actor as its child.
type spawnConn struct {
	Peer  Peer
	Info  ConnInfo
	Reply chan<- *actor.PID
}

// drainNow asks a room to flush its pending batch and report when done.
type drainNow struct {
	Done chan<- struct{}
}

// crashRoom makes a room actor panic (recovery drills). Recovered, if set,
// receives true once the restarted room serves again, false if it stopped.
type crashRoom struct {
	Recovered chan<- bool
}

// errCrashDrill is the panic value of a drilled room crash.
var errCrashDrill = errors.New("actors: room crashed on purpose by a drill")

// roomConfigured tells an active room its stored configuration changed.
type roomConfigured struct {
	Config persistence.RoomConfig
}

// deleteRoom asks a room to erase itself (server API). Done receives nil
// once the store forgot it.
type deleteRoom struct {
	Done chan<- error
}

// roomDeleted is the store lane's answer to a deleteRoom.
type roomDeleted struct {
	gen  uint64
	err  error
	done chan<- error
}

// nodesLive tells a room which nodes of the cluster are alive.
type nodesLive struct {
	Nodes []string
}

// crashConn makes a connection actor panic (conn-kill drills).
type crashConn struct{}

// errConnCrashDrill is the panic value of a drilled connection crash.
var errConnCrashDrill = errors.New("actors: connection crashed on purpose by a drill")

// crashUser makes a user actor panic (user-crash drills). Recovered, if set,
// receives true once the restarted actor runs.
type crashUser struct {
	Recovered chan<- bool
}

// errUserCrashDrill is the panic value of a drilled user crash.
var errUserCrashDrill = errors.New("actors: user crashed on purpose by a drill")

// killConns asks a heartbeat shard to crash up to Max of its welcomed
// connection actors (only User's when User is set). Done receives how many
// it crashed.
type killConns struct {
	Max  int
	User string
	Done chan<- int
}

// countConns asks a heartbeat shard how many welcomed connections it holds.
type countConns struct {
	Done chan<- int
}

// roomCommand marks the messages a room handles on behalf of a connection or
// the server API. A retired or stopped room hands them to its successor (the
// registry starts one), so none is lost to a room's end.
type roomCommand interface{ roomCommand() }

func (*joinRoom) roomCommand()      {}
func (*leaveRoom) roomCommand()     {}
func (*connGone) roomCommand()      {}
func (*publish) roomCommand()       {}
func (*typingIn) roomCommand()      {}
func (*presenceOf) roomCommand()    {}
func (*signalIn) roomCommand()      {}
func (*presenceSetIn) roomCommand() {}
func (*historyOf) roomCommand()     {}

// mustNotLose marks the room messages that change membership or wait for
// the room to settle: a room whose incarnation crashes or whose load fails
// handles them again later instead of answering them unavailable (a member
// who left must not stay present; a drain must be answered).
type mustNotLose interface{ mustNotLose() }

func (*connGone) mustNotLose()     {}
func (*leaveRoom) mustNotLose()    {}
func (*presenceLeft) mustNotLose() {}
func (*drainNow) mustNotLose()     {}
