package stores

import (
	"context"

	"github.com/troupe-chat/troupe/persistence"
)

// SaveSnapshot implements persistence.DocStore.
func (d *dialing) SaveSnapshot(ctx context.Context, room string, c persistence.Claim, snap persistence.Snapshot) (persistence.Snapshot, bool, error) {
	s, err := d.store()
	if err != nil {
		return persistence.Snapshot{}, false, err
	}
	return s.SaveSnapshot(ctx, room, c, snap)
}

// LoadSnapshot implements persistence.DocStore.
func (d *dialing) LoadSnapshot(ctx context.Context, room string) (persistence.Snapshot, bool, error) {
	s, err := d.store()
	if err != nil {
		return persistence.Snapshot{}, false, err
	}
	return s.LoadSnapshot(ctx, room)
}
