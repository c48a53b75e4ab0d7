package groupcommit

import (
	"context"
	"fmt"
)

// Savepoint names the savepoint EachInSavepoint wraps each request in.
const Savepoint = "room_batch"

// EachInSavepoint runs apply for each request of group in turn, inside one
// transaction whose statements exec runs, each request inside a savepoint of
// its own: a request whose apply fails (its Err is set to that error) is
// rolled back alone and the others are kept. It returns how many requests
// succeeded, or an error of the savepoint statements themselves, after which
// the transaction is unusable and the caller should fail the requests still
// without an outcome (FailPending) and roll back. The statements are
// standard SQL (SAVEPOINT, ROLLBACK TO SAVEPOINT, RELEASE SAVEPOINT), as
// SQLite and PostgreSQL accept them.
func EachInSavepoint[T any](ctx context.Context, group []*Request[T],
	exec func(ctx context.Context, sql string) error,
	apply func(ctx context.Context, r *Request[T]) error,
) (stored int, err error) {
	for _, r := range group {
		if err := exec(ctx, "SAVEPOINT "+Savepoint); err != nil {
			return stored, fmt.Errorf("savepoint: %w", err)
		}
		if r.Err = apply(ctx, r); r.Err != nil {
			if err := exec(ctx, "ROLLBACK TO SAVEPOINT "+Savepoint); err != nil {
				return stored, fmt.Errorf("rollback to savepoint: %w", err)
			}
		} else {
			stored++
		}
		if err := exec(ctx, "RELEASE SAVEPOINT "+Savepoint); err != nil {
			return stored, fmt.Errorf("release savepoint: %w", err)
		}
	}
	return stored, nil
}
