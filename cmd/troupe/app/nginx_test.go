package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/troupe-chat/troupe/configs"
)

// The nginx tests run the shipped site, configs/nginx/troupe.conf, in a real
// nginx in front of three real troupe nodes, and talk to it over wss:// and
// https:// as a browser would. The shipped file is changed only where a test
// must (see renderNginxSite); everything else — the upgrade headers, the
// timeouts, the shard hash, the limits, the TLS settings, the /metrics
// allow list — is what production runs.

// nginxSite is the shipped site, relative to this package.
const nginxSite = "../../../configs/nginx/troupe.conf"

// nginxAPIKey is the API key of the test nodes.
const nginxAPIKey = "nginx-test-key"

// nginxAllowedOrigin is the browser origin the nodes accept, when this build
// of troupe has --allowed-origins.
const nginxAllowedOrigin = "https://chat.example.com"

// nginxProxy is a running nginx in front of the test nodes.
type nginxProxy struct {
	https, http string   // 127.0.0.1:port of the TLS and the plain listener
	nodes       []string // troupe node addresses, in upstream order
	roots       *x509.CertPool
	dir         string
}

func TestNginx(t *testing.T) {
	bin := nginxBinary(t)
	var extra []string
	originCheck := configs.NewFlagSet("troupe").Lookup("allowed-origins") != nil
	if originCheck {
		extra = append(extra, "--allowed-origins", nginxAllowedOrigin)
	}
	var nodes []string
	for range 3 { // the shipped upstream lists three nodes
		a := startServer(t, append([]string{"--api-key", nginxAPIKey, "--rate-limit", "0"}, extra...)...)
		nodes = append(nodes, a.Addr.String())
	}
	px := startNginx(t, bin, nodes)

	t.Run("Conversation", func(t *testing.T) { nginxConversation(t, px) })
	t.Run("CloseCodes", func(t *testing.T) { nginxCloseCodes(t, px) })
	t.Run("HTTP", func(t *testing.T) { nginxHTTP(t, px) })
	t.Run("Metrics", func(t *testing.T) { nginxMetrics(t, px) })
	t.Run("APIBodyLimit", func(t *testing.T) { nginxAPIBodyLimit(t, px) })
	t.Run("TLS", func(t *testing.T) { nginxTLS(t, px) })
	t.Run("Shards", func(t *testing.T) { nginxShards(t, px) })
	t.Run("Timeouts", nginxTimeouts)
	t.Run("Origin", func(t *testing.T) {
		if !originCheck {
			t.Skip("this troupe has no --allowed-origins flag; nothing checks Origin behind the proxy")
		}
		nginxOrigin(t, px)
	})
}

// nginxConversation: two clients talk through the proxy; the subprotocol is
// negotiated end to end; a frame far larger than a proxy buffer arrives whole;
// both clients land on one node (no shard key: one active node).
func nginxConversation(t *testing.T, px *nginxProxy) {
	const room = "nginx-talk"
	alice := px.dial(t, "", nil)
	bob := px.dial(t, "", nil)
	for _, c := range []*rawClient{alice, bob} {
		if p := c.conn.SubProtocol(); p != "troupe.v1" {
			t.Fatalf("subprotocol through nginx: %q, want troupe.v1", p)
		}
	}
	alice.hello("alice")
	bob.hello("bob")
	for _, c := range []*rawClient{alice, bob} {
		if f := c.request(map[string]any{"type": "join", "room": room}); f["type"] != "joined" {
			t.Fatalf("join: %v", f)
		}
	}
	ack := alice.request(map[string]any{"type": "send", "room": room, "text": "hello through nginx", "cid": "c-1"})
	if ack["type"] != "ack" || ack["offset"] != float64(1) || ack["dup"] != false {
		t.Fatalf("ack: %v", ack)
	}
	m := bob.nextOfType("message")["msg"].(map[string]any)
	if m["id"] != ack["msg_id"] || m["text"] != "hello through nginx" || m["offset"] != float64(1) {
		t.Fatalf("bob got %v, ack was %v", m, ack)
	}

	// ~48 KiB of data: several proxy buffers (4k/8k), under troupe's 64 KiB frame limit.
	blob := strings.Repeat("0123456789abcdef", 3<<10)
	ack = bob.request(map[string]any{"type": "send", "room": room, "kind": "blob", "data": map[string]any{"b": blob}, "cid": "c-2"})
	if ack["type"] != "ack" || ack["offset"] != float64(2) {
		t.Fatalf("big ack: %v", ack)
	}
	m = alice.nextOfType("message")["msg"].(map[string]any)
	if d, _ := m["data"].(map[string]any); d == nil || d["b"] != blob {
		t.Fatalf("the 48 KiB message arrived changed (%d bytes of data)", len(fmt.Sprint(m["data"])))
	}

	if got := px.nodesHolding(t, room); len(got) != 1 || got[0].members != 2 {
		t.Fatalf("room %s on nodes %+v; want both members on one node", room, got)
	}
}

