package actors

import (
	"slices"

	"golang.org/x/crypto/bcrypt"
)

// This file holds a room's membership: joining (access rules, passwords,
// recovery), leaving, presence and typing.

func (r *roomActor) join(m *joinRoom) {
	name := r.shell.name
	fail := func(code, text string) {
		r.env.root.Send(m.Conn, &roomJoinFailed{Room: name}) // before the client can act on the error
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ReqID, Code: code, Message: text})
	}
	if r.missing {
		fail(CodeNoSuchRoom, "room "+name+" does not exist")
		return
	}
	members := &r.shell.members
	existing := members.get(m.Conn)
	if existing == nil {
		if r.passwordPending(m) {
			return // checked off the room's goroutine; the join comes back
		}
		if !r.mayEnter(m) {
			fail(r.denyCode(m), "no right to join "+name)
			return
		}
		_, present := members.users[m.User.ID]
		if !present && len(members.users) >= r.maxMembers() {
			fail(CodeRoomFull, "room "+name+" is full")
			return
		}
	}
	joined := Joined{ID: m.ReqID, Room: name, Epoch: r.stream.epoch, Offset: r.stream.committed}
	joined.Recovered, joined.Messages = r.stream.recovery(m.Since, m.History)
	if existing == nil {
		if members.add(&member{conn: m.Conn, peer: m.Peer, user: m.User, tag: r.env.connTag(m.Conn)}) {
			r.presenceJoined(m.User, m.Conn)
		}
		r.publishStats()
	}
	if !r.presenceOff() { // off: members is [] and states absent
		present := r.presenceList()
		joined.Members = refsOf(present)
		joined.States = statesOf(present)
	}
	r.env.sendTo(m.Peer, joined)
	r.env.root.Send(m.Conn, &roomJoined{Room: name, PID: r.self})
}

func (r *roomActor) maxMembers() int {
	if r.config.MaxMembers > 0 {
		return r.config.MaxMembers
	}
	return r.env.cfg.MaxMembers
}

// mayEnter checks a private or password-protected room's rules.
func (r *roomActor) mayEnter(m *joinRoom) bool {
	if !r.config.Private && r.config.PasswordHash == "" {
		return true
	}
	if slices.Contains(m.TokenRooms, r.shell.name) {
		return true
	}
	if r.config.PasswordHash == "" || m.Password == "" {
		return false
	}
	return m.passwordOK && m.checkedAgainst == r.config.PasswordHash
}

// passwordPending starts checking a join's password against the room's hash
// on another goroutine, so the room keeps serving meanwhile: bcrypt takes
// tens of milliseconds on purpose. The join is sent back to the room with
// the verdict. It reports whether the join waits for that check.
func (r *roomActor) passwordPending(m *joinRoom) bool {
	hash := r.config.PasswordHash
	if hash == "" || m.Password == "" || m.checkedAgainst == hash || slices.Contains(m.TokenRooms, r.shell.name) {
		return false
	}
	name, registry := r.shell.name, r.env.registry
	r.env.workers.Go(func() {
		checked := *m
		checked.checkedAgainst = hash
		checked.passwordOK = bcrypt.CompareHashAndPassword([]byte(hash), []byte(m.Password)) == nil
		registry.sendRoom(name, &checked)
	})
	return true
}

func (r *roomActor) denyCode(m *joinRoom) string {
	if r.config.PasswordHash != "" && m.Password != "" {
		return CodeWrongPassword
	}
	return CodeUnauthorized
}

func (r *roomActor) leave(m *leaveRoom) {
	if mem := r.shell.members.get(m.Conn); mem != nil {
		r.clearState(mem)
		p := r.shell.members.remove(mem)
		if p.conns == 0 && p.leaving == 0 {
			delete(r.shell.members.users, p.user.ID)
			r.presenceGone(p.user)
		}
		r.publishStats()
		r.armIdle()
	}
	// The connection learns first, so a join the client sends once it reads
	// left finds the room already gone from its count.
	r.env.root.Send(m.Conn, &roomLeft{Room: r.shell.name})
	r.env.sendTo(m.Peer, Left{ID: m.ReqID, Room: r.shell.name})
}

func (r *roomActor) gone(m *connGone) {
	mem := r.shell.members.get(m.Conn)
	if mem == nil {
		return
	}
	r.clearState(mem)
	p := r.shell.members.remove(mem)
	if p.conns == 0 {
		r.shell.leaveSeq++
		p.leaving = r.shell.leaveSeq
		r.after(r.env.cfg.SessionGrace, &presenceLeft{user: p.user.ID, token: p.leaving})
	}
	r.publishStats()
}

func (r *roomActor) onPresenceLeft(m *presenceLeft) {
	p, ok := r.shell.members.users[m.user]
	if !ok || p.conns > 0 || p.leaving != m.token {
		return
	}
	delete(r.shell.members.users, m.user)
	r.presenceGone(p.user)
	r.publishStats()
	r.armIdle()
}

func (r *roomActor) typing(m *typingIn) {
	mem := r.shell.members.get(m.Conn)
	if mem == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " before typing in it"})
		return
	}
	r.offerTyping(mem.user, m.On)
	if r.shell.cl != nil {
		r.publishFeed(RoomEvent{Kind: EventTyping, User: mem.user, On: m.On})
	}
}

// offerTyping offers a typing signal of u to the members here that are not
// u (ephemeral: a busy outbox drops it).
func (r *roomActor) offerTyping(u UserRef, on bool) {
	b := r.env.encoder.Encode(TypingPush{Room: r.shell.name, User: u, On: on})
	n := 0
	for _, other := range r.shell.members.list {
		if other.user.ID != u.ID && other.peer.Offer(b) {
			n++
		}
	}
	r.env.metrics.FramesOut.WithLabelValues("typing").Add(float64(n))
}

func (r *roomActor) presence(m *presenceOf) {
	if m.Conn != nil && r.shell.members.get(m.Conn) == nil {
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodeNotJoined, Message: "join " + r.shell.name + " to see its presence"})
		return
	}
	if m.Conn != nil && r.presenceOff() { // the server API (no Conn) may still list the members
		r.env.sendTo(m.Peer, ErrorFrame{ID: m.ID, Code: CodePresenceDisabled, Message: "presence is off in " + r.shell.name})
		return
	}
	r.env.sendTo(m.Peer, PresenceReply{ID: m.ID, Room: r.shell.name, Members: r.presenceList()})
}

// refsOf lists the users of a presence list.
func refsOf(list []PresenceMember) []UserRef {
	out := make([]UserRef, len(list))
	for i, p := range list {
		out[i] = UserRef{ID: p.ID, Name: p.Name}
	}
	return out
}

// presenceList lists the room's users, each once, with its connections on
// every node.
func (r *roomActor) presenceList() []PresenceMember {
	out := r.localPresence()
	if cl := r.shell.cl; cl != nil {
		at := make(map[string]int, len(out))
		for i, p := range out {
			at[p.ID] = i
		}
		for _, rp := range cl.remote {
			for id, u := range rp.users {
				if i, ok := at[id]; ok {
					out[i].Conns += u.Conns
					out[i].States = append(out[i].States, u.States...)
					slices.SortFunc(out[i].States, byConn)
					continue
				}
				at[id] = len(out)
				u.States = slices.Clone(u.States) // the snapshot's own stays as it is
				out = append(out, u)
			}
		}
	}
	slices.SortFunc(out, func(a, b PresenceMember) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}
