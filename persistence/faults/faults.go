// Package faults wraps a persistence.Store with switchable faults for recovery
// drills: while a fault is on, store calls fail or stall as a broken database
// would. With no fault on, calls pass straight through.
package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/troupe-chat/troupe/persistence"
)

// ErrInjected is the error of a call failed on purpose.
var ErrInjected = errors.New("faults: store failure injected by a drill")

// Mode is what a store call does while a fault is on.
type Mode int

const (
	// Healthy passes calls through.
	Healthy Mode = iota
	// Fail makes calls return ErrInjected at once.
	Fail
	// Stall makes calls block until the fault ends or their context is done.
	Stall
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Fail:
		return "fail"
	case Stall:
		return "stall"
	}
	return "healthy"
}

// Store is a persistence.Store whose calls can be failed or stalled. While
// healthy, a call costs one atomic load on top of the inner store's: the
// mutex is taken only while a drill runs.
type Store struct {
	inner persistence.Store

	faulty atomic.Bool // mode != Healthy; written under mu, read without it

	mu       sync.Mutex
	mode     Mode
	healed   chan struct{} // closed when the current fault ends
	injected int           // calls failed or stalled since the fault began
	hit      chan struct{} // closed at the first injected call of the current fault
}

// Wrap returns inner with switchable faults, healthy.
func Wrap(inner persistence.Store) *Store {
	return &Store{inner: inner}
}

// Inject turns a fault on (or changes it). It returns a channel that is
// closed when a store call first meets the fault.
func (s *Store) Inject(m Mode) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode == Healthy {
		s.healed = make(chan struct{})
		s.hit = make(chan struct{})
		s.injected = 0
	}
	s.mode = m
	s.faulty.Store(m != Healthy)
	if m == Healthy {
		s.healLocked()
	}
	return s.hit
}

// Heal turns the fault off; stalled calls go on to the real store. It returns
// how many calls met the fault.
func (s *Store) Heal() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.injected
	s.healLocked()
	return n
}

func (s *Store) healLocked() {
	if s.healed != nil {
		close(s.healed)
		s.healed = nil
	}
	s.mode = Healthy
	s.faulty.Store(false)
}

// Mode returns the fault in force.
func (s *Store) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// gate applies the fault in force to one call.
func (s *Store) gate(ctx context.Context) error {
	if !s.faulty.Load() {
		return nil // a call racing Inject may pass: it began before the fault
	}
	s.mu.Lock()
	mode, healed := s.mode, s.healed
	if mode != Healthy {
		if s.injected == 0 {
			close(s.hit)
		}
		s.injected++
	}
	s.mu.Unlock()
	switch mode {
	case Fail:
		return ErrInjected
	case Stall:
		select {
		case <-healed:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("stalled by a drill: %w", ctx.Err())
		}
	}
	return nil
}

// OpenRoom implements persistence.Store.
func (s *Store) OpenRoom(ctx context.Context, room string) (persistence.RoomState, error) {
	if err := s.gate(ctx); err != nil {
		return persistence.RoomState{}, err
	}
	return s.inner.OpenRoom(ctx, room)
}

// Append implements persistence.Store.
func (s *Store) Append(ctx context.Context, room string, c persistence.Claim, msgs []persistence.Message) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.inner.Append(ctx, room, c, msgs)
}

// Read implements persistence.Store.
func (s *Store) Read(ctx context.Context, room string, q persistence.ReadQuery) (persistence.ReadResult, error) {
	if err := s.gate(ctx); err != nil {
		return persistence.ReadResult{}, err
	}
	return s.inner.Read(ctx, room, q)
}

// RecentCIDs implements persistence.Store.
func (s *Store) RecentCIDs(ctx context.Context, room string, window int) ([]persistence.DedupEntry, error) {
	if err := s.gate(ctx); err != nil {
		return nil, err
	}
	return s.inner.RecentCIDs(ctx, room, window)
}

// ConfigureRoom implements persistence.Store.
func (s *Store) ConfigureRoom(ctx context.Context, room string, cfg persistence.RoomConfig) (bool, error) {
	if err := s.gate(ctx); err != nil {
		return false, err
	}
	return s.inner.ConfigureRoom(ctx, room, cfg)
}

// LookupRoom implements persistence.Store.
func (s *Store) LookupRoom(ctx context.Context, room string) (persistence.RoomInfo, error) {
	if err := s.gate(ctx); err != nil {
		return persistence.RoomInfo{}, err
	}
	return s.inner.LookupRoom(ctx, room)
}

// ListRooms implements persistence.Store.
func (s *Store) ListRooms(ctx context.Context) ([]persistence.RoomInfo, error) {
	if err := s.gate(ctx); err != nil {
		return nil, err
	}
	return s.inner.ListRooms(ctx)
}

// DeleteRoom implements persistence.Store.
func (s *Store) DeleteRoom(ctx context.Context, room string) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.inner.DeleteRoom(ctx, room)
}

// Ping implements persistence.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.inner.Ping(ctx)
}

// Close implements persistence.Store; it heals first so no call stays stalled.
func (s *Store) Close() error {
	s.Heal()
	return s.inner.Close()
}