// nginxCloseCodes: close codes the server chooses reach the client unchanged
// through the proxy, the API call included.
func nginxCloseCodes(t *testing.T, px *nginxProxy) {
	// A frame other than hello before welcome: 1008.
	early := px.dial(t, "", nil)
	early.sendJSON(map[string]any{"type": "join", "room": "nginx-early"})
	if code := early.waitClose(); code != 1008 {
		t.Fatalf("join before hello through nginx: close %d, want 1008", code)
	}

	// POST /api/disconnect through the proxy: 4002. The API call and the
	// socket both carry no shard key, so they reach the same node; a
	// balancer that spread them would answer 404 no_such_user here.
	dana := px.dial(t, "", nil)
	id := dana.hello("dana")["user"].(map[string]any)["id"].(string)
	st, body := px.api(t, http.MethodPost, "/api/disconnect", fmt.Sprintf(`{"user":%q,"reason":"nginx test"}`, id))
	if st != http.StatusOK {
		t.Fatalf("disconnect through nginx: %d %s", st, body)
	}
	if code := dana.waitClose(); code != 4002 {
		t.Fatalf("API disconnect through nginx: close %d, want 4002", code)
	}
}

// nginxHTTP: probes answer over HTTPS (HTTP/1.1 and HTTP/2) with HSTS; plain
// HTTP is redirected to HTTPS, WebSocket path included.
func nginxHTTP(t *testing.T, px *nginxProxy) {
	for _, h2 := range []bool{false, true} {
		c := px.httpsClient(t, h2, nil)
		resp, err := c.Get("https://" + px.https + "/healthz")
		if err != nil {
			t.Fatalf("healthz (h2 %v): %v", h2, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "ok\n" {
			t.Fatalf("healthz (h2 %v): %d %q", h2, resp.StatusCode, b)
		}
		if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
			t.Fatalf("healthz spoke HTTP/%d, want HTTP/%d", resp.ProtoMajor, want)
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
			t.Fatalf("no HSTS header: %q", hsts)
		}
		if sv := resp.Header.Get("Server"); sv != "nginx" {
			t.Fatalf("Server header %q: want bare nginx (server_tokens off)", sv)
		}
	}

	plain := &http.Client{
		Timeout:       frameWait,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, path := range []string{"/healthz?probe=1", "/ws", "/api/rooms"} {
		resp, err := plain.Get("http://" + px.http + path)
		if err != nil {
			t.Fatalf("plain GET %s: %v", path, err)
		}
		resp.Body.Close()
		// $host drops the port: the shipped config redirects to the standard 443.
		if want := "https://127.0.0.1" + path; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
			t.Fatalf("plain GET %s: %d Location %q, want 301 to %s", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}

	// A plain GET of /ws over HTTPS reaches troupe with Connection: close and
	// gets troupe's 426, not an nginx error.
	resp, err := px.httpsClient(t, false, nil).Get("https://" + px.https + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("GET /ws without upgrade: %d, want troupe's 426", resp.StatusCode)
	}
}

// nginxMetrics: /metrics answers the internal network (127.0.0.1 is in the
// allow list) and refuses others (127.0.0.2 is not), while other paths answer
// both.
func nginxMetrics(t *testing.T, px *nginxProxy) {
	resp, err := px.httpsClient(t, false, nil).Get("https://" + px.https + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("troupe_")) {
		t.Fatalf("/metrics from 127.0.0.1: %d, %d bytes", resp.StatusCode, len(b))
	}

	outside := px.httpsClient(t, false, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
	probe, err := outside.Get("https://" + px.https + "/healthz")
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			t.Skipf("cannot connect from 127.0.0.2 (%v); the deny rule is not checked", err)
		}
		t.Fatal(err)
	}
	probe.Body.Close()
	if probe.StatusCode != http.StatusOK {
		t.Fatalf("/healthz from 127.0.0.2: %d", probe.StatusCode)
	}
	resp, err = outside.Get("https://" + px.https + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/metrics from 127.0.0.2 (not internal): %d, want 403", resp.StatusCode)
	}
}

// nginxAPIBodyLimit: /api/ takes bodies above the site-wide 16k and up to
// 1m; nginx itself refuses larger ones before they reach a node.
func nginxAPIBodyLimit(t *testing.T, px *nginxProxy) {
	mid := `{"room":"nginx-body","text":"` + strings.Repeat("x", 100<<10) + `"}`
	st, body := px.api(t, http.MethodPost, "/api/publish", mid)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if st != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error.Code != "invalid" {
		t.Fatalf("100 KiB publish: %d %.200s; want troupe's 400 invalid (text too long), so nginx let it through", st, body)
	}

	huge := `{"room":"nginx-body","text":"` + strings.Repeat("x", 1<<20) + `"}`
	st, body = px.api(t, http.MethodPost, "/api/publish", huge)
	if st != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte("<html>")) {
		t.Fatalf("1 MiB publish: %d %.200s; want nginx's own 413 page", st, body)
	}
}

// nginxTLS: TLS 1.3 and 1.2 are offered, 1.1 is not; 1.2 only with the AEAD suites of the
// shipped list (nginx's default list would accept CBC).
func nginxTLS(t *testing.T, px *nginxProxy) {
	handshake := func(cfg *tls.Config) (tls.ConnectionState, error) {
		cfg.RootCAs, cfg.ServerName = px.roots, "127.0.0.1"
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: frameWait}, Config: cfg}
		c, err := d.DialContext(context.Background(), "tcp", px.https)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState(), nil
	}
	st, err := handshake(&tls.Config{})
	if err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("default handshake: %v, version %x; want TLS 1.3", err, st.Version)
	}
	st, err = handshake(&tls.Config{MaxVersion: tls.VersionTLS12})
	if err != nil || st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 && st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 && st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Fatalf("TLS 1.2 handshake: %v, version %x, suite %s", err, st.Version, tls.CipherSuiteName(st.CipherSuite))
	}
	// TLS 1.1 is refused for its version (alert protocol_version). OpenSSL 3
	// would fail it anyway for want of SHA-1 at its default security level,
	// but with handshake_failure: the alert shows ssl_protocols at work.
	if _, err := handshake(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil || !strings.Contains(err.Error(), "protocol version not supported") {
		t.Fatalf("TLS 1.1 handshake: %v; want the protocol_version alert", err)
	}
	if _, err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}); err == nil {
		t.Fatal("TLS 1.2 with only ECDHE-ECDSA-AES128-SHA (CBC) succeeded; the shipped ssl_ciphers should refuse it")
	}
}

