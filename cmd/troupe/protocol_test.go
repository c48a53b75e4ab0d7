package main

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	jsclient "github.com/troupe-chat/troupe/clients/js"
)

// The protocol's error and close codes are written down four times: in
// PROTOCOL.md's "Errors" and "Close codes" tables, in package actors (the
// server), in the Go client and in the JavaScript client. These tests hold the
// three code lists to the spec, so that none of them drifts alone.

// protocolPath is the spec, relative to this package's directory.
const protocolPath = "../../PROTOCOL.md"

// closeAbnormal is the one close code the code lists carry beyond the spec:
// 1006 is never sent, it names a connection that dropped without a close frame.
const closeAbnormal = 1006

// specSection returns the text of the "## title" section of PROTOCOL.md.
func specSection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile(protocolPath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("PROTOCOL.md has no section %q", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// tableFirstColumn returns the first cells of the rows of the Markdown
// tables in section (header and separator rows excluded).
func tableFirstColumn(section string) []string {
	var cells []string
	for line := range strings.SplitSeq(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cell := strings.TrimSpace(strings.Split(line, "|")[1])
		if cell == "code" || strings.HasPrefix(cell, "---") {
			continue
		}
		cells = append(cells, cell)
	}
	return cells
}

// specErrorCodes returns the codes of PROTOCOL.md's "Errors" table.
func specErrorCodes(t *testing.T) []string {
	t.Helper()
	var codes []string
	for _, cell := range tableFirstColumn(specSection(t, "Errors")) {
		code, ok := strings.CutPrefix(cell, "`")
		code, ok2 := strings.CutSuffix(code, "`")
		if !ok || !ok2 || code == "" {
			t.Fatalf("PROTOCOL.md \"Errors\": row %q is not a `code`", cell)
		}
		codes = append(codes, code)
	}
	if len(codes) == 0 {
		t.Fatal("PROTOCOL.md \"Errors\" lists no codes")
	}
	return sorted(codes)
}

// specCloseCodes returns the codes of PROTOCOL.md's "Close codes" table.
func specCloseCodes(t *testing.T) []int {
	t.Helper()
	var codes []int
	for _, cell := range tableFirstColumn(specSection(t, "Close codes")) {
		n, err := strconv.Atoi(cell)
		if err != nil {
			t.Fatalf("PROTOCOL.md \"Close codes\": row %q is not a number", cell)
		}
		codes = append(codes, n)
	}
	if len(codes) == 0 {
		t.Fatal("PROTOCOL.md \"Close codes\" lists no codes")
	}
	return sorted(codes)
}

// goConsts returns the package-level constants of the Go file at path whose
// names start with prefix, by name, with their values (string or int).
func goConsts(t *testing.T, path, prefix string) map[string]any {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]any{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, prefix) {
					continue
				}
				if i >= len(vs.Values) {
					t.Fatalf("%s: %s has no literal value", path, name.Name)
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: %s is not a literal", path, name.Name)
				}
				v := constant.MakeFromLiteral(lit.Value, lit.Kind, 0)
				switch v.Kind() {
				case constant.String:
					consts[name.Name] = constant.StringVal(v)
				case constant.Int:
					n, _ := constant.Int64Val(v)
					consts[name.Name] = int(n)
				default:
					t.Fatalf("%s: %s is neither a string nor an int", path, name.Name)
				}
			}
		}
	}
	if len(consts) == 0 {
		t.Fatalf("%s declares no %s… constants", path, prefix)
	}
	return consts
}

// jsCodes returns the entries of the frozen object `export const name =
// Object.freeze({...})` in the JavaScript client's src/errors.js.
func jsCodes(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(jsclient.Files, "src/errors.js")
	if err != nil {
		t.Fatal(err)
	}
	obj := regexp.MustCompile(`(?s)export const ` + name + ` = Object\.freeze\(\{(.*?)\}\)`).FindSubmatch(b)
	if obj == nil {
		t.Fatalf("clients/js/src/errors.js: no `export const %s = Object.freeze({…})`", name)
	}
	entries := map[string]string{}
	entry := regexp.MustCompile(`^\s*([A-Z0-9_]+):\s*('[^']*'|[0-9]+),?\s*$`)
	for line := range strings.SplitSeq(string(obj[1]), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := entry.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("clients/js/src/errors.js %s: cannot read the line %q", name, line)
		}
		entries[m[1]] = strings.Trim(m[2], "'")
	}
	return entries
}

