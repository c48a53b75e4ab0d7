package wire

import (
	"strconv"

	"github.com/troupe-chat/troupe/actors"
)

// The decoding of the collaboration frames, signal and presence_set.

func (d *decoder) signal() actors.Command {
	s := actors.Signal{ID: d.id}
	s.Room = d.room()
	key, ok := d.str(fKey)
	switch {
	case !ok:
		d.violate("key is required")
	case !ValidSignalKey(key):
		d.violate("key must match ^[A-Za-z0-9_.:-]{1,32}$")
	}
	s.Key = key
	s.Data = d.raw(fData)
	if len(s.Data) > d.lim.MaxSignalBytes {
		d.violate("data is longer than " + strconv.Itoa(d.lim.MaxSignalBytes) + " bytes")
	}
	return d.done(s)
}

func (d *decoder) presenceSet() actors.Command {
	p := actors.PresenceSet{ID: d.id}
	p.Room = d.room()
	switch d.f[fState].kind {
	case kindAbsent, kindNull: // clears the state
	case kindObject:
		p.State = d.raw(fState)
		if len(p.State) > d.lim.MaxStateBytes {
			d.violate("state is longer than " + strconv.Itoa(d.lim.MaxStateBytes) + " bytes")
		}
	default:
		d.wrongType(fState, "an object or null")
	}
	return d.done(p)
}

// ValidSignalKey reports whether key is a valid signal key:
// ^[A-Za-z0-9_.:-]{1,32}$.
func ValidSignalKey(key string) bool {
	return len(key) <= MaxSignalKeyBytes && ValidRoom(key)
}
