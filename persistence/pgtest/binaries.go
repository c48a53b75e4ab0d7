package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// debianBinDir is where Debian's postgresql-15 package installs the server
// binaries without putting them on PATH.
const debianBinDir = "/usr/lib/postgresql/15/bin"

// serverBinaries are the programs a Server runs; they must come from one
// installation.
var serverBinaries = []string{"initdb", "pg_ctl", "postgres"}

// errNoBinaries is wrapped by the error of a start that found no server
// binaries: only then are tests skipped rather than failed.
var errNoBinaries = errors.New("PostgreSQL server binaries missing")

// findBinDir returns the directory holding initdb, pg_ctl and postgres: the
// one of initdb on PATH, else Debian's /usr/lib/postgresql/15/bin, else the
// newest /usr/lib/postgresql/*/bin.
func findBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	candidates = append(candidates, debianBinDir)
	others, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.Sort(others)
	slices.Reverse(others) // lexical, good enough for two-digit majors
	candidates = append(candidates, others...)
	for _, dir := range candidates {
		if hasAll(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgtest: %w: initdb, pg_ctl and postgres not found on PATH nor in %s (install the postgresql-15 package)",
		errNoBinaries, debianBinDir)
}

// hasAll reports whether dir holds every program of serverBinaries.
func hasAll(dir string) bool {
	for _, name := range serverBinaries {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// required reports whether a missing PostgreSQL must fail tests instead of
// skipping them: in CI (CI=1) or when TROUPE_REQUIRE_POSTGRES=1.
func required() bool {
	return os.Getenv("CI") == "1" || os.Getenv("TROUPE_REQUIRE_POSTGRES") == "1"
}

// unavailable ends t because no server could be started: it skips t, loudly,
// when the binaries are missing and PostgreSQL is not required; otherwise it
// fails t.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, errNoBinaries) || required() {
		t.Fatalf("pgtest: PostgreSQL test server unavailable: %v", err)
	}
	t.Skipf("\n*** pgtest: SKIPPING: PostgreSQL test server unavailable: %v\n"+
		"*** set CI=1 or TROUPE_REQUIRE_POSTGRES=1 to make this a failure ***", err)
}
