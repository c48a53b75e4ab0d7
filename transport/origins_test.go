package transport

import "testing"

func TestOriginPolicy(t *testing.T) {
	p, err := parseOrigins("https://chat.example.com, https://*.example.org, http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"":                                  true, // not a browser
		"https://chat.example.com":          true,
		"HTTPS://Chat.Example.com":          true,
		"http://chat.example.com":           false, // scheme matters
		"https://chat.example.com:8443":     false,
		"https://evil.com":                  false,
		"https://chat.example.com.evil.com": false,
		"https://a.example.org":             true,
		"https://a.b.example.org":           true,
		"https://example.org":               false, // the wildcard needs a subdomain
		"https://badexample.org":            false,
		"http://localhost:8080":             true,
		"http://localhost:9090":             false,
		"null":                              false,
	} {
		if got := p.allows(origin); got != want {
			t.Errorf("allows(%q) = %v, want %v", origin, got, want)
		}
	}
	open, err := parseOrigins("")
	if err != nil || !open.allows("https://anything.example") {
		t.Fatalf("an empty list must allow every origin: %v", err)
	}
	for _, bad := range []string{"chat.example.com", "ftp://x.com", "https://x.com/path", "https://*", "https://a.*.com", "https://x.com?q=1"} {
		if _, err := parseOrigins(bad); err == nil {
			t.Errorf("parseOrigins(%q) accepted it", bad)
		}
	}
}
