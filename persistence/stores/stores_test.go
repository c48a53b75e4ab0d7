package stores

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/persistence/pgtest"
	"github.com/troupe-chat/troupe/persistence/postgres"
	"github.com/troupe-chat/troupe/persistence/sqlite"
	"github.com/troupe-chat/troupe/persistence/storetest"
)

// TestValidateURL checks which store URLs are accepted and what the errors say.
func TestValidateURL(t *testing.T) {
	for _, u := range []string{
		"memory:",
		"MEMORY:",
		"sqlite:///abs/path.db",
		"sqlite://relative.db",
		"sqlite://data/troupe.db",
		"sqlite://./x.db",
		"sqlite://../x.db",
		"postgres://u:secret@db/troupe",
		"postgresql://u:secret@db:5432/troupe?sslmode=disable&pool_max_conns=4",
	} {
		if err := ValidateURL(u); err != nil {
			t.Errorf("ValidateURL(%q) = %v, want nil", u, err)
		}
	}
	for _, tc := range []struct{ url, want string }{
		{"", "scheme"},
		{"troupe.db", "scheme"},
		{":x", "scheme"},
		{"memory://", "exactly"},
		{"memory:foo", "exactly"},
		{"sqlite://", "needs a path"},
		{"sqlite:", "sqlite://"},
		{"sqlite:data.db", "sqlite://"},
		{"sqlite://data/", "directory"},
		{"sqlite:///", "directory"},
		{"sqlite://x.db?mode=ro", "query"},
		{"postgres:u:secret@db/troupe", "postgres://"},
		{"postgres://u:secret@/troupe", "needs a host"},
		{"postgresql://u:secret@db", "needs a database name"},
		{"redis://u:secret@host", "unknown store scheme"},
	} {
		err := ValidateURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateURL(%q) = %v, want an error containing %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ValidateURL(%q) error leaks the password: %v", tc.url, err)
		}
	}
}

// TestOpen checks that Open builds the store a URL names, resolving relative
// SQLite paths against the working directory.
func TestOpen(t *testing.T) {
	ctx := t.Context()
	m, err := Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*persistence.Memory); !ok {
		t.Fatalf("Open(memory:) = %T, want *persistence.Memory", m)
	}
	_ = m.Close()

	dir := t.TempDir()
	abs := filepath.Join(dir, "abs", "troupe.db")
	s, err := Open(ctx, "sqlite://"+abs)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(*sqlite.Store).Path(); got != abs {
		t.Errorf("Open(sqlite://%s).Path() = %q", abs, got)
	}
	_ = s.Close()

	t.Chdir(dir)
	s, err = Open(ctx, "sqlite://data/troupe.db")
	if err != nil {
		t.Fatal(err)
	}
	storetest.Seed(t, s, "r", 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "troupe.db")); err != nil {
		t.Fatalf("relative store file: %v", err)
	}

	if s, err := Open(ctx, "postgres://u:secret@127.0.0.1:1/troupe?sslmode=disable"); err == nil || s != nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open(postgres://… unreachable) = %v, %v; want nil and an error without the password", s, err)
	}
	if s, err := Open(ctx, "sqlite://"+filepath.Join(dir, "data", "troupe.db", "x.db")); err == nil || s != nil {
		t.Fatalf("Open under a file = %v, %v; want nil and an error", s, err)
	}
}

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOpenPostgres opens a postgres:// URL (and its postgresql:// spelling)
// on a real server: both name the same database.
func TestOpenPostgres(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	s, err := Open(t.Context(), dsn+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*postgres.Store); !ok {
		t.Fatalf("Open(postgres://…) = %T, want *postgres.Store", s)
	}
	st := storetest.Seed(t, s, "r", 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), "postgresql"+strings.TrimPrefix(dsn, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if info := storetest.MustLookup(t, s, "r"); info.Epoch != st.Epoch || info.LastOffset != 3 {
		t.Fatalf("room through postgresql:// = %+v, want epoch %s, last offset 3", info, st.Epoch)
	}
}
