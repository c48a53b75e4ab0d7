package stores

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/storeurl"
)

// ErrNotOpen is returned (wrapped, with the last reason) by every call of a
// store Dial is still opening.
var ErrNotOpen = errors.New("stores: the store is not reachable yet")

// Backoff bounds the pause between attempts to open a networked store.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff starts at 100 ms and doubles up to 5 s.
func DefaultBackoff() Backoff { return Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second} }

// Dial opens the store url names, as Open does, but a networked store
// (PostgreSQL) that cannot be opened yet does not fail the call: Dial returns
// a store that keeps trying in the background, with backoff, logging each
// failure, and fails every call with ErrNotOpen until it is open. A server
// can so listen and answer /readyz with 503 while its database is down, and
// serve once it is up. A bad URL, and a local store (memory, SQLite) that
// cannot be opened, fail at once.
func Dial(ctx context.Context, url string, b Backoff, log *slog.Logger) (persistence.Store, error) {
	u, err := storeurl.Parse(url)
	if err != nil {
		return nil, err
	}
	s, err := Open(ctx, url)
	if err == nil || u.Kind != storeurl.Postgres {
		return s, err
	}
	log.Error("store unreachable; serving unavailable and retrying", "store", u.Redacted(), "err", err)
	d := &dialing{lastErr: err, stop: make(chan struct{}), done: make(chan struct{})}
	go d.retry(url, u.Redacted(), b, log)
	return d, nil
}

// dialing is the store Dial returns while it keeps trying to open the real one.
type dialing struct {
	mu      sync.Mutex
	inner   persistence.Store // nil until open
	lastErr error             // why the last attempt failed
	closed  bool

	stop chan struct{} // closed by Close: ends the retries
	done chan struct{} // closed when retry has returned
}

func (d *dialing) retry(url, redacted string, b Backoff, log *slog.Logger) {
	defer close(d.done)
	wait := b.Min
	for attempt := 2; ; attempt++ {
		select {
		case <-d.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, b.Max)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { // Close must not wait out a connect timeout
			select {
			case <-d.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		s, err := Open(ctx, url)
		cancel()
		d.mu.Lock()
		if err != nil {
			d.lastErr = err
			d.mu.Unlock()
			log.Warn("store still unreachable; retrying", "store", redacted, "attempt", attempt, "retry_in", wait, "err", err)
			continue
		}
		if d.closed {
			d.mu.Unlock()
			_ = s.Close()
			return
		}
		d.inner = s
		d.mu.Unlock()
		log.Info("store reachable; serving", "store", redacted, "attempts", attempt)
		return
	}
}

// store returns the open store, or the error calls fail with meanwhile.
func (d *dialing) store() (persistence.Store, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return nil, persistence.ErrClosed
	case d.inner == nil:
		return nil, fmt.Errorf("%w: %w", ErrNotOpen, d.lastErr)
	}
	return d.inner, nil
}

// Close implements persistence.Store: it stops the retries and closes the
// store if it was opened.
func (d *dialing) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.stop)
	d.mu.Unlock()
	<-d.done
	d.mu.Lock()
	inner := d.inner
	d.mu.Unlock()
	if inner != nil {
		return inner.Close()
	}
	return nil
}

// Ping implements persistence.Store.
func (d *dialing) Ping(ctx context.Context) error {
	s, err := d.store()
	if err != nil {
		return err
	}
	return s.Ping(ctx)
}

// OpenRoom implements persistence.Store.
func (d *dialing) OpenRoom(ctx context.Context, room string) (persistence.RoomState, error) {
	s, err := d.store()
	if err != nil {
		return persistence.RoomState{}, err
	}
	return s.OpenRoom(ctx, room)
}

// Append implements persistence.Store.
func (d *dialing) Append(ctx context.Context, room string, c persistence.Claim, msgs []persistence.Message) error {
	s, err := d.store()
	if err != nil {
		return err
	}
	return s.Append(ctx, room, c, msgs)
}

// Read implements persistence.Store.
func (d *dialing) Read(ctx context.Context, room string, q persistence.ReadQuery) (persistence.ReadResult, error) {
	s, err := d.store()
	if err != nil {
		return persistence.ReadResult{}, err
	}
	return s.Read(ctx, room, q)
}

// RecentCIDs implements persistence.Store.
func (d *dialing) RecentCIDs(ctx context.Context, room string, window int) ([]persistence.DedupEntry, error) {
	s, err := d.store()
	if err != nil {
		return nil, err
	}
	return s.RecentCIDs(ctx, room, window)
}

