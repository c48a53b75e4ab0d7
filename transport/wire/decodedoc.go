package wire

import (
	"encoding/base64"
	"strconv"

	"github.com/troupe-chat/troupe/actors"
)

// The decoding of the shared-document frames: doc_update, doc_sync and
// doc_snapshot.

func (d *decoder) docUpdate() actors.Command {
	u := actors.DocUpdate{ID: d.id}
	u.Room = d.room()
	if s, ok := d.base64(); ok {
		// Base64 needs no escapes: the stored form is the plain JSON string.
		u.Data = append(append(append(make([]byte, 0, len(s)+2), '"'), s...), '"')
	}
	if cid, ok := d.str(fCID); ok {
		if len(cid) == 0 || len(cid) > d.lim.MaxCIDBytes {
			d.violate("cid must be 1 to " + strconv.Itoa(d.lim.MaxCIDBytes) + " bytes")
		}
		u.CID = cid
	}
	return d.done(u)
}

func (d *decoder) docSync() actors.Command {
	s := actors.DocSync{ID: d.id}
	s.Room = d.room()
	s.After, _ = d.uint(d.b, d.f[fAfter], "after")
	if n, ok := d.uint(d.b, d.f[fLimit], "limit"); ok {
		if n < 1 || n > actors.DocSyncMax {
			d.violate("limit must be 1 to " + strconv.Itoa(actors.DocSyncMax))
		}
		s.Limit = int(min(n, actors.DocSyncMax))
	}
	return d.done(s)
}

func (d *decoder) docSnapshot() actors.Command {
	s := actors.DocSnapshot{ID: d.id}
	s.Room = d.room()
	off, ok := d.uint(d.b, d.f[fOffset], "offset")
	if !ok || off == 0 {
		d.violate("offset is required and must be positive")
	}
	s.Offset = off
	if b64, ok := d.base64(); ok {
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil { // ValidBase64 accepted it: cannot happen
			d.violate("data must be standard base64")
		}
		s.Data = data
	}
	return d.done(s)
}

// base64 returns the required data field, a non-empty string of standard
// base64, and whether it is one.
func (d *decoder) base64() (string, bool) {
	s, ok := d.str(fData)
	switch {
	case !ok: // or of another type: str recorded that, and it comes first
		d.violate("data is required")
	case !ValidBase64(s):
		d.violate("data must be a non-empty string of standard base64 (with padding)")
	default:
		return s, true
	}
	return "", false
}

// ValidBase64 reports whether s is non-empty standard base64 with padding
// (RFC 4648 §4): whole quads of A–Z a–z 0–9 + /, the last one ending in at
// most two '='. No whitespace or line breaks.
func ValidBase64(s string) bool {
	if len(s) == 0 || len(s)%4 != 0 {
		return false
	}
	pad := 0
	if s[len(s)-1] == '=' {
		pad++
		if s[len(s)-2] == '=' {
			pad++
		}
	}
	for i := 0; i < len(s)-pad; i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
