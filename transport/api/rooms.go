package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"golang.org/x/crypto/bcrypt"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/persistence"
	"github.com/troupe-chat/troupe/transport/wire"
)

// roomJSON is a room as ../../PROTOCOL.md's server API describes it.
type roomJSON struct {
	Room        string `json:"room"`
	Members     int    `json:"members"`
	Connections int    `json:"connections"`
	Offset      uint64 `json:"offset"`
	Epoch       string `json:"epoch"`
	Private     bool   `json:"private"`
	Restarts    int    `json:"restarts"`
	Presence    bool   `json:"presence"` // false: presence is off in the room
}

func toJSON(s actors.RoomStats) roomJSON {
	return roomJSON{Room: s.Room, Members: s.Members, Connections: s.Connections, Offset: s.Offset,
		Epoch: s.Epoch, Private: s.Private, Restarts: s.Restarts, Presence: !s.NoPresence}
}

// roomName reads and checks the {room} path value, answering a bad one.
func roomName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("room")
	if !wire.ValidRoom(name) {
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "room must match ^[A-Za-z0-9_.:-]{1,64}$")
		return "", false
	}
	return name, true
}

// rooms lists the public rooms.
func (a *API) rooms(w http.ResponseWriter, r *http.Request) {
	list, err := a.engine.RoomList(r.Context(), false)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	out := make([]roomJSON, len(list))
	for i, s := range list {
		out[i] = toJSON(s)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

// room describes one room, private or not.
func (a *API) room(w http.ResponseWriter, r *http.Request) {
	name, ok := roomName(w, r)
	if !ok {
		return
	}
	s, err := a.engine.Room(r.Context(), name)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(s))
}

type configureRequest struct {
	Private    bool   `json:"private"`
	Password   string `json:"password"`
	MaxMembers int    `json:"max_members"`
	// Presence false turns the room's presence off; absent or true keeps it on.
	Presence *bool `json:"presence"`
}

// configureRoom creates or configures a room; the password is stored hashed.
func (a *API) configureRoom(w http.ResponseWriter, r *http.Request) {
	name, ok := roomName(w, r)
	if !ok {
		return
	}
	var req configureRequest
	if !readJSON(w, r, &req) {
		return
	}
	switch {
	case req.MaxMembers < 0 || (a.opts.MaxMembers > 0 && req.MaxMembers > a.opts.MaxMembers):
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "max_members must be between 0 (the server default) and "+strconv.Itoa(a.opts.MaxMembers))
		return
	case len(req.Password) > 72:
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "password is at most 72 bytes")
		return
	}
	cfg := persistence.RoomConfig{Private: req.Private, MaxMembers: req.MaxMembers, NoPresence: req.Presence != nil && !*req.Presence}
	if req.Password != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(req.Password), a.opts.BcryptCost)
		if err != nil {
			a.engineError(w, r, err)
			return
		}
		cfg.PasswordHash = string(hash)
	}
	created, err := a.engine.ConfigureRoom(r.Context(), name, cfg)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	s, err := a.engine.Room(r.Context(), name)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	a.log.Info("room configured through the API", "room", name, "created", created, "private", req.Private,
		"password", req.Password != "", "max_members", req.MaxMembers, "presence", !cfg.NoPresence)
	writeJSON(w, status, toJSON(s))
}

// deleteRoom erases a room and its history.
func (a *API) deleteRoom(w http.ResponseWriter, r *http.Request) {
	name, ok := roomName(w, r)
	if !ok {
		return
	}
	if err := a.engine.DeleteRoom(r.Context(), name); err != nil {
		a.engineError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// presence lists the users in a room.
func (a *API) presence(w http.ResponseWriter, r *http.Request) {
	name, ok := roomName(w, r)
	if !ok {
		return
	}
	members, err := a.engine.Presence(r.Context(), name)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	writeFrameBody(w, wire.Append(nil, actors.PresenceReply{Room: name, Members: members}))
}

// history reads a page of a room's stream (after=, before=, limit=).
func (a *API) history(w http.ResponseWriter, r *http.Request) {
	name, ok := roomName(w, r)
	if !ok {
		return
	}
	var q actors.HistoryPage
	qs := r.URL.Query()
	var bad bool
	num := func(key string) uint64 {
		v := qs.Get(key)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			bad = true
		}
		return n
	}
	q.After, q.Before, q.Forward = num("after"), num("before"), qs.Has("after")
	q.Limit = int(num("limit"))
	switch {
	case bad:
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "after, before and limit must be non-negative integers")
		return
	case q.Forward && q.Before > 0:
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "give after or before, not both")
		return
	case q.Limit > a.opts.HistoryMax:
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "limit is at most "+strconv.Itoa(a.opts.HistoryMax))
		return
	}
	msgs, more, err := a.engine.History(r.Context(), name, q)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	if msgs == nil {
		msgs = []persistence.Message{}
	}
	writeFrameBody(w, wire.Append(nil, actors.HistoryReply{Room: name, Msgs: msgs, More: more}))
}

// writeFrameBody answers with an encoded reply frame minus its "type" and
// "id": the API's presence and history bodies are the frames' own fields.
func writeFrameBody(w http.ResponseWriter, frame []byte) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(frame, &fields); err != nil {
		writeError(w, http.StatusInternalServerError, actors.CodeUnavailable, "could not encode the answer")
		return
	}
	delete(fields, "type")
	delete(fields, "id")
	writeJSON(w, http.StatusOK, fields)
}
