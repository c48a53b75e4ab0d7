// Package storeurl parses the store URLs of the server's --store setting
// without linking in any store or driver, so configuration can validate a URL
// cheaply. persistence/stores opens the store a parsed URL names.
//
// The forms:
//
//   - "memory:" for persistence.Memory;
//   - "sqlite:///absolute/path.db" or "sqlite://path/relative/to/working/dir.db"
//     for a persistence/sqlite store;
//   - "postgres://user:pass@host:5432/db?sslmode=disable" (or postgresql://)
//     for a persistence/postgres store; the URL is passed to the driver whole.
package storeurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Kind names a store implementation.
type Kind string

// The store kinds a URL can name.
const (
	Memory   Kind = "memory"
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// URL is a parsed store URL.
type URL struct {
	Kind Kind
	// Path is the SQLite database file (Kind SQLite).
	Path string
	// DSN is the connection string handed to the PostgreSQL driver (Kind
	// Postgres). It may carry a password: never log it, log Redacted instead.
	DSN string
}

// Redacted returns the URL in a form safe to log: a PostgreSQL password, in
// the user information or in a password or sslpassword parameter, is
// replaced by "xxxxx".
func (u URL) Redacted() string {
	switch u.Kind {
	case Memory:
		return "memory:"
	case SQLite:
		return "sqlite://" + u.Path
	}
	if p, err := url.Parse(u.DSN); err == nil {
		// The driver also takes passwords as query parameters.
		q := p.Query()
		masked := false
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
				masked = true
			}
		}
		if masked {
			p.RawQuery = q.Encode()
		}
		return p.Redacted()
	}
	return string(u.Kind) + "://(unparsable)"
}

// Parse parses a store URL. Its errors never quote the whole URL, which might
// carry credentials.
func Parse(raw string) (URL, error) {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || scheme == "" {
		return URL{}, errors.New(`persistence: store URL needs a scheme: want "memory:", "sqlite://<path>" or "postgres://…"`)
	}
	switch strings.ToLower(scheme) {
	case "memory":
		if rest != "" {
			return URL{}, errors.New(`persistence: memory store URL takes nothing after the scheme: want exactly "memory:"`)
		}
		return URL{Kind: Memory}, nil
	case "sqlite":
		path, ok := strings.CutPrefix(rest, "//")
		switch {
		case !ok:
			return URL{}, errors.New(`persistence: sqlite store URL must start with "sqlite://", as in sqlite://data/troupe.db or sqlite:///var/lib/troupe.db`)
		case path == "":
			return URL{}, errors.New("persistence: sqlite store URL needs a path, as in sqlite://data/troupe.db")
		case strings.Contains(path, "?"):
			return URL{}, errors.New("persistence: sqlite store URL does not take query parameters")
		case strings.HasSuffix(path, "/"):
			return URL{}, fmt.Errorf("persistence: sqlite store path %q names a directory, want a file", path)
		}
		return URL{Kind: SQLite, Path: path}, nil
	case "postgres", "postgresql":
		if !strings.HasPrefix(rest, "//") {
			return URL{}, fmt.Errorf(`persistence: %s store URL must start with "%s://", as in postgres://user:pass@host:5432/db?sslmode=disable`, strings.ToLower(scheme), strings.ToLower(scheme))
		}
		u, err := url.Parse(raw)
		if err != nil {
			return URL{}, errors.New("persistence: postgres store URL does not parse as a URL (check the escaping of the user and password)")
		}
		if u.Host == "" {
			return URL{}, errors.New("persistence: postgres store URL needs a host, as in postgres://user:pass@127.0.0.1:5432/db")
		}
		if strings.Trim(u.Path, "/") == "" {
			return URL{}, errors.New("persistence: postgres store URL needs a database name, as in postgres://user:pass@host:5432/troupe")
		}
		return URL{Kind: Postgres, DSN: raw}, nil
	}
	return URL{}, fmt.Errorf("persistence: unknown store scheme %q: want memory:, sqlite://<path> or postgres://…", scheme)
}
