// Package admin serves troupe's admin dashboard: one static page (embedded
// with go:embed; HTML, one JavaScript module, CSS, no build step, nothing
// loaded from elsewhere) for operators. It shows the live nodes of the
// cluster and the live actor tree, each room with the node that owns it or
// that this node relays it to (GET /api/admin/tree), charts of the last minutes computed in the browser from
// GET /metrics, and runs recovery drills (POST /api/drills, then GET
// /api/drills/{id}?wait=…).
//
// The package holds no state and no credentials: the page asks for the API
// key, keeps it in the tab's sessionStorage and sends it as a bearer token on
// each /api/ call, which the server API checks. Serving the page needs no
// key; everything it shows does (except /metrics, which the server serves
// without one).
//
// Routes, for a handler mounted on "GET /admin" and "GET /admin/":
//
//	GET /admin          301 to /admin/ (the page's URLs are relative to it)
//	GET /admin/         the dashboard (static/index.html)
//	GET /admin/{file}   the page's own files (static/admin.js, static/admin.css, …)
//
// Anything else is 404; methods other than GET and HEAD are 405. Every
// response, errors included, carries the headers of securityHeaders and
// Cache-Control: no-store: an admin page and its script are never kept by
// browsers or proxies.
package admin
