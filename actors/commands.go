package actors

// Commands the transport posts to a connection actor. The transport's read
// goroutine decodes and validates each WebSocket frame once and posts exactly one
// of these values; the connection actor never sees JSON. Every command that can
// carry a request id has ID, 0 when the frame carried none.

// Position names a point in a room stream: the last offset a client has seen
// within an epoch.
type Position struct {
	Offset uint64
	Epoch  string
}

// Hello opens a session.
type Hello struct {
	ID      int64
	Token   string
	Name    string
	Session string
}

// Refresh replaces the connection's token before it expires.
type Refresh struct {
	ID    int64
	Token string
}

// Join asks to become a member of a room.
type Join struct {
	ID       int64
	Room     string
	Password string
	Since    *Position // nil: no recovery asked
	History  int       // -1: absent (server default)
}

// Leave asks to stop being a member of a room.
type Leave struct {
	ID   int64
	Room string
}

// Send publishes a message to a room.
type Send struct {
	ID      int64
	Room    string
	Kind    string // never empty: the decoder defaults it to "text"
	Text    string
	Data    []byte // raw JSON value, nil when absent or null
	ReplyTo string
	CID     string
}

// Typing signals that the user started or stopped typing in a room.
type Typing struct {
	ID   int64
	Room string
	On   bool
}

// Signal is an ephemeral, high-rate state of the connection in a room (a
// cursor, a selection, a viewport) under Key: never stored, never
// recovered; the latest value per connection and key wins.
type Signal struct {
	ID   int64
	Room string
	Key  string
	Data []byte // raw JSON value, nil when absent or null
}

// PresenceSet sets (State nil: clears) the connection's presence state in
// a room, a small JSON object shown with the user in presence.
type PresenceSet struct {
	ID    int64
	Room  string
	State []byte // raw JSON object, nil when null
}

// PresenceQuery asks for the members of a room.
type PresenceQuery struct {
	ID   int64
	Room string
}

// HistoryQuery asks for a page of a room's stream.
type HistoryQuery struct {
	ID      int64
	Room    string
	Before  uint64 // 0: absent
	After   uint64 // meaningful when Forward
	Forward bool   // after was given (after 0 pages forward from the start)
	Limit   int    // 0: absent (server default)
}

// RoomsQuery asks for the list of public rooms.
type RoomsQuery struct {
	ID int64
}

// Direct sends an unstored message to every live connection of a user.
type Direct struct {
	ID   int64
	To   string
	Text string
	Data []byte
}

// Ping asks for a pong with the server time.
type Ping struct {
	ID int64
}

// Rejected is a frame the decoder refused: the connection actor answers it with an
// error frame (or, before welcome, closes the connection with 1008 unless the
// frame was a hello).
type Rejected struct {
	ID      int64 // 0 when the frame carried no valid id
	Code    string
	Message string
	Hello   bool // the frame was a hello: before welcome it gets an error, not a close
}

// SocketClosed tells the connection actor that its socket is gone.
type SocketClosed struct {
	Code int // close code received or sent, 1006 when the socket just dropped
}

// Command is a decoded client frame: exactly the types of this file and
// doccommands.go (the unexported method closes the set). What every layer asks of a frame, its
// request id and its type, it answers itself, so no layer keeps a list.
type Command interface {
	// RequestID is the id the frame carried, 0 when none.
	RequestID() int64
	// CommandType names the frame's type as the protocol spells it
	// ("rejected" for a frame the decoder refused): a bounded set, fit for
	// metric labels.
	CommandType() string
	command()
}

// RequestID implements Command.
func (m Hello) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Refresh) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Join) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Leave) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Send) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Typing) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Signal) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m PresenceSet) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m PresenceQuery) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m HistoryQuery) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m RoomsQuery) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Direct) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Ping) RequestID() int64 { return m.ID }

// RequestID implements Command.
func (m Rejected) RequestID() int64 { return m.ID }

// CommandType implements Command.
func (Hello) CommandType() string { return "hello" }

// CommandType implements Command.
func (Refresh) CommandType() string { return "refresh" }

// CommandType implements Command.
func (Join) CommandType() string { return "join" }

// CommandType implements Command.
func (Leave) CommandType() string { return "leave" }

// CommandType implements Command.
func (Send) CommandType() string { return "send" }

// CommandType implements Command.
func (Typing) CommandType() string { return "typing" }

// CommandType implements Command.
func (Signal) CommandType() string { return "signal" }

// CommandType implements Command.
func (PresenceSet) CommandType() string { return "presence_set" }

// CommandType implements Command.
func (PresenceQuery) CommandType() string { return "presence" }

// CommandType implements Command.
func (HistoryQuery) CommandType() string { return "history" }

// CommandType implements Command.
func (RoomsQuery) CommandType() string { return "rooms" }

// CommandType implements Command.
func (Direct) CommandType() string { return "direct" }

// CommandType implements Command.
func (Ping) CommandType() string { return "ping" }

// CommandType implements Command.
func (Rejected) CommandType() string { return "rejected" }

func (Hello) command()         {}
func (Refresh) command()       {}
func (Join) command()          {}
func (Leave) command()         {}
func (Send) command()          {}
func (Typing) command()        {}
func (Signal) command()        {}
func (PresenceSet) command()   {}
func (PresenceQuery) command() {}
func (HistoryQuery) command()  {}
func (RoomsQuery) command()    {}
func (Direct) command()        {}
func (Ping) command()          {}
func (Rejected) command()      {}
