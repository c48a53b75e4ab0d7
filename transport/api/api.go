// Package api serves troupe's server HTTP API (PROTOCOL.md, "Server HTTP
// API"): JSON over HTTP under /api/, each call authorized with the API key as
// a bearer token. This package holds the routes of recovery drills.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/actors/drills"
)

// maxBody is the largest request body the API reads (413 beyond).
const maxBody = 1 << 20

// Drills starts recovery drills and reads their reports (*drills.Runner).
type Drills interface {
	Start(spec drills.Spec) (drills.Report, error)
	Get(id string) (drills.Report, bool)
	Wait(ctx context.Context, id string) (drills.Report, bool)
}

// maxWait bounds the wait parameter of GET /api/drills/{id}.
const maxWait = time.Minute

// Options configure the API.
type Options struct {
	// Key is the API key callers present as "Authorization: Bearer KEY".
	// Drills are refused (401) while it is empty: they crash things.
	Key    string
	Drills Drills
	Logger *slog.Logger
}

// API is the server API's handlers.
type API struct {
	key    []byte
	drills Drills
	log    *slog.Logger
}

// New returns the API; Routes lists what to mount.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{key: []byte(o.Key), drills: o.Drills, log: o.Logger.With("component", "api")}
}

// Routes maps ServeMux patterns to the API's handlers.
func (a *API) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /api/drills":     a.authorized(http.HandlerFunc(a.startDrill)),
		"GET /api/drills/{id}": a.authorized(http.HandlerFunc(a.drill)),
	}
}

// authorized lets a request through only with the right bearer key.
func (a *API) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if len(a.key) == 0 || !ok || subtle.ConstantTimeCompare([]byte(token), a.key) != 1 {
			if len(a.key) == 0 {
				writeError(w, http.StatusUnauthorized, actors.CodeUnauthorized, "this route needs the server started with --api-key")
				return
			}
			writeError(w, http.StatusUnauthorized, actors.CodeUnauthorized, "missing or wrong API key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) startDrill(w http.ResponseWriter, r *http.Request) {
	var spec drills.Spec
	if !readJSON(w, r, &spec) {
		return
	}
	rep, err := a.drills.Start(spec)
	switch {
	case errors.Is(err, drills.ErrInvalid), errors.Is(err, drills.ErrBusy):
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, err.Error())
	case errors.Is(err, drills.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, actors.CodeUnavailable, err.Error())
	case err != nil:
		a.log.Error("drill start failed", "err", err)
		writeError(w, http.StatusInternalServerError, actors.CodeUnavailable, "the drill could not start")
	default:
		a.log.Info("drill started through the API", "drill", rep.ID, "kind", rep.Spec.Kind, "remote", r.RemoteAddr)
		w.Header().Set("Location", "/api/drills/"+rep.ID)
		writeJSON(w, http.StatusAccepted, rep)
	}
}

// drill answers a drill's report; with ?wait=DURATION (at most a minute) it
// first waits for the drill to end.
func (a *API) drill(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rep, ok := a.drills.Get(id)
	if wait := r.URL.Query().Get("wait"); ok && wait != "" {
		d, err := time.ParseDuration(wait)
		if err != nil || d < 0 || d > maxWait {
			writeError(w, http.StatusBadRequest, actors.CodeInvalid, "wait must be a duration of at most 1m, like 30s")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		rep, ok = a.drills.Wait(ctx, id)
	}
	if !ok {
		writeError(w, http.StatusNotFound, "no_such_drill", "no drill with that id")
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// readJSON decodes the request body into v, answering the error itself.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &tooBig):
			writeError(w, http.StatusRequestEntityTooLarge, actors.CodeInvalid, "the body is over 1 MiB")
		case errors.As(err, &syntax), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			writeError(w, http.StatusBadRequest, actors.CodeBadJSON, "the body is not JSON: "+err.Error())
		default:
			writeError(w, http.StatusBadRequest, actors.CodeInvalid, err.Error())
		}
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	writeJSON(w, status, b)
}
