package admin

import (
	"bytes"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// static holds the page. Static after build.
//
//go:embed static
var static embed.FS

// Prefix is the URL path the dashboard lives under; Handler answers only
// paths below it (and Prefix without its trailing slash, with a redirect).
const Prefix = "/admin/"

// contentSecurityPolicy allows the page nothing but its own files and calls
// to its own origin (/api/… and /metrics). The page builds every element with
// DOM calls and sets text with textContent, never markup from strings, so it
// can also require Trusted Types and allow no policy: room names and user ids
// shown by the page can never become markup or script. Charts are inline SVG
// built the same way; bar widths are set through the CSSOM, which style-src
// does not restrict (inline style attributes and <style> elements it does).
// form-action 'none' keeps a form from ever being submitted the old way if
// the script fails to load.
const contentSecurityPolicy = "default-src 'none'; " +
	"script-src 'self'; " +
	"style-src 'self'; " +
	"img-src 'self'; " +
	"connect-src 'self'; " +
	"base-uri 'none'; " +
	"form-action 'none'; " +
	"frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; " +
	"trusted-types 'none'"

// securityHeaders are set on every response of Handler, errors included.
var securityHeaders = map[string]string{
	"Content-Security-Policy":      contentSecurityPolicy,
	"Cache-Control":                "no-store",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"X-Frame-Options":              "DENY", // for browsers without frame-ancestors
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}

// contentTypes are the types of the files served, by extension, fixed here
// rather than taken from the host's MIME tables (which differ between
// hosts). Anything else is application/octet-stream, which nosniff keeps
// from being run or rendered as something else.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Handler returns the handler of the admin dashboard. Mount it on
// "GET /admin" and "GET /admin/" (GET patterns also match HEAD): they are
// more specific than a catch-all "/" such as the demo page's, so the
// dashboard wins for its paths and leaves every other path alone.
func Handler() http.Handler {
	return handler{}
}

type handler struct{}

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == strings.TrimSuffix(Prefix, "/"), p == Prefix+"index.html":
		target := Prefix
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
	case p == Prefix:
		serveFile(w, r, "index.html")
	case strings.HasPrefix(p, Prefix):
		serveFile(w, r, strings.TrimPrefix(p, Prefix))
	default:
		http.NotFound(w, r)
	}
}

// serveFile answers with the file name at the root of static, or 404.
// Only files at the root are served: no directories, no listings.
func serveFile(w http.ResponseWriter, r *http.Request, name string) {
	if !fs.ValidPath(name) || name == "." || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "500 cannot read file", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType(name))
	// The zero modtime leaves Last-Modified out (embedded files have none);
	// ServeContent answers HEAD and ranges and sets Content-Length.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func contentType(name string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}
