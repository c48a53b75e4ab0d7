package actors

import "fmt"

// Protocol error codes (../PROTOCOL.md "Errors").
const (
	CodeBadJSON       = "bad_json"
	CodeBadFrame      = "bad_frame"
	CodeUnknownType   = "unknown_type"
	CodeInvalid       = "invalid"
	CodeUnauthorized  = "unauthorized"
	CodeWrongPassword = "wrong_password"
	CodeRoomFull      = "room_full"
	CodeNotJoined     = "not_joined"
	CodeNoSuchRoom    = "no_such_room"
	CodeNoSuchUser    = "no_such_user"
	CodeRateLimited   = "rate_limited"
	CodeLimitExceeded = "limit_exceeded"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
	// CodePresenceDisabled answers presence and presence_set in a room
	// whose presence is off.
	CodePresenceDisabled = "presence_disabled"
)

// WebSocket close codes (../PROTOCOL.md "Close codes").
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseAbnormal      = 1006 // never sent: the socket dropped without a close frame
	CloseInvalidUTF8   = 1007
	ClosePolicy        = 1008
	CloseTooBig        = 1009
	CloseInternal      = 1011
	CloseTryAgainLater = 1013
	CloseIdle          = 4000
	CloseSlowConsumer  = 4001
	CloseKicked        = 4002
	CloseTokenExpired  = 4003
	CloseTakenOver     = 4004
)

// ProtocolError is an error with a protocol error code, returned by engine
// calls that the server API makes.
type ProtocolError struct {
	Code    string
	Message string
}

// Error implements error.
func (e *ProtocolError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }
