package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"
	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/transport/auth"
)

func publicPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// signed mints a token with method and key.
func signed(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	if claims["exp"] == nil {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// helloWith says hello with token on a fresh connection and returns the reply.
func helloWith(t *testing.T, addr, token string) map[string]any {
	t.Helper()
	c := mustDial(t, addr)
	return c.request(map[string]any{"type": "hello", "token": token})
}

// TestPublicKeyTokens verifies RS256 and ES256 tokens from a key file, the
// audience and issuer checks, and key rotation through Reload (SIGHUP).
func TestPublicKeyTokens(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(keys, publicPEM(t, &rsaKey.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, "--jwt-public-keys", keys, "--jwt-audience", "troupe", "--jwt-issuer", "https://auth.example.com")
	addr := a.Addr.String()
	good := jwt.MapClaims{"sub": "alice", "aud": "troupe", "iss": "https://auth.example.com"}

	if f := helloWith(t, addr, signed(t, jwt.SigningMethodRS256, rsaKey, good)); f["type"] != "welcome" || f["user"].(map[string]any)["id"] != "alice" {
		t.Fatalf("RS256 hello: %v", f)
	}
	for name, claims := range map[string]jwt.MapClaims{
		"no aud":    {"sub": "alice", "iss": "https://auth.example.com"},
		"wrong aud": {"sub": "alice", "aud": "other", "iss": "https://auth.example.com"},
		"wrong iss": {"sub": "alice", "aud": "troupe", "iss": "https://evil.example.com"},
		"expired":   {"sub": "alice", "aud": "troupe", "iss": "https://auth.example.com", "exp": time.Now().Add(-time.Hour).Unix()},
	} {
		if f := helloWith(t, addr, signed(t, jwt.SigningMethodRS256, rsaKey, claims)); f["code"] != "unauthorized" {
			t.Errorf("%s: %v", name, f)
		}
	}
	if f := helloWith(t, addr, signed(t, jwt.SigningMethodHS256, []byte("guess"), good)); f["code"] != "unauthorized" {
		t.Errorf("HS256 on a server without a secret: %v", f)
	}

	// Rotate to an EC key: after Reload, ES256 tokens pass and the old key fails.
	if err := os.WriteFile(keys, publicPEM(t, &ecKey.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if f := helloWith(t, addr, signed(t, jwt.SigningMethodES256, ecKey, good)); f["type"] != "welcome" {
		t.Fatalf("ES256 after rotation: %v", f)
	}
	if f := helloWith(t, addr, signed(t, jwt.SigningMethodRS256, rsaKey, good)); f["code"] != "unauthorized" {
		t.Fatalf("the rotated-out key still works: %v", f)
	}
	if err := os.WriteFile(keys, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil {
		t.Fatal("reloading a broken key file succeeded")
	}
	if f := helloWith(t, addr, signed(t, jwt.SigningMethodES256, ecKey, good)); f["type"] != "welcome" {
		t.Fatalf("a failed reload dropped the keys: %v", f)
	}
}

// TestSIGHUPReloadsTokenKeys rotates the key file of a server process and
// sends it SIGHUP.
func TestSIGHUPReloadsTokenKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals a server process")
	}
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(keys, publicPEM(t, &oldKey.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startProcess(t, buildTroupe(t), "--store", "memory:", "--jwt-public-keys", keys)
	claims := func() jwt.MapClaims { return jwt.MapClaims{"sub": "bob"} }
	if f := helloWith(t, srv.addr, signed(t, jwt.SigningMethodES256, oldKey, claims())); f["type"] != "welcome" {
		t.Fatalf("before the rotation: %v", f)
	}
	if err := os.WriteFile(keys, publicPEM(t, &newKey.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	srv.waitLog(t, "token keys reloaded")
	if f := helloWith(t, srv.addr, signed(t, jwt.SigningMethodES256, newKey, claims())); f["type"] != "welcome" {
		t.Fatalf("after SIGHUP: %v", f)
	}
	if f := helloWith(t, srv.addr, signed(t, jwt.SigningMethodES256, oldKey, claims())); f["code"] != "unauthorized" {
		t.Fatalf("the old key still works after SIGHUP: %v", f)
	}
}

// TestOriginAllowList refuses browser upgrades from origins not listed, with
// 403 before the upgrade.
func TestOriginAllowList(t *testing.T) {
	a := startServer(t, "--allowed-origins", "https://chat.example.com,https://*.example.org")
	addr := a.Addr.String()
	for origin, want := range map[string]int{
		"":                         http.StatusSwitchingProtocols,
		"https://chat.example.com": http.StatusSwitchingProtocols,
		"https://eu.example.org":   http.StatusSwitchingProtocols,
		"https://evil.example.com": http.StatusForbidden,
		"http://chat.example.com":  http.StatusForbidden,
	} {
		hdr := http.Header{}
		if origin != "" {
			hdr.Set("Origin", origin)
		}
		c := &rawClient{t: t, frames: make(chan map[string]any, 16), raw: make(chan []byte, 16), closed: make(chan struct{})}
		conn, resp, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws://" + addr + "/ws", RequestHeader: hdr})
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		if conn != nil {
			got = http.StatusSwitchingProtocols
			conn.NetConn().Close()
		}
		if got != want {
			t.Errorf("origin %q: status %d (err %v), want %d", origin, got, err, want)
		}
	}
	_, samples := scrape(t, addr)
	if n := sample(t, samples, `troupe_upgrades_rejected_total{reason="origin"}`); n != 2 {
		t.Errorf("origin rejections counted %v, want 2", n)
	}
}

// TestMaxConnsPerUser refuses a user's connection past --max-conns-per-user
// (limit_exceeded, then 1013) without touching other users; a takeover of
// the user's own session is not a new connection; a closed connection frees
// its slot.
func TestMaxConnsPerUser(t *testing.T) {
	a := startServer(t, "--max-conns-per-user", "2", "--jwt-secret", testSecret)
	addr := a.Addr.String()
	token := func(sub string) string {
		tok, err := auth.SignHS256([]byte(testSecret), actors.Claims{Subject: sub})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := mustDial(t, addr)
	w := first.request(map[string]any{"type": "hello", "token": token("carol")})
	if w["type"] != "welcome" {
		t.Fatalf("first: %v", w)
	}
	if f := helloWith(t, addr, token("carol")); f["type"] != "welcome" {
		t.Fatalf("second: %v", f)
	}
	third := mustDial(t, addr)
	if f := third.request(map[string]any{"type": "hello", "token": token("carol")}); f["code"] != "limit_exceeded" {
		t.Fatalf("third: %v", f)
	}
	if code := third.waitClose(); code != 1013 {
		t.Fatalf("third closed with %d, want 1013", code)
	}
	if f := helloWith(t, addr, token("dave")); f["type"] != "welcome" {
		t.Fatalf("another user: %v", f)
	}
	// Taking over the first connection's session keeps the count at two.
	taker := mustDial(t, addr)
	if f := taker.request(map[string]any{"type": "hello", "token": token("carol"), "session": w["session"]}); f["type"] != "welcome" || f["resumed"] != true {
		t.Fatalf("takeover at the limit: %v", f)
	}
	if code := first.waitClose(); code != 4004 {
		t.Fatalf("taken-over connection closed with %d, want 4004", code)
	}
	// Closing one frees a slot once the server has seen the close.
	taker.conn.WriteClose(1000, nil)
	taker.waitClose()
	deadline := time.Now().Add(frameWait)
	for {
		c := mustDial(t, addr)
		f := c.request(map[string]any{"type": "hello", "token": token("carol")})
		if f["type"] == "welcome" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot never came back: %v", f)
		}
		c.waitClose()
	}
	_, samples := scrape(t, addr)
	if n := sample(t, samples, `troupe_limit_rejections_total{limit="conns_per_user"}`); n < 1 {
		t.Fatalf("per-user rejections counted %v", n)
	}
}