func sorted[T interface{ ~int | ~string }](s []T) []T {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// valuesOf returns the sorted distinct values of m that have type T.
func valuesOf[T interface{ ~int | ~string }](t *testing.T, what string, m map[string]any) []T {
	t.Helper()
	var vs []T
	for name, v := range m {
		tv, ok := v.(T)
		if !ok {
			t.Fatalf("%s: %s = %v has the wrong type", what, name, v)
		}
		vs = append(vs, tv)
	}
	if d := len(vs) - len(sorted(vs)); d != 0 {
		t.Errorf("%s: %d constants repeat a value: %v", what, d, m)
	}
	return sorted(vs)
}

// withoutAbnormal drops 1006 from codes, the one code that is never sent.
func withoutAbnormal(codes []int) []int {
	return slices.DeleteFunc(slices.Clone(codes), func(c int) bool { return c == closeAbnormal })
}

func TestProtocolErrorCodesAgree(t *testing.T) {
	spec := specErrorCodes(t)

	server := goConsts(t, "../../actors/errors.go", "Code")
	if got := valuesOf[string](t, "actors", server); !slices.Equal(got, spec) {
		t.Errorf("actors Code* constants = %v, PROTOCOL.md \"Errors\" = %v", got, spec)
	}

	goClient := goConsts(t, "../../clients/go/troupe/errors.go", "Code")
	if got := valuesOf[string](t, "clients/go/troupe", goClient); !slices.Equal(got, spec) {
		t.Errorf("clients/go/troupe Code* constants = %v, PROTOCOL.md \"Errors\" = %v", got, spec)
	}
	if !maps.Equal(goClient, server) {
		t.Errorf("clients/go/troupe Code* constants %v differ from actors' %v (names or values)", goClient, server)
	}

	js := jsCodes(t, "ErrorCodes")
	if got := sorted(slices.Collect(maps.Values(js))); !slices.Equal(got, spec) {
		t.Errorf("clients/js ErrorCodes = %v, PROTOCOL.md \"Errors\" = %v", got, spec)
	}
	for name, code := range js {
		if want := strings.ToUpper(code); name != want {
			t.Errorf("clients/js ErrorCodes.%s = %q: the name should be %s", name, code, want)
		}
	}
}

func TestProtocolCloseCodesAgree(t *testing.T) {
	spec := specCloseCodes(t)
	if slices.Contains(spec, closeAbnormal) {
		t.Fatalf("PROTOCOL.md \"Close codes\" lists %d, which no endpoint may send (RFC 6455 §7.4.1)", closeAbnormal)
	}

	server := goConsts(t, "../../actors/errors.go", "Close")
	if got := withoutAbnormal(valuesOf[int](t, "actors", server)); !slices.Equal(got, spec) {
		t.Errorf("actors Close* constants (without 1006) = %v, PROTOCOL.md \"Close codes\" = %v", got, spec)
	}

	goClient := goConsts(t, "../../clients/go/troupe/errors.go", "Close")
	if got := withoutAbnormal(valuesOf[int](t, "clients/go/troupe", goClient)); !slices.Equal(got, spec) {
		t.Errorf("clients/go/troupe Close* constants (without 1006) = %v, PROTOCOL.md \"Close codes\" = %v", got, spec)
	}
	if !maps.Equal(goClient, server) {
		t.Errorf("clients/go/troupe Close* constants %v differ from actors' %v (names or values)", goClient, server)
	}

	var js []int
	for name, v := range jsCodes(t, "CloseCodes") {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("clients/js CloseCodes.%s = %q is not a number", name, v)
		}
		js = append(js, n)
	}
	if got := withoutAbnormal(sorted(js)); !slices.Equal(got, spec) {
		t.Errorf("clients/js CloseCodes (without 1006) = %v, PROTOCOL.md \"Close codes\" = %v", got, spec)
	}
}

// TestProtocolRoomClosedReasons checks that the spec names every reason a
// room_closed frame may carry.
func TestProtocolRoomClosedReasons(t *testing.T) {
	section := specSection(t, "Server-pushed frames")
	for _, reason := range []string{"deleted", "crashed", "moved"} {
		if !strings.Contains(section, "(`"+reason+"`)") {
			t.Errorf("PROTOCOL.md \"Server-pushed frames\" does not describe the room_closed reason %q", reason)
		}
	}
}
