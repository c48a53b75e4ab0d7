// Package stores opens a persistence.Store from a store URL, the form the
// server's --store setting takes:
//
//   - "memory:" for persistence.Memory;
//   - "sqlite:///absolute/path.db" or "sqlite://path/relative/to/working/dir.db"
//     for a persistence/sqlite Store.
//
// postgres:// and postgresql:// URLs are recognised but rejected: that store
// is not built in yet. Importing this package links in every built-in store
// and its driver; code that only uses a store should depend on the
// persistence package instead.
package stores

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/sqlite"
)

// Open opens the store a store URL names (see ValidateURL for the forms).
// For SQLite, ctx bounds opening the file and migrating its schema.
func Open(ctx context.Context, url string) (persistence.Store, error) {
	kind, path, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "memory":
		return persistence.NewMemory(), nil
	default: // "sqlite"
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err // not a typed nil *sqlite.Store in a non-nil interface
		}
		return s, nil
	}
}

// ValidateURL reports whether Open accepts url, without touching the file
// system. Accepted: "memory:", "sqlite:///abs/path.db" (absolute path),
// "sqlite://relative/path.db" (relative to the working directory at Open).
// postgres:// and postgresql:// URLs fail with an error saying that store is
// not built in yet. Errors never quote the whole URL, which might carry credentials.
func ValidateURL(url string) error {
	_, _, err := parseURL(url)
	return err
}

// parseURL splits a store URL into its kind ("memory" or "sqlite") and, for
// sqlite, the file path.
func parseURL(url string) (kind, path string, err error) {
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok || scheme == "" {
		return "", "", errors.New(`persistence: store URL needs a scheme: want "memory:" or "sqlite://<path>"`)
	}
	switch strings.ToLower(scheme) {
	case "memory":
		if rest != "" {
			return "", "", errors.New(`persistence: memory store URL takes nothing after the scheme: want exactly "memory:"`)
		}
		return "memory", "", nil
	case "sqlite":
		path, ok := strings.CutPrefix(rest, "//")
		switch {
		case !ok:
			return "", "", errors.New(`persistence: sqlite store URL must start with "sqlite://", as in sqlite://data/troupe.db or sqlite:///var/lib/troupe.db`)
		case path == "":
			return "", "", errors.New("persistence: sqlite store URL needs a path, as in sqlite://data/troupe.db")
		case strings.Contains(path, "?"):
			return "", "", errors.New("persistence: sqlite store URL does not take query parameters")
		case strings.HasSuffix(path, "/"):
			return "", "", fmt.Errorf("persistence: sqlite store path %q names a directory, want a file", path)
		}
		return "sqlite", path, nil
	case "postgres", "postgresql":
		return "", "", fmt.Errorf("persistence: %s:// store is not built in yet: use sqlite://<path> or memory:", strings.ToLower(scheme))
	}
	return "", "", fmt.Errorf("persistence: unknown store scheme %q: want memory: or sqlite://<path> (postgres:// is not built in yet)", scheme)
}
