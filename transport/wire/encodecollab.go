package wire

import "github.com/troupe-chat/troupe/actors"

// The encodings of the collaboration frames: signals and presence states.

// appendSignal appends
// {"type":"signal","room","user":{"id","name"},"conn","key","data"}.
func appendSignal(dst []byte, v *actors.SignalPush) []byte {
	dst = append(dst, `{"type":"signal","room":`...)
	dst = AppendString(dst, v.Room)
	dst = append(dst, `,"user":`...)
	dst = appendUser(dst, v.User)
	dst = append(dst, `,"conn":`...)
	dst = AppendString(dst, v.Conn)
	dst = append(dst, `,"key":`...)
	dst = AppendString(dst, v.Key)
	dst = append(dst, `,"data":`...)
	dst = AppendRaw(dst, v.Data)
	return append(dst, '}')
}

// appendStateChanges appends the states of joined and presence_diff:
// [{"user":{"id","name"},"conn","state"}], state null once cleared.
func appendStateChanges(dst []byte, cs []actors.StateChange) []byte {
	dst = append(dst, '[')
	for i := range cs {
		c := &cs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"user":`...)
		dst = appendUser(dst, c.User)
		dst = append(dst, `,"conn":`...)
		dst = AppendString(dst, c.Conn)
		dst = append(dst, `,"state":`...)
		dst = AppendRaw(dst, c.State)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendConnStates appends a presence member's states: {"<conn>":state},
// in the order given (the engine sorts them by connection).
func appendConnStates(dst []byte, cs []actors.ConnState) []byte {
	dst = append(dst, '{')
	for i := range cs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, cs[i].Conn)
		dst = append(dst, ':')
		dst = AppendRaw(dst, cs[i].State)
	}
	return append(dst, '}')
}

func statesHint(cs []actors.StateChange) int {
	n := 0
	for i := range cs {
		n += 64 + len(cs[i].User.ID) + len(cs[i].User.Name) + len(cs[i].Conn) + len(cs[i].State)
	}
	return n
}
