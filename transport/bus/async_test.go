package bus

import (
	"context"
	"sort"
	"strconv"
	"testing"
	"time"
)

// TestServeAsyncAcrossNodes answers a request from another goroutine after
// the handler returned, and refuses a second answer.
func TestServeAsyncAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	srv := connect(t, "srv", nodes[1].ClientURL())
	cli := connect(t, "cli", nodes[0].ClientURL())

	second := make(chan error, 1)
	unserve, err := srv.ServeAsync("troupe.async", func(req []byte, respond func([]byte) error) {
		go func() {
			if err := respond(append([]byte("re:"), req...)); err != nil {
				t.Errorf("respond: %v", err)
			}
			second <- respond([]byte("again"))
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, srv)
	waitFor(t, "interest across the route", func() bool { return nodes[0].HasInterest("troupe.async") })

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	got, err := cli.Request(ctx, "troupe.async", []byte("hi"))
	if err != nil || string(got) != "re:hi" {
		t.Fatalf("request: %q, %v", got, err)
	}
	if err := <-second; err == nil {
		t.Fatal("a second respond succeeded")
	}

	// Without a reply subject, respond does nothing.
	done := make(chan error, 1)
	if err := unserve(); err != nil {
		t.Fatal(err)
	}
	unserve, err = srv.ServeAsync("troupe.async2", func(_ []byte, respond func([]byte) error) {
		done <- respond([]byte("x"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unserve() }()
	flush(t, srv)
	waitFor(t, "interest across the route", func() bool { return nodes[0].HasInterest("troupe.async2") })
	if err := cli.Publish("troupe.async2", []byte("fire and forget")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("respond without a reply subject: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("handler not called")
	}
}

type inboxMsg struct {
	token  string
	data   string
	noResp bool
}

// TestInboxGathersAnswers publishes one request that two servers on two
// nodes answer, and gets the no-responders notice for a subject nobody
// serves.
func TestInboxGathersAnswers(t *testing.T) {
	nodes := startCluster(t, 3)
	cli := connect(t, "cli", nodes[0].ClientURL())
	for i, name := range []string{"a", "b"} {
		srv := connect(t, name, nodes[i+1].ClientURL())
		unserve, err := srv.ServeAsync("troupe.all", func(req []byte, respond func([]byte) error) {
			if err := respond([]byte(name + ":" + string(req))); err != nil {
				t.Errorf("respond: %v", err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unserve() })
		flush(t, srv)
	}

	ch := make(chan inboxMsg, 16)
	prefix, unsub, err := cli.SubscribeInbox(func(token string, data []byte, noResp bool) {
		ch <- inboxMsg{token, string(data), noResp}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unsub() }()

	// Interest of both servers reaches node 0 asynchronously: ask again,
	// under a fresh token each time, until one request gets both answers.
	var got []string
	deadline := time.Now().Add(waitTimeout)
	for try := 0; len(got) < 2; try++ {
		if time.Now().After(deadline) {
			t.Fatalf("answers %v", got)
		}
		got = got[:0]
		token := "p" + strconv.Itoa(try)
		if err := cli.PublishRequest("troupe.all", prefix+"."+token, []byte("q")); err != nil {
			t.Fatal(err)
		}
		window := time.After(100 * time.Millisecond)
	collect:
		for len(got) < 2 {
			select {
			case m := <-ch:
				if m.noResp {
					break collect // no interest at all yet
				}
				if m.token == token {
					got = append(got, m.data)
				}
			case <-window:
				break collect
			}
		}
	}
	sort.Strings(got)
	if got[0] != "a:q" || got[1] != "b:q" {
		t.Fatalf("answers %v", got)
	}

	if err := cli.PublishRequest("troupe.nobody", prefix+".t2", []byte("q")); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m := <-ch:
			if m.token != "t2" {
				continue // a late answer to a probe
			}
			if m.token != "t2" || !m.noResp || m.data != "" {
				t.Fatalf("no-responders notice %+v", m)
			}
			return
		case <-time.After(waitTimeout):
			t.Fatal("no no-responders notice")
		}
	}
}
