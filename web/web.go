// Package web serves troupe's demo pages, the chat and the shared notes:
// static pages (embedded in the binary with a go:embed directive) that talk
// to the server through the JavaScript client library.
//
// Routes, relative to where Handler is mounted:
//
//	GET /              the chat page (static/index.html)
//	GET /collab        the shared notes page (static/collab.html; Yjs from static/vendor/yjs.mjs)
//	GET /{file}        the page's own files (static/app.js, static/style.css, …)
//	GET /js/troupe/…   the JavaScript client's ES modules, from the FS given to Handler
//
// Anything else is 404; methods other than GET and HEAD are 405. Every
// response carries the security headers of securityHeaders.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
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

// ClientPrefix is the URL path under which Handler serves the JavaScript
// client's module files; the page imports ClientPrefix + "index.js".
const ClientPrefix = "/js/troupe/"

// contentSecurityPolicy allows the page nothing but itself, with one
// exception for images: a message may carry {"image": URL} in its data, and
// the page shows that image. Such URLs point anywhere the sender likes, so
// img-src allows any https: origin and data: URLs (small inline images,
// which also work without any outside network). Plain http: is left out: on
// an https deployment it would be mixed content, and it leaks what people
// look at to the network. Images cannot run script, and the page sends no
// Referer to their hosts (Referrer-Policy below); what remains is that a
// sender learns the IP address of whoever displays the image, which is
// inherent to showing images by URL.
//
// connect-src 'self' covers the WebSocket at /ws: in CSP Level 3, 'self'
// matches ws: and wss: on the page's own host and port. form-action 'none'
// keeps a form from ever being submitted the old way if the script fails to
// load (the script handles every form itself).
const contentSecurityPolicy = "default-src 'none'; " +
	"script-src 'self'; " +
	"style-src 'self'; " +
	"img-src 'self' https: data:; " +
	"connect-src 'self'; " +
	"manifest-src 'self'; " +
	"base-uri 'none'; " +
	"form-action 'none'; " +
	"frame-ancestors 'none'"

// securityHeaders are set on every response of Handler, errors included.
var securityHeaders = map[string]string{
	"Content-Security-Policy":      contentSecurityPolicy,
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"X-Frame-Options":              "DENY", // for browsers without frame-ancestors
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// contentTypes are the types of the files served, by extension. They are
// fixed here rather than taken from the system's MIME tables, which differ
// between hosts (some still say application/javascript, or video/mp2t for
// .ts). Anything else is application/octet-stream, which nosniff keeps
// from being run or rendered as something else.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".map":  "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
	".ts":   "text/plain; charset=utf-8", // type declarations (.d.ts), for reading
}

// Handler returns the handler of the demo chat page. client holds the
// JavaScript client library's module files (the contents of clients/js/src,
// with index.js at its root); they are served under ClientPrefix, so the
// page and any other browser code of the same origin can import them.
//
// Files are answered with Cache-Control: no-cache and a strong ETag of
// their content: browsers keep them but revalidate on every load (a cheap
// 304), so a new server version never meets a stale mix of modules. None of
// the names carry a content hash that would allow caching them for longer.
//
// Mount it at "/" (any method: it answers 405 itself) so that it takes every
// path no other route claims; more specific routes such as "GET /ws" or
// "POST /api/drills" still win.
func Handler(client fs.FS) http.Handler {
	return &handler{client: client}
}

type handler struct {
	client fs.FS // static after construction
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	case p == "/":
		serveFile(w, r, static, "static/index.html")
	case p == "/collab":
		serveFile(w, r, static, "static/collab.html")
	case strings.HasPrefix(p, ClientPrefix):
		serveFile(w, r, h.client, strings.TrimPrefix(p, ClientPrefix))
	case p == "/index.html":
		http.Redirect(w, r, "/", http.StatusMovedPermanently)
	default:
		serveFile(w, r, static, "static/"+strings.TrimPrefix(p, "/"))
	}
}

// serveFile answers with the regular file name of fsys, or 404.
func serveFile(w http.ResponseWriter, r *http.Request, fsys fs.FS, name string) {
	if fsys == nil || !fs.ValidPath(name) || name == "." {
		http.NotFound(w, r)
		return
	}
	fi, err := fs.Stat(fsys, name)
	if err != nil || !fi.Mode().IsRegular() {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r) // a directory, or nothing: no listings
			return
		}
		http.Error(w, "500 cannot read file", http.StatusInternalServerError)
		return
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		http.Error(w, "500 cannot read file", http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(b)
	hdr := w.Header()
	hdr.Set("Content-Type", contentType(name))
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	// The zero modtime leaves Last-Modified out (embedded files have none);
	// ServeContent answers If-None-Match, ranges and HEAD.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func contentType(name string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}
