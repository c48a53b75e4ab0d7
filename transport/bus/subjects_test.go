package bus

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func hostileNames() []string {
	return []string{
		"a", "A", "lobby", "team.alpha", "team_2Ealpha", "team_alpha", "_", "_5F", "__",
		" ", "a b", "a\tb", "a\nb", "a\r\nb", ".", "..", "a.", ".a", "a..b",
		"*", ">", "a.*", "a.>", "*.>", "$SYS", "$SYS.REQ", "_INBOX.x", "$JS.API",
		"é", "e\u0301", "日本語", "🙂", "\x00", "\xff", "\xc3", "\x7f", "-", "--a-",
		"user|auth0", "a:b", "a/b", "a\\b", "%2E", "_2e", "x\x00y",
		strings.Repeat("x", MaxNameBytes), strings.Repeat(".", MaxNameBytes), strings.Repeat("é", MaxNameBytes/2),
	}
}

// validSubject checks s against NATS's subject rules, strictly: dot
// separated non-empty tokens of printable ASCII, with no wildcard, and no
// leading '$'.
func validSubject(s string) bool {
	if s == "" || s[0] == '$' {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if tok[i] <= ' ' || tok[i] >= 0x7f || tok[i] == '*' || tok[i] == '>' {
				return false
			}
		}
	}
	return true
}

func TestSubjectsValidAndInjective(t *testing.T) {
	seen := map[string]string{}
	for _, name := range hostileNames() {
		for _, mk := range []func(string) (string, error){
			func(n string) (string, error) { return RoomSubject(RoomCommand, n) },
			func(n string) (string, error) { return RoomSubject(RoomBroadcast, n) },
			func(n string) (string, error) { return UserSubject(UserDirect, n) },
			func(n string) (string, error) { return UserSubject(UserNotify, n) },
			func(n string) (string, error) { return UserSubject(UserDisconnect, n) },
			func(n string) (string, error) { return RoomSubject(RoomFeed, n) },
			func(n string) (string, error) { return NodeSubject(NodeCommand, n) },
		} {
			s, err := mk(name)
			if err != nil {
				t.Fatalf("%q: %v", name, err)
			}
			if !validSubject(s) {
				t.Fatalf("%q gives invalid subject %q", name, s)
			}
			if toks := strings.Split(s, "."); len(toks) != 4 {
				t.Fatalf("%q gives %d tokens: %q", name, len(toks), s)
			}
			if other, dup := seen[s]; dup {
				t.Fatalf("%q and %q share %q", name, other, s)
			}
			seen[s] = name
			tok := s[strings.LastIndexByte(s, '.')+1:]
			back, err := DecodeToken(tok)
			if err != nil || back != name {
				t.Fatalf("%q: decode %q = %q, %v", name, tok, back, err)
			}
		}
	}
	if s, _ := RoomSubject(RoomCommand, "lobby-1"); s != "troupe.room.cmd.lobby-1" {
		t.Fatalf("plain name escaped: %s", s)
	}
	if s, _ := NodeSubject(NodeCommand, "node-1"); s != "troupe.node.cmd.node-1" {
		t.Fatalf("plain node escaped: %s", s)
	}
	s, err := ClusterSubject(ClusterUsers)
	if err != nil || s != "troupe.cluster.users" || !validSubject(s) {
		t.Fatalf("cluster subject %q, %v", s, err)
	}
	if _, dup := seen[s]; dup {
		t.Fatalf("cluster subject %q shared", s)
	}
}

func TestSubjectErrors(t *testing.T) {
	for _, name := range []string{"", strings.Repeat("x", MaxNameBytes+1)} {
		if s, err := RoomSubject(RoomCommand, name); err == nil {
			t.Errorf("name of %d bytes gave %q", len(name), s)
		}
		if s, err := UserSubject(UserDirect, name); err == nil {
			t.Errorf("user id of %d bytes gave %q", len(name), s)
		}
		if s, err := NodeSubject(NodeCommand, name); err == nil {
			t.Errorf("node id of %d bytes gave %q", len(name), s)
		}
	}
	for _, kind := range []string{"", "Cmd", "a.b", "*", ">", "a b", "1x", "é", "x_y"} {
		if s, err := RoomSubject(RoomKind(kind), "r"); err == nil {
			t.Errorf("kind %q gave %q", kind, s)
		}
		if s, err := UserSubject(UserKind(kind), "u"); err == nil {
			t.Errorf("kind %q gave %q", kind, s)
		}
		if s, err := NodeSubject(NodeKind(kind), "n"); err == nil {
			t.Errorf("kind %q gave %q", kind, s)
		}
		if s, err := ClusterSubject(ClusterKind(kind)); err == nil {
			t.Errorf("kind %q gave %q", kind, s)
		}
	}
	if _, err := RoomSubject("presence-v2", "r"); err != nil {
		t.Errorf("new kind rejected: %v", err)
	}
}

func TestDecodeTokenRejectsNonCanonical(t *testing.T) {
	for _, tok := range []string{"", "_", "_2", "_2e", "_41", "_2D", "a.b", "a b", "_G0", "x_", "é", "*"} {
		if got, err := DecodeToken(tok); err == nil {
			t.Errorf("%q decoded to %q", tok, got)
		}
	}
}

// FuzzEncodeToken: every name of allowed length encodes to a valid token
// that decodes back to it; and a token that decodes re-encodes to itself
// (so no two tokens name the same thing).
func FuzzEncodeToken(f *testing.F) {
	for _, n := range hostileNames() {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tok, err := EncodeToken(name)
		if name == "" || len(name) > MaxNameBytes {
			if err == nil {
				t.Fatalf("%d bytes accepted", len(name))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !validSubject(tok) || strings.Contains(tok, ".") || !utf8.ValidString(tok) {
			t.Fatalf("%q -> invalid token %q", name, tok)
		}
		back, err := DecodeToken(tok)
		if err != nil || back != name {
			t.Fatalf("%q -> %q -> %q, %v", name, tok, back, err)
		}
		// The other direction, with name read as a token.
		if dec, err := DecodeToken(name); err == nil {
			if re, _ := EncodeToken(dec); re != name {
				t.Fatalf("token %q decodes to %q which encodes to %q", name, dec, re)
			}
		}
	})
}
