package transport

import (
	"sync"

	"github.com/lxzan/gws"
)

// oneValueSession is gws session storage that holds one value under one key
// (the connection's wsConn). gws's default is a map with a lock, ~800 bytes
// per connection; this is a few words.
type oneValueSession struct {
	mu  sync.Mutex
	key string
	val any
	set bool
}

var _ gws.SessionStorage = (*oneValueSession)(nil)

func newOneValueSession() gws.SessionStorage { return &oneValueSession{} }

// Len implements gws.SessionStorage.
func (s *oneValueSession) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set {
		return 1
	}
	return 0
}

// Load implements gws.SessionStorage.
func (s *oneValueSession) Load(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set && s.key == key {
		return s.val, true
	}
	return nil, false
}

// Delete implements gws.SessionStorage.
func (s *oneValueSession) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set && s.key == key {
		s.key, s.val, s.set = "", nil, false
	}
}

// Store implements gws.SessionStorage; a second key replaces the first.
func (s *oneValueSession) Store(key string, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.val, s.set = key, value, true
}

// Range implements gws.SessionStorage.
func (s *oneValueSession) Range(f func(key string, value any) bool) {
	s.mu.Lock()
	key, val, set := s.key, s.val, s.set
	s.mu.Unlock()
	if set {
		f(key, val)
	}
}