// nginxTimeouts checks the tunnel timeouts of the shipped /ws location against
// troupe's defaults: nginx must outwait the idle timeout, so that troupe (with
// 4000) and not nginx (with a bare TCP close, 1006 for the client) ends a
// silent connection. Waiting out 60s in a test would be slow; the values are
// read from the file instead.
func nginxTimeouts(t *testing.T) {
	site, err := os.ReadFile(nginxSite)
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)location = /ws \{(.*?)\n    \}`).FindSubmatch(site)
	if block == nil {
		t.Fatal("no location = /ws block in the shipped site")
	}
	def := configs.Default()
	for _, name := range []string{"proxy_read_timeout", "proxy_send_timeout"} {
		m := regexp.MustCompile(`(?m)^\s*` + name + `\s+(\S+);`).FindSubmatch(block[1])
		if m == nil {
			t.Fatalf("/ws sets no %s (nginx's default is 60s, no more than --idle-timeout)", name)
		}
		d, err := time.ParseDuration(string(m[1]))
		if err != nil {
			t.Fatalf("%s %s: %v", name, m[1], err)
		}
		if d <= def.IdleTimeout+def.HeartbeatInterval/5 || d <= def.HeartbeatInterval {
			t.Fatalf("%s %s: must exceed --idle-timeout %s (with a margin) and --heartbeat-interval %s", name, d, def.IdleTimeout, def.HeartbeatInterval)
		}
	}
}

// nginxShards: connections and API calls with the same ?shard= key land on
// one node, different keys spread over the nodes, and a room sharded by its
// name lives on exactly one node.
func nginxShards(t *testing.T, px *nginxProxy) {
	seen := map[string]string{} // node → the first shard key found on it
	for i := 0; i < 32 && len(seen) < 2; i++ {
		key := fmt.Sprintf("nginx-shard-%d", i)
		q := "shard=" + key
		a := px.dial(t, q, nil)
		a.hello("a-" + key)
		a.request(map[string]any{"type": "join", "room": key})
		holders := px.nodesHolding(t, key)
		if len(holders) != 1 {
			t.Fatalf("shard %s: room on %d nodes, want 1", key, len(holders))
		}
		node := holders[0].node

		// Another connection with the same key meets the first one...
		b := px.dial(t, q, nil)
		b.hello("b-" + key)
		b.request(map[string]any{"type": "join", "room": key})
		// ...and so does an API publish carrying the key.
		st, body := px.api(t, http.MethodPost, "/api/publish?"+q, fmt.Sprintf(`{"room":%q,"text":"from the API"}`, key))
		if st != http.StatusOK {
			t.Fatalf("publish ?%s: %d %s", q, st, body)
		}
		for _, c := range []*rawClient{a, b} {
			if m := c.nextOfType("message")["msg"].(map[string]any); m["text"] != "from the API" {
				t.Fatalf("shard %s: got %v", key, m)
			}
		}
		if h := px.nodesHolding(t, key); len(h) != 1 || h[0].node != node || h[0].members != 2 {
			t.Fatalf("shard %s: after the second client and the publish, room on %+v; want 2 members on %s", key, h, node)
		}
		if _, ok := seen[node]; !ok {
			seen[node] = key
		}
	}
	if len(seen) < 2 {
		t.Fatalf("32 shard keys all hashed to one node (%v): the hash key is not the shard", seen)
	}
}

// nginxOrigin: nginx forwards the browser's Origin unchanged, so troupe's
// --allowed-origins still decides.
func nginxOrigin(t *testing.T, px *nginxProxy) {
	ok := px.dial(t, "", http.Header{"Origin": {nginxAllowedOrigin}})
	ok.hello("origin-ok")
	_, err := px.tryDial(t, "", http.Header{"Origin": {"https://evil.example"}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("upgrade with a foreign Origin through nginx: %v, want HTTP 403 from troupe", err)
	}
}

// ---- the proxy -------------------------------------------------------------

// nginxBinary finds nginx or skips: CI installs the Debian package.
func nginxBinary(t *testing.T) string {
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	t.Skip("nginx is not installed (Debian: apt-get install nginx); skipping the tests of configs/nginx/troupe.conf")
	return ""
}

// startNginx renders the shipped site for nodes and runs nginx with it until
// the test ends. Free ports are found by binding :0 and releasing them, so
// another process may take one first; that start is retried with new ports.
func startNginx(t *testing.T, bin string, nodes []string) *nginxProxy {
	t.Helper()
	site, err := os.ReadFile(nginxSite)
	if err != nil {
		t.Fatalf("read the shipped site: %v", err)
	}
	dir := t.TempDir()
	cert, key, roots := nginxTestCert(t, dir)
	for attempt := 1; ; attempt++ {
		px := &nginxProxy{https: nginxFreePort(t), http: nginxFreePort(t), nodes: nodes, roots: roots, dir: dir}
		rendered := renderNginxSite(t, string(site), px, cert, key)
		err := px.run(t, bin, rendered)
		if err == nil {
			return px
		}
		if attempt < 3 && strings.Contains(err.Error(), "Address already in use") {
			t.Logf("nginx: %v; retrying with other ports", err)
			continue
		}
		t.Fatalf("nginx: %v", err)
	}
}

// renderNginxSite makes the shipped site runnable here. Each substitution
// names the exact text it replaces and fails the test when that text is
// missing, so an edit of the shipped file cannot silently bypass the test:
//
//   - the upstream addresses 10.0.1.11-13:8080 → the test nodes;
//   - listen 80 / 443 → 127.0.0.1:<free port> (unprivileged, loopback only);
//     the [::] listens are dropped (CI containers may have no IPv6);
//   - the Let's Encrypt certificate and key → a self-signed pair made here.
func renderNginxSite(t *testing.T, site string, px *nginxProxy, cert, key string) string {
	t.Helper()
	sub := func(old, new string, n int) {
		t.Helper()
		if got := strings.Count(site, old); got != n {
			t.Fatalf("shipped site: %q occurs %d times, the test expects %d; update renderNginxSite", old, got, n)
		}
		site = strings.ReplaceAll(site, old, new)
	}
	for i, node := range px.nodes {
		sub(fmt.Sprintf("server 10.0.1.%d:8080 ", 11+i), "server "+node+" ", 1)
	}
	if re := regexp.MustCompile(`(?m)^\s*server\s+10\.`); re.MatchString(site) {
		t.Fatalf("shipped site lists more upstream nodes than the test starts (%d)", len(px.nodes))
	}
	sub("listen 80;", "listen "+px.http+";", 1)
	sub("listen 443 ssl http2;", "listen "+px.https+" ssl http2;", 1)
	sub("listen [::]:80;", "", 1)
	sub("listen [::]:443 ssl http2;", "", 1)
	sub("/etc/letsencrypt/live/chat.example.com/fullchain.pem", cert, 1)
	sub("/etc/letsencrypt/live/chat.example.com/privkey.pem", key, 1)
	return site
}

// run writes the main config around the site (the parts a site never holds:
// pid, logs, temp paths, the user) and starts nginx in the foreground with a
// master process, as under systemd. It returns once both ports accept, or
// with nginx's error output if it exits first.
func (px *nginxProxy) run(t *testing.T, bin, site string) error {
	t.Helper()
	dir, err := os.MkdirTemp(px.dir, "nginx-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "troupe.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	userLine := ""
	if os.Geteuid() == 0 {
		// As root, nginx would switch its workers to nobody, who cannot read
		// the key in the test's private temp dir: keep the current user.
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			t.Fatal(err)
		}
		userLine = fmt.Sprintf("user %s %s;", u.Username, g.Name)
	}
	main := fmt.Sprintf(`# generated by nginx_test.go around configs/nginx/troupe.conf