// Trim implements persistence.Store.
func (d *dialing) Trim(ctx context.Context, room string, req persistence.TrimRequest) (int, error) {
	s, err := d.store()
	if err != nil {
		return 0, err
	}
	return s.Trim(ctx, room, req)
}

// OldestOffset implements persistence.Store.
func (d *dialing) OldestOffset(ctx context.Context, room string) (uint64, error) {
	s, err := d.store()
	if err != nil {
		return 0, err
	}
	return s.OldestOffset(ctx, room)
}

// ConfigureRoom implements persistence.Store.
func (d *dialing) ConfigureRoom(ctx context.Context, room string, cfg persistence.RoomConfig) (bool, error) {
	s, err := d.store()
	if err != nil {
		return false, err
	}
	return s.ConfigureRoom(ctx, room, cfg)
}

// LookupRoom implements persistence.Store.
func (d *dialing) LookupRoom(ctx context.Context, room string) (persistence.RoomInfo, error) {
	s, err := d.store()
	if err != nil {
		return persistence.RoomInfo{}, err
	}
	return s.LookupRoom(ctx, room)
}

// ListRooms implements persistence.Store.
func (d *dialing) ListRooms(ctx context.Context) ([]persistence.RoomInfo, error) {
	s, err := d.store()
	if err != nil {
		return nil, err
	}
	return s.ListRooms(ctx)
}

// DeleteRoom implements persistence.Store.
func (d *dialing) DeleteRoom(ctx context.Context, room string) error {
	s, err := d.store()
	if err != nil {
		return err
	}
	return s.DeleteRoom(ctx, room)
}

// SaveSession implements persistence.Store.
func (d *dialing) SaveSession(ctx context.Context, rec persistence.SessionRecord) error {
	s, err := d.store()
	if err != nil {
		return err
	}
	return s.SaveSession(ctx, rec)
}

// LoadSession implements persistence.Store.
func (d *dialing) LoadSession(ctx context.Context, id string) (persistence.SessionRecord, error) {
	s, err := d.store()
	if err != nil {
		return persistence.SessionRecord{}, err
	}
	return s.LoadSession(ctx, id)
}

// SaveSessionBatch implements persistence.SessionBatchStore.
func (d *dialing) SaveSessionBatch(ctx context.Context, recs []persistence.SessionRecord) error {
	s, err := d.store()
	if err != nil {
		return err
	}
	return persistence.SaveSessions(ctx, s, recs)
}

// LoadSessionBatch implements persistence.SessionBatchStore.
func (d *dialing) LoadSessionBatch(ctx context.Context, ids []string) (map[string]persistence.SessionRecord, error) {
	s, err := d.store()
	if err != nil {
		return nil, err
	}
	return persistence.LoadSessions(ctx, s, ids)
}

// DeleteSession implements persistence.Store.
func (d *dialing) DeleteSession(ctx context.Context, id string) error {
	s, err := d.store()
	if err != nil {
		return err
	}
	return s.DeleteSession(ctx, id)
}

// DeleteExpiredSessions implements persistence.Store.
func (d *dialing) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	s, err := d.store()
	if err != nil {
		return 0, err
	}
	return s.DeleteExpiredSessions(ctx, now, limit)
}

// ClaimRoom implements persistence.Store.
func (d *dialing) ClaimRoom(ctx context.Context, room, node string) (persistence.RoomState, error) {
	s, err := d.store()
	if err != nil {
		return persistence.RoomState{}, err
	}
	return s.ClaimRoom(ctx, room, node)
}

// RenewLease implements persistence.Store.
func (d *dialing) RenewLease(ctx context.Context, node string, ttl time.Duration) (persistence.Lease, error) {
	s, err := d.store()
	if err != nil {
		return persistence.Lease{}, err
	}
	return s.RenewLease(ctx, node, ttl)
}

// ReleaseLease implements persistence.Store.
func (d *dialing) ReleaseLease(ctx context.Context, node string) error {
	s, err := d.store()
	if err != nil {
		return err
	}
	return s.ReleaseLease(ctx, node)
}

// Leases implements persistence.Store.
func (d *dialing) Leases(ctx context.Context) ([]persistence.Lease, error) {
	s, err := d.store()
	if err != nil {
		return nil, err
	}
	return s.Leases(ctx)
}
