// Package stores opens a persistence.Store from a store URL, the form the
// server's --store setting takes (parsed by persistence/storeurl):
//
//   - "memory:" for persistence.Memory;
//   - "sqlite:///absolute/path.db" or "sqlite://path/relative/to/working/dir.db"
//     for a persistence/sqlite Store;
//   - "postgres://user:pass@host:5432/db?sslmode=disable" (or postgresql://)
//     for a persistence/postgres Store; pool_max_conns sets its pool size.
//
// Importing this package links in every built-in store and its driver; code
// that only uses a store should depend on the persistence package instead,
// and code that only checks a URL on persistence/storeurl.
package stores

import (
	"context"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/sqlite"
	"github.com/troupe-chat/troupe/persistence/storeurl"
)

// Open opens the store a store URL names (see the package documentation for
// the forms). For SQLite and PostgreSQL, ctx bounds connecting and migrating
// the schema. Errors never carry a password.
func Open(ctx context.Context, url string) (persistence.Store, error) {
	u, err := storeurl.Parse(url)
	if err != nil {
		return nil, err
	}
	switch u.Kind {
	case storeurl.Memory:
		return persistence.NewMemory(), nil
	case storeurl.Postgres:
		s, err := postgres.Open(ctx, u.DSN)
		if err != nil {
			return nil, err // not a typed nil *postgres.Store in a non-nil interface
		}
		return s, nil
	default: // storeurl.SQLite
		s, err := sqlite.Open(ctx, u.Path)
		if err != nil {
			return nil, err // not a typed nil *sqlite.Store in a non-nil interface
		}
		return s, nil
	}
}

// ValidateURL reports whether Open accepts url, without touching the file
// system or the network: storeurl.Parse's verdict. Errors never quote the
// whole URL, which might carry credentials.
func ValidateURL(url string) error {
	_, err := storeurl.Parse(url)
	return err
}
