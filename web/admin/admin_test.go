package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/troupe-chat/troupe/web/admin"
)

func do(t *testing.T, h http.Handler, method, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// cspDirectives splits a Content-Security-Policy into directive → value.
func cspDirectives(csp string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if name != "" {
			out[name] = value
		}
	}
	return out
}

// checkHeaders checks the headers every response carries, errors included.
func checkHeaders(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, got)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, got)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q, want no-referrer", what, got)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options %q, want DENY", what, got)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	directives := cspDirectives(csp)
	for name, want := range map[string]string{
		"default-src":               "'none'",
		"script-src":                "'self'",
		"style-src":                 "'self'",
		"img-src":                   "'self'",
		"connect-src":               "'self'",
		"base-uri":                  "'none'",
		"form-action":               "'none'",
		"frame-ancestors":           "'none'",
		"require-trusted-types-for": "'script'",
		"trusted-types":             "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("%s: CSP %s %q, want %q (CSP %q)", what, name, got, want, csp)
		}
	}
	for _, bad := range []string{"unsafe-", "http:", "https:", "data:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: CSP allows %q: %q", what, bad, csp)
		}
	}
}

func TestServesFilesWithTheirTypes(t *testing.T) {
	h := admin.Handler()
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/admin/", "text/html; charset=utf-8", `<script type="module" src="admin.js">`},
		{"/admin/admin.js", "text/javascript; charset=utf-8", "/api/admin/tree"},
		{"/admin/admin.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/admin/favicon.svg", "image/svg+xml", "<svg"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := do(t, h, http.MethodGet, tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			checkHeaders(t, tc.path, resp)
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body lacks %q:\n%.300s", tc.contains, body)
			}
		})
	}
}

func TestErrorsCarryTheHeadersToo(t *testing.T) {
	h := admin.Handler()
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/admin/nope.js", http.StatusNotFound},
		{http.MethodGet, "/admin/static/index.html", http.StatusNotFound}, // the embed directory is no URL path
		{http.MethodGet, "/admin/../admin.go", http.StatusNotFound},
		{http.MethodGet, "/admin/sub/", http.StatusNotFound},
		{http.MethodGet, "/elsewhere", http.StatusNotFound},
		{http.MethodPost, "/admin/", http.StatusMethodNotAllowed},
		{http.MethodGet, "/admin", http.StatusMovedPermanently},
	} {
		resp, body := do(t, h, tc.method, tc.path)
		what := tc.method + " " + tc.path
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", what, resp.StatusCode, tc.status)
		}
		if tc.status != http.StatusMovedPermanently && strings.Contains(body, "<!doctype html>") {
			t.Errorf("%s: answered with the page", what)
		}
		checkHeaders(t, what, resp)
	}
}

func TestRedirectsToTheSlashedPath(t *testing.T) {
	h := admin.Handler()
	for target, want := range map[string]string{
		"/admin":            "/admin/",
		"/admin?x=1":        "/admin/?x=1",
		"/admin/index.html": "/admin/",
	} {
		resp, _ := do(t, h, http.MethodGet, target)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %d to %q, want 301 to %q", target, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestHead(t *testing.T) {
	resp, body := do(t, admin.Handler(), http.MethodHead, "/admin/admin.js")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if body != "" {
		t.Errorf("HEAD has a body: %.100q", body)
	}
	checkHeaders(t, "HEAD", resp)
}

// TestPageReferencesExist checks that every local file the page names is
// served, and that it names nothing outside its own origin.
func TestPageReferencesExist(t *testing.T) {
	h := admin.Handler()
	_, page := do(t, h, http.MethodGet, "/admin/")
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("found only %d references in the page", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "//") {
			t.Errorf("the page references %q outside its origin", ref)
			continue
		}
		if resp, _ := do(t, h, http.MethodGet, "/admin/"+ref); resp.StatusCode != http.StatusOK {
			t.Errorf("the page references %q: GET /admin/%s answered %d", ref, ref, resp.StatusCode)
		}
	}
}

// TestScriptUsesNoHTMLSinks backs the CSP's Trusted Types requirement: the
// script never turns strings into markup (the browser would refuse anyway).
func TestScriptUsesNoHTMLSinks(t *testing.T) {
	_, js := do(t, admin.Handler(), http.MethodGet, "/admin/admin.js")
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, sink) {
			t.Errorf("admin.js uses %s", sink)
		}
	}
}

// TestMountedBesideACatchAll mounts the handler as the server does, beside
// a catch-all "/" page and the API: each keeps its own paths.
func TestMountedBesideACatchAll(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if _, err := io.WriteString(w, name); err != nil {
				t.Error(err)
			}
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/", named("demo"))
	mux.Handle("GET /api/admin/tree", named("api"))
	mux.Handle("GET /admin", admin.Handler())
	mux.Handle("GET /admin/", admin.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/", "demo", http.StatusOK},
		{"/administrator", "demo", http.StatusOK},
		{"/api/admin/tree", "api", http.StatusOK},
		{"/admin", "", http.StatusMovedPermanently},
		{"/admin/", "<!doctype html>", http.StatusOK},
		{"/admin/admin.js", "/api/drills", http.StatusOK},
	} {
		resp, err := client.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("GET %s: %d %.60q, want %d with %q", tc.path, resp.StatusCode, b, tc.status, tc.want)
		}
	}
}
