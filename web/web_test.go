package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/troupe-chat/troupe/web"
)

// clientFS stands in for the JavaScript client's src directory.
var clientFS = fstest.MapFS{
	"index.js":      {Data: []byte("export { TroupeClient } from './client.js'\n")},
	"client.js":     {Data: []byte("export class TroupeClient extends EventTarget {}\n")},
	"index.d.ts":    {Data: []byte("export declare class TroupeClient {}\n")},
	"sub/nested.js": {Data: []byte("export const x = 1\n")},
}

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServesFilesWithTheirTypes(t *testing.T) {
	h := web.Handler(clientFS)
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/app.js">`},
		{"/app.js", "text/javascript; charset=utf-8", "from '/js/troupe/index.js'"},
		{"/style.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
		{"/collab", "text/html; charset=utf-8", `<script type="module" src="/collab.js">`},
		{"/collab.js", "text/javascript; charset=utf-8", "from '/vendor/yjs.mjs'"},
		{"/collab.css", "text/css; charset=utf-8", ".cursor"},
		{"/vendor/yjs.mjs", "text/javascript; charset=utf-8", "TroupeYjsProvider"},
		{"/js/troupe/index.js", "text/javascript; charset=utf-8", "export { TroupeClient }"},
		{"/js/troupe/client.js", "text/javascript; charset=utf-8", "class TroupeClient"},
		{"/js/troupe/sub/nested.js", "text/javascript; charset=utf-8", "export const x"},
		{"/js/troupe/index.d.ts", "text/plain; charset=utf-8", "declare"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(t, h, "GET", tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if resp.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if b := body(t, resp); !strings.Contains(b, tc.contains) {
				t.Errorf("body lacks %q:\n%.300s", tc.contains, b)
			}
		})
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := web.Handler(clientFS)
	for _, target := range []string{"/", "/app.js", "/js/troupe/index.js", "/nope.js", "/js/troupe/nope.js"} {
		resp := get(t, h, "GET", target)
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", target, got)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		directives := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			directives[name] = value
		}
		for name, want := range map[string]string{
			"default-src":     "'none'",
			"script-src":      "'self'",
			"style-src":       "'self'",
			"connect-src":     "'self'",
			"img-src":         "'self' https: data:",
			"frame-ancestors": "'none'",
			"base-uri":        "'none'",
		} {
			if got := directives[name]; got != want {
				t.Errorf("%s: CSP %s %q, want %q (CSP %q)", target, name, got, want, csp)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: CSP allows something unsafe: %q", target, csp)
		}
		if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q, want no-referrer", target, got)
		}
	}
}

func TestNotFound(t *testing.T) {
	h := web.Handler(clientFS)
	for _, target := range []string{
		"/nope",
		"/nope.js",
		"/static/index.html", // the embed directory is not a URL path
		"/js/troupe/",        // no directory listings
		"/js/troupe/sub",
		"/js/troupe/missing.js",
		"/js/troupe/../web.go",
		"/js/",
		"/api/unknown",
	} {
		resp := get(t, h, "GET", target)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", target, resp.StatusCode)
		}
		if b := body(t, resp); strings.Contains(b, "<!doctype html>") {
			t.Errorf("GET %s: answered with the page", target)
		}
	}
}

func TestIndexHTMLRedirectsToRoot(t *testing.T) {
	resp := get(t, web.Handler(clientFS), "GET", "/index.html")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/" {
		t.Errorf("GET /index.html: %d to %q, want 301 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestMethods(t *testing.T) {
	h := web.Handler(clientFS)
	resp := get(t, h, "HEAD", "/js/troupe/index.js")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if b := body(t, resp); b != "" {
		t.Errorf("HEAD has a body: %q", b)
	}
	resp = get(t, h, "POST", "/")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q; want 405 with Allow: GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestRevalidation(t *testing.T) {
	h := web.Handler(clientFS)
	first := get(t, h, "GET", "/js/troupe/index.js")
	etag := first.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := get(t, h, "GET", "/js/troupe/index.js", "If-None-Match", etag)
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: %d, want 304", again.StatusCode)
	}
	other := get(t, h, "GET", "/js/troupe/client.js", "If-None-Match", etag)
	if other.StatusCode != http.StatusOK {
		t.Errorf("another file's ETag: %d, want 200", other.StatusCode)
	}
}

// TestPageReferencesExist checks that every local file the page and its
// script name is served.
func TestPageReferencesExist(t *testing.T) {
	h := web.Handler(clientFS)
	for _, target := range []string{
		"/app.js", "/style.css", "/favicon.svg", "/js/troupe/index.js",
		"/collab.js", "/collab.css", "/vendor/yjs.mjs",
	} {
		if resp := get(t, h, "GET", target); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", target, resp.StatusCode)
		}
	}
}

// TestNilClient serves the page even without client files (their URLs 404).
func TestNilClient(t *testing.T) {
	h := web.Handler(nil)
	if resp := get(t, h, "GET", "/"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /: %d", resp.StatusCode)
	}
	if resp := get(t, h, "GET", "/js/troupe/index.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /js/troupe/index.js: %d, want 404", resp.StatusCode)
	}
}

// TestMountedAtRoot mounts the handler at "/" beside routes like the
// server's: they keep their requests, and the page gets only the rest.
func TestMountedAtRoot(t *testing.T) {
	mux := http.NewServeMux()
	route := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	mux.Handle("GET /ws", route("ws"))
	mux.Handle("GET /healthz", route("healthz"))
	mux.Handle("POST /api/drills", route("drills"))
	mux.Handle("/api/later/", route("later")) // a method-less route does not conflict with "/"
	mux.Handle("/", web.Handler(clientFS))
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/ws", "ws"},
		{"GET", "/healthz", "healthz"},
		{"POST", "/api/drills", "drills"},
		{"DELETE", "/api/later/x", "later"},
	} {
		resp := get(t, mux, tc.method, tc.path)
		if b := body(t, resp); b != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, b, tc.want)
		}
	}
	if resp := get(t, mux, "GET", "/"); resp.StatusCode != http.StatusOK || !strings.Contains(body(t, resp), "<!doctype html>") {
		t.Errorf("GET /: %d, want the page", resp.StatusCode)
	}
	if resp := get(t, mux, "POST", "/healthz"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d, want 405", resp.StatusCode)
	}
	if resp := get(t, mux, "GET", "/api/drills"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/drills: %d, want 404", resp.StatusCode)
	}
}
