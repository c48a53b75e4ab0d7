// Package api serves troupe's server HTTP API (../../PROTOCOL.md, "Server HTTP
// API"): JSON over HTTP under /api/, each call authorized with the API key as
// a bearer token: publish, notify, disconnect, rooms, presence, history and
// recovery drills.
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
	"github.com/troupe-chat/troupe/persistence"
	"golang.org/x/crypto/bcrypt"
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

// Engine is what the API asks of the actor engine (*actors.Engine).
type Engine interface {
	Publish(ctx context.Context, room string, m actors.ServerMessage) (actors.PublishResult, error)
	Notify(ctx context.Context, user string, f actors.Notify) (int, error)
	Disconnect(user, reason string) error
	Room(ctx context.Context, name string) (actors.RoomStats, error)
	RoomList(ctx context.Context, withPrivate bool) ([]actors.RoomStats, error)
	ConfigureRoom(ctx context.Context, name string, cfg persistence.RoomConfig) (created bool, err error)
	DeleteRoom(ctx context.Context, name string) error
	Presence(ctx context.Context, room string) ([]actors.PresenceMember, error)
	History(ctx context.Context, room string, q actors.HistoryPage) ([]persistence.Message, bool, error)
	// For the admin dashboard's actor tree:
	Rooms() []actors.RoomStats
	Users() []string
	ShardConnections() []int
}

// Options configure the API.
type Options struct {
	// Key is the API key callers present as "Authorization: Bearer KEY".
	// While it is empty every /api/ route answers 401: the API publishes,
	// disconnects, deletes and crashes things.
	Key    string
	Engine Engine
	Drills Drills
	// MaxTextBytes bounds a published message's text; HistoryMax a history
	// page; MaxMembers a room's max_members.
	MaxTextBytes int
	HistoryMax   int
	MaxMembers   int
	// BcryptCost is the cost of room password hashes (0: bcrypt's default).
	BcryptCost int
	Logger     *slog.Logger
	// Node names this node (--node-id) in the admin tree; on a single node
	// it is also the owner of every room.
	Node string
	// LiveNodes lists the live nodes of this node's cluster, sorted (the
	// lease keeper's Live); nil on a single node.
	LiveNodes func() []string
}

// API is the server API's handlers.
type API struct {
	key    []byte
	engine Engine
	drills Drills
	opts   Options
	log    *slog.Logger
}

// New returns the API; Routes lists what to mount.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	return &API{key: []byte(o.Key), engine: o.Engine, drills: o.Drills, opts: o, log: o.Logger.With("component", "api")}
}

// Routes maps ServeMux patterns to the API's handlers, each behind the key.
func (a *API) Routes() map[string]http.Handler {
	routes := map[string]http.HandlerFunc{
		"POST /api/publish":              a.publish,
		"POST /api/notify":               a.notify,
		"POST /api/disconnect":           a.disconnect,
		"GET /api/rooms":                 a.rooms,
		"GET /api/rooms/{room}":          a.room,
		"PUT /api/rooms/{room}":          a.configureRoom,
		"DELETE /api/rooms/{room}":       a.deleteRoom,
		"GET /api/rooms/{room}/presence": a.presence,
		"GET /api/rooms/{room}/history":  a.history,
		"POST /api/drills":               a.startDrill,
		"GET /api/drills/{id}":           a.drill,
		"GET /api/admin/tree":            a.tree,
		"/api/":                          a.noRoute,
	}
	out := make(map[string]http.Handler, len(routes))
	for pattern, h := range routes {
		out[pattern] = a.authorized(h)
	}
	return out
}

func (a *API) noRoute(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, actors.CodeInvalid, "no such API route: "+r.Method+" "+r.URL.Path)
}

// engineError answers an error of an engine call with its protocol code.
func (a *API) engineError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *actors.ProtocolError
	if errors.As(err, &pe) {
		status := http.StatusBadRequest
		switch pe.Code {
		case actors.CodeNoSuchRoom, actors.CodeNoSuchUser:
			status = http.StatusNotFound
		case actors.CodeRoomFull:
			status = http.StatusConflict
		case actors.CodeUnavailable:
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, pe.Code, pe.Message)
		return
	}
	a.log.Error("server API call failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusServiceUnavailable, actors.CodeUnavailable, "the server could not complete the call; retry")
}

// authorized lets a request through only with the right bearer key.
func (a *API) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if len(a.key) == 0 || !ok || subtle.ConstantTimeCompare([]byte(token), a.key) != 1 {
			if len(a.key) == 0 {
				writeError(w, http.StatusUnauthorized, actors.CodeUnauthorized, "the server API is off: start the server with --api-key")
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
