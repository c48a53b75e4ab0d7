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
