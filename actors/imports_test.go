package actors_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestActorsImportNoTransportOrStorage proves the layering of doc.go: no
// package under actors/ imports a WebSocket, HTTP or SQL package, and nothing
// they depend on pulls in gws or an SQL driver. (protoactor-go's actor package
// itself depends on net/http through its OpenTelemetry Prometheus exporter;
// that edge is upstream's, so for net/http the test checks our own imports.)
func TestActorsImportNoTransportOrStorage(t *testing.T) {
	forbiddenDirect := []string{"github.com/lxzan/gws", "github.com/nats-io/nats.go", "github.com/nats-io/nats-server", "net/http", "database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/mattn/go-sqlite3", "github.com/lib/pq"}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			for _, bad := range forbiddenDirect {
				if imp == bad || strings.HasPrefix(imp, bad+"/") {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}

	deps, err := exec.Command("go", "list", "-deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	// database/sql/driver (interfaces only) arrives through google/uuid; database/sql itself must not.
	forbiddenDeep := []string{"github.com/lxzan/gws", "github.com/nats-io/nats.go", "github.com/nats-io/nats-server", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/mattn/go-sqlite3", "github.com/lib/pq"}
	for _, dep := range strings.Fields(string(deps)) {
		if dep == "database/sql" {
			t.Errorf("actors depends on database/sql")
		}
		for _, bad := range forbiddenDeep {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("actors depends on %s", dep)
			}
		}
	}
}