daemon off;
master_process on;
worker_processes 2;
%[2]s
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/troupe.conf;
}
`, dir, userLine)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}

	var out nginxOutput
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the workers share the group: one kill ends them all
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // fast shutdown: the master stops its workers
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever is left of its group
		<-exited
	}
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return strings.TrimSpace(out.String() + "\n" + string(b))
	}

	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ready := 0; ready < 2; {
		select {
		case <-exited:
			return fmt.Errorf("exited before serving: %s", logs())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("not accepting on %s and %s after 15s: %s", px.https, px.http, logs())
		}
		ready = 0
		for _, addr := range []string{px.https, px.http} {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				ready++
			}
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("nginx log:\n%s", logs())
		}
	})
	return nil
}

// freePort returns a 127.0.0.1 port nothing listens on right now.
func nginxFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeTestCert makes a self-signed ECDSA certificate for 127.0.0.1 and
// chat.example.com and returns the paths of its PEM files and a pool that
// trusts it.
func nginxTestCert(t *testing.T, dir string) (certPath, keyPath string, roots *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "troupe nginx test"},
		DNSNames:              []string{"chat.example.com", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(leaf)
	return certPath, keyPath, roots
}

// ---- clients -----------------------------------------------------------------

// tryDial opens wss://<proxy>/ws[?query] offering troupe.v1, trusting the test
// certificate, with extra request headers.
func (px *nginxProxy) tryDial(t *testing.T, query string, hdr http.Header) (*rawClient, error) {
	c := &rawClient{t: t, frames: make(chan map[string]any, 4096), raw: make(chan []byte, 4096), closed: make(chan struct{})}
	// Canonical keys: gws looks the offered subprotocol up with Get.
	h := http.Header{}
	h.Set("Sec-WebSocket-Protocol", "troupe.v1")
	for k, v := range hdr {
		h[http.CanonicalHeaderKey(k)] = v
	}
	url := "wss://" + px.https + "/ws"
	if query != "" {
		url += "?" + query
	}
	conn, resp, err := gws.NewClient(c, &gws.ClientOption{
		Addr:               url,
		RequestHeader:      h,
		ReadMaxPayloadSize: 16 << 20,
		HandshakeTimeout:   frameWait,
		// No ALPN, like a browser's WebSocket: HTTP/1.1 on this connection.
		TlsConfig: &tls.Config{RootCAs: px.roots, ServerName: "127.0.0.1"},
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { c.conn.NetConn().Close() })
	return c, nil
}

func (px *nginxProxy) dial(t *testing.T, query string, hdr http.Header) *rawClient {
	t.Helper()
	c, err := px.tryDial(t, query, hdr)
	if err != nil {
		t.Fatalf("dial through nginx: %v", err)
	}
	return c
}

// httpsClient trusts the test certificate; h2 offers HTTP/2; local, when set,
// is the source address of its connections.
func (px *nginxProxy) httpsClient(t *testing.T, h2 bool, local net.Addr) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: px.roots},
		ForceAttemptHTTP2: h2,
		DialContext:       (&net.Dialer{Timeout: frameWait, LocalAddr: local}).DialContext,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: frameWait}
}

// api calls the server API through the proxy.
func (px *nginxProxy) api(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	return nginxAPICall(t, px.httpsClient(t, false, nil), method, "https://"+px.https+path, body)
}

func nginxAPICall(t *testing.T, c *http.Client, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+nginxAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type nginxRoomHolder struct {
	node    string
	members int
}

// nodesHolding asks every node directly (not through nginx) whether it holds
// room, and returns those that do with their member counts.
func (px *nginxProxy) nodesHolding(t *testing.T, room string) []nginxRoomHolder {
	t.Helper()
	c := &http.Client{Timeout: frameWait}
	var out []nginxRoomHolder
	for _, n := range px.nodes {
		st, body := nginxAPICall(t, c, http.MethodGet, "http://"+n+"/api/rooms/"+room, "")
		switch st {
		case http.StatusNotFound:
		case http.StatusOK:
			var r struct{ Members int }
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("room %s on %s: %v", room, n, err)
			}
			out = append(out, nginxRoomHolder{node: n, members: r.Members})
		default:
			t.Fatalf("GET /api/rooms/%s on %s: %d %s", room, n, st, body)
		}
	}
	return out
}

// nginxOutput collects nginx's output from its pipe goroutines.
type nginxOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *nginxOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *nginxOutput) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
