package storeurl

import (
	"strings"
	"testing"
)

// TestParse checks the kinds and fields Parse returns, and that its errors
// never carry the password.
func TestParse(t *testing.T) {
	for raw, want := range map[string]URL{
		"memory:":                     {Kind: Memory},
		"sqlite:///var/lib/troupe.db": {Kind: SQLite, Path: "/var/lib/troupe.db"},
		"sqlite://data/troupe.db":     {Kind: SQLite, Path: "data/troupe.db"},
		"postgres://u:p@db:5432/troupe?sslmode=disable": {Kind: Postgres, DSN: "postgres://u:p@db:5432/troupe?sslmode=disable"},
		"postgresql://db/troupe":                        {Kind: Postgres, DSN: "postgresql://db/troupe"},
	} {
		got, err := Parse(raw)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", raw, got, err, want)
		}
	}
	for _, raw := range []string{
		"", "troupe.db", "memory:x", "sqlite:x.db", "sqlite://", "sqlite://x?y", "sqlite://d/",
		"postgres:secret@db/troupe", "postgres://u:secret@/troupe", "postgres://u:secret@db", "postgres://u:secret@db/",
		"redis://u:secret@host",
	} {
		_, err := Parse(raw)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", raw)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Parse(%q) error leaks the password: %v", raw, err)
		}
	}
}

// TestRedacted checks that no form of PostgreSQL password survives Redacted.
func TestRedacted(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres://u:secret@db/troupe":                          "postgres://u:xxxxx@db/troupe",
		"postgres://u@db/troupe?password=secret&sslmode=require": "postgres://u@db/troupe?password=xxxxx&sslmode=require",
		"postgresql://db/troupe?sslpassword=secret":              "postgresql://db/troupe?sslpassword=xxxxx",
		"postgres://db/troupe":                                   "postgres://db/troupe",
		"sqlite://data/troupe.db":                                "sqlite://data/troupe.db",
		"memory:":                                                "memory:",
	} {
		u, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Redacted(); got != want {
			t.Errorf("Parse(%q).Redacted() = %q, want %q", raw, got, want)
		}
	}
}
