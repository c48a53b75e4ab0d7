package persistence_test

import (
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestMemoryContract runs the Store contract against Memory.
func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store {
		s := persistence.NewMemory()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
