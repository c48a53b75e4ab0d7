package transport

import (
	"net/http"
	"testing"
)

func TestClientIPBehindTrustedProxies(t *testing.T) {
	p, err := parseProxies("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		peer, xff, want string
	}{
		{"203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},                       // untrusted peer: its XFF is ignored
		{"127.0.0.1:5000", "", "127.0.0.1"},                                  // trusted, no header
		{"127.0.0.1:5000", "198.51.100.7", "198.51.100.7"},                   // nginx on the same host
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.7, 10.9.9.9", "198.51.100.7"}, // spoofed leftmost hop ignored
		{"10.1.2.3:5000", "garbage, 198.51.100.7", "198.51.100.7"},
		{"10.1.2.3:5000", "10.2.2.2", "10.2.2.2"}, // every hop trusted: the leftmost
		{"[::ffff:127.0.0.1]:5000", "2001:db8::1", "2001:db8::1"},
	} {
		r := &http.Request{RemoteAddr: c.peer, Header: http.Header{}}
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := p.clientIP(r); got != c.want {
			t.Errorf("peer %s, XFF %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	none, _ := parseProxies("")
	r := &http.Request{RemoteAddr: "127.0.0.1:1", Header: http.Header{"X-Forwarded-For": {"1.2.3.4"}}}
	if got := none.clientIP(r); got != "127.0.0.1" {
		t.Errorf("no trusted proxies: %s", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "nope", "1.2.3"} {
		if _, err := parseProxies(bad); err == nil {
			t.Errorf("parseProxies(%q) accepted it", bad)
		}
	}
}
