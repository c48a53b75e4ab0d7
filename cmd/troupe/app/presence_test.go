package app_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
)

// presenceView is one client's idea of who is in a room: its joined reply's
// members, then every presence_diff.
type presenceView struct {
	self  string
	users map[string]bool
}

func (v *presenceView) apply(t *testing.T, f map[string]any) {
	t.Helper()
	for _, u := range f["joins"].([]any) {
		id := u.(map[string]any)["id"].(string)
		if id == v.self {
			t.Errorf("%s was told about its own join: %v", v.self, f)
		}
		v.users[id] = true
	}
	for _, u := range f["leaves"].([]any) {
		delete(v.users, u.(map[string]any)["id"].(string))
	}
}

func (v *presenceView) String() string {
	var ids []string
	for id := range v.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// TestPresenceUnderAJoinStorm joins 40 clients to one room at once, then
// makes 15 of them leave: presence changes are pushed in batches, and every
// member's view (its joined reply plus the diffs) ends exactly at the room's
// membership, without anyone hearing of their own join.
func TestPresenceUnderAJoinStorm(t *testing.T) {
	a := startServer(t, "--rate-limit", "0")
	addr := a.Addr.String()
	const n, leavers = 40, 15
	clients := make([]*rawClient, n)
	views := make([]*presenceView, n)
	for i := range clients {
		c := mustDial(t, addr)
		w := c.hello(fmt.Sprintf("storm-%d", i))
		clients[i] = c
		views[i] = &presenceView{self: w["user"].(map[string]any)["id"].(string), users: map[string]bool{}}
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { c.sendRaw(fmt.Sprintf(`{"type":"join","id":%d,"room":"storm"}`, 100+i)) })
	}
	wg.Wait()
	all := &presenceView{users: map[string]bool{}}
	for _, v := range views {
		all.users[v.self] = true
	}
	// Each view converges on everyone.
	for i, c := range clients {
		for views[i].String() != all.String() {
			f := c.next()
			switch f["type"] {
			case "joined":
				for _, m := range f["members"].([]any) {
					views[i].users[m.(map[string]any)["id"].(string)] = true
				}
			case "presence_diff":
				views[i].apply(t, f)
			}
		}
	}
	// Some leave; the others converge on who stayed.
	for i := range leavers {
		clients[i].sendRaw(fmt.Sprintf(`{"type":"leave","id":%d,"room":"storm"}`, 500+i))
		delete(all.users, views[i].self)
	}
	for i := leavers; i < n; i++ {
		for views[i].String() != all.String() {
			if f := clients[i].next(); f["type"] == "presence_diff" {
				views[i].apply(t, f)
			}
		}
	}
	// Nothing more is pending for them: their next frame answers a ping.
	for i := leavers; i < n; i++ {
		clients[i].sendRaw(`{"type":"ping","id":999}`)
		if f := clients[i].next(); f["type"] != "pong" {
			t.Fatalf("client %d got %v after its view settled, want only the pong", i, f)
		}
	}
}
