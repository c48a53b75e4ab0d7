package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/transport/wire"
)

type publishRequest struct {
	Room    string          `json:"room"`
	Kind    string          `json:"kind"`
	Text    string          `json:"text"`
	Data    json.RawMessage `json:"data"`
	ReplyTo string          `json:"reply_to"`
	From    *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"from"`
}

// publish stores and broadcasts a message as if a member sent it.
func (a *API) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if !readJSON(w, r, &req) {
		return
	}
	switch {
	case !wire.ValidRoom(req.Room):
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "room must match ^[A-Za-z0-9_.:-]{1,64}$")
		return
	case req.Kind != "" && req.Kind != "system" && !wire.ValidKind(req.Kind):
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "kind must match ^[a-z][a-z0-9_.-]{0,31}$ and not be \"doc\" (a document update)")
		return
	case req.Text == "" && isNull(req.Data):
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "text or data is required")
		return
	case len(req.Text) > a.opts.MaxTextBytes:
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "text is over "+strconv.Itoa(a.opts.MaxTextBytes)+" bytes")
		return
	case req.From != nil && (req.From.ID == "" || !validName(req.From.ID) || !validName(req.From.Name)):
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "from needs an id and a name of 1-64 characters")
		return
	}
	m := actors.ServerMessage{Kind: req.Kind, Text: req.Text, ReplyTo: req.ReplyTo}
	if !isNull(req.Data) {
		m.Data = req.Data
	}
	if req.From != nil {
		m.From = actors.UserRef{ID: req.From.ID, Name: req.From.Name}
	}
	res, err := a.engine.Publish(r.Context(), req.Room, m)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": res.Room, "msg_id": res.MsgID, "offset": res.Offset, "ts": res.TS})
}

type notifyRequest struct {
	User  string          `json:"user"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// notify pushes a notify frame to every connection of a user.
func (a *API) notify(w http.ResponseWriter, r *http.Request) {
	var req notifyRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.User == "" || req.Event == "" || len(req.Event) > 64 || !utf8.ValidString(req.Event) {
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "user and an event of 1-64 bytes are required")
		return
	}
	f := actors.Notify{Event: req.Event}
	if !isNull(req.Data) {
		f.Data = req.Data
	}
	n, err := a.engine.Notify(r.Context(), req.User, f)
	if err != nil {
		a.engineError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"delivered": n})
}

type disconnectRequest struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// disconnect closes every connection of a user with 4002.
func (a *API) disconnect(w http.ResponseWriter, r *http.Request) {
	var req disconnectRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.User == "" || len(req.Reason) > 120 {
		writeError(w, http.StatusBadRequest, actors.CodeInvalid, "user is required; reason is at most 120 bytes")
		return
	}
	if err := a.engine.Disconnect(req.User, req.Reason); err != nil {
		a.engineError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": req.User, "disconnected": true})
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// validName accepts 1-64 characters without control characters.
func validName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 64 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
