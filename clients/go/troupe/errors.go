package troupe

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes of the server's error frames (../../../PROTOCOL.md "Errors").
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
	// CodePresenceDisabled: presence or presence_set in a room whose
	// presence is off.
	CodePresenceDisabled = "presence_disabled"
)

// WebSocket close codes the server uses (../../../PROTOCOL.md "Close codes").
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseAbnormal      = 1006 // no close frame: the connection dropped
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

// Sentinel errors of the client.
var (
	// ErrClosed: the client is closed, by Close or by a close code it does not
	// reconnect after (the error then also wraps a *CloseError).
	ErrClosed = errors.New("troupe: client closed")
	// ErrRequestTimeout: no reply within Options.RequestTimeout.
	ErrRequestTimeout = errors.New("troupe: request timed out")
	// ErrDisconnected: the connection ended before the reply came.
	ErrDisconnected = errors.New("troupe: disconnected before the reply")
	// ErrFrameTooLarge: the frame exceeds the server's frame limit.
	ErrFrameTooLarge = errors.New("troupe: frame exceeds the server's limit")
	// ErrEventOverflow: events came faster than OnEvent took them; the client
	// dropped the connection so that recovery replays what it could not queue.
	ErrEventOverflow = errors.New("troupe: event queue full")
)

// ServerError is an error frame the server answered a request with.
type ServerError struct {
	Code    string // one of the Code* constants
	Message string // human-readable
}

// Error implements error.
func (e *ServerError) Error() string {
	return fmt.Sprintf("troupe: server error %s: %s", e.Code, e.Message)
}

// Is reports whether target is a *ServerError with the same Code, so that
// errors.Is(err, &ServerError{Code: CodeNotJoined}) works.
func (e *ServerError) Is(target error) bool {
	t, ok := target.(*ServerError)
	return ok && t.Code == e.Code
}

// ErrorCode returns the code of the *ServerError in err's chain, or "".
func ErrorCode(err error) string {
	if se, ok := errors.AsType[*ServerError](err); ok {
		return se.Code
	}
	return ""
}

// CloseError is a close frame the server ended a connection with.
type CloseError struct {
	Code   int
	Reason string
}

// Error implements error.
func (e *CloseError) Error() string {
	return fmt.Sprintf("troupe: connection closed by the server with %d (%s)", e.Code, e.Reason)
}

// HandshakeError is an HTTP refusal of the WebSocket upgrade.
type HandshakeError struct {
	Status int // HTTP status code
	Err    error
}

// Error implements error.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("troupe: upgrade refused with HTTP %d %s: %v", e.Status, http.StatusText(e.Status), e.Err)
}

// Unwrap returns the underlying handshake error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// CloseCode returns the close code of err: the *CloseError's code, 1006 for
// any other error, 0 for nil.
func CloseCode(err error) int {
	if err == nil {
		return 0
	}
	if ce, ok := errors.AsType[*CloseError](err); ok {
		return ce.Code
	}
	return CloseAbnormal
}

// retryableCode reports whether a request that failed with code may simply be
// sent again: the server dropped or could not handle it, and said so.
func retryableCode(code string) bool {
	return code == CodeUnavailable || code == CodeRateLimited
}

// closeDecision says what the client does after a connection ends.
type closeDecision int

const (
	reconnect      closeDecision = iota // reconnect with backoff
	reconnectIfNew                      // reconnect only with credentials newer than the connection's
	stop                                // go to closed
)

// decideClose classifies why a connection ended (../../../PROTOCOL.md "Close codes").
// Network errors and codes the server sends for passing trouble reconnect;
// policy, kick and expiry need new credentials; a takeover or a normal close
// from the server stops the client.
func decideClose(cause error) closeDecision {
	ce, ok := errors.AsType[*CloseError](cause)
	if !ok {
		return reconnect
	}
	switch ce.Code {
	case ClosePolicy, CloseKicked, CloseTokenExpired:
		return reconnectIfNew
	case CloseNormal, CloseTakenOver:
		return stop
	}
	return reconnect
}
