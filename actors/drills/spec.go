// Package drills runs recovery drills inside a live server: it crashes rooms,
// connection and user actors on purpose, or stalls the store, and records
// what each fault cost (restarts, time to recover, errors returned). The
// server API starts drills and serves their reports; `troupe drill` drives
// them from outside while it checks, end to end, that nothing acked is lost.
package drills

import (
	"errors"
	"fmt"
	"time"
)

// Kind names a drill.
type Kind string

// The drill kinds.
const (
	// RoomCrash panics room actors; their supervisor restarts them.
	RoomCrash Kind = "room-crash"
	// ConnKill panics connection actors; their sockets close with 1011.
	ConnKill Kind = "conn-kill"
	// UserCrash panics user actors; their supervisor restarts them.
	UserCrash Kind = "user-crash"
	// StoreStall makes the store block (or fail) for a while.
	StoreStall Kind = "store-stall"
)

// Kinds lists every drill kind.
var Kinds = []Kind{RoomCrash, ConnKill, UserCrash, StoreStall}

// Spec is what to drill. Fields a kind does not use are ignored.
type Spec struct {
	Kind Kind `json:"kind"`
	// Room is the room a room-crash drill crashes; empty means every
	// active room.
	Room string `json:"room,omitempty"`
	// User is the user a user-crash drill crashes (empty: Count live
	// users), or whose connections a conn-kill drill kills (empty: any).
	User string `json:"user,omitempty"`
	// Count is how many times each room is crashed (room-crash, default 1),
	// how many users are crashed (user-crash, default 1) or how many
	// connections are killed (conn-kill; overrides Fraction).
	Count int `json:"count,omitempty"`
	// Fraction is the share of welcomed connections a conn-kill drill kills
	// (default 0.1, at least one connection).
	Fraction float64 `json:"fraction,omitempty"`
	// IntervalMS is the pause between repeated crashes of one room
	// (default 200).
	IntervalMS int `json:"interval_ms,omitempty"`
	// DurationMS is how long a store-stall lasts (default 2000).
	DurationMS int `json:"duration_ms,omitempty"`
	// Mode is "stall" (store calls block; the default) or "fail" (they
	// return an error at once), for store-stall.
	Mode string `json:"mode,omitempty"`
}

// Limits of a spec, so a typo cannot take a server down for an hour.
const (
	maxCount    = 1000
	maxDuration = 10 * time.Minute
)

// normalize validates s and fills in defaults.
func (s Spec) normalize() (Spec, error) {
	var errs []error
	switch s.Kind {
	case RoomCrash, ConnKill, UserCrash, StoreStall:
	default:
		errs = append(errs, fmt.Errorf("kind must be one of %v, got %q", Kinds, s.Kind))
	}
	if s.Count < 0 || s.Count > maxCount {
		errs = append(errs, fmt.Errorf("count must be between 0 and %d, got %d", maxCount, s.Count))
	}
	if s.Fraction < 0 || s.Fraction > 1 {
		errs = append(errs, fmt.Errorf("fraction must be between 0 and 1, got %v", s.Fraction))
	}
	if s.IntervalMS < 0 || time.Duration(s.IntervalMS)*time.Millisecond > maxDuration {
		errs = append(errs, fmt.Errorf("interval_ms must be between 0 and %d, got %d", maxDuration.Milliseconds(), s.IntervalMS))
	}
	if s.DurationMS < 0 || time.Duration(s.DurationMS)*time.Millisecond > maxDuration {
		errs = append(errs, fmt.Errorf("duration_ms must be between 0 and %d, got %d", maxDuration.Milliseconds(), s.DurationMS))
	}
	switch s.Mode {
	case "":
		s.Mode = "stall"
	case "stall", "fail":
	default:
		errs = append(errs, fmt.Errorf(`mode must be "stall" or "fail", got %q`, s.Mode))
	}
	if s.Count == 0 && s.Kind != ConnKill {
		s.Count = 1
	}
	if s.Fraction == 0 {
		s.Fraction = 0.1
	}
	if s.IntervalMS == 0 {
		s.IntervalMS = 200
	}
	if s.DurationMS == 0 {
		s.DurationMS = 2000
	}
	return s, errors.Join(errs...)
}
