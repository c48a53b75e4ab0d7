package app_test

import (
	"github.com/jonboulle/clockwork"

	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/cmd/troupe/app"
	"github.com/troupe-chat/troupe/configs"
	"github.com/troupe-chat/troupe/transport/auth"
)

// Conversation tests: each file in testdata/conversations is a protocol
// scenario read top to bottom. The language:
//
//	# comment
//	config KEY=VALUE ...         server flags for this scenario (before the first connect)
//	token VAR sub=ID [name=N] [exp=+DURATION|-DURATION] [rooms=a,b]   mint an HS256 token into $VAR
//	connect CLIENT [QUERY]       open a WebSocket (subprotocol troupe.v1)
//	connect-status QUERY STATUS  an upgrade with QUERY is refused with HTTP STATUS
//	send CLIENT JSON             send a text frame ($VARs are substituted)
//	sendraw CLIENT TEXT          send TEXT as is
//	sendbinary CLIENT TEXT       send TEXT in a binary frame
//	expect CLIENT JSON           the next frame matches JSON (see match)
//	expect-close CLIENT CODE     the server closes the connection with CODE
//	quiet CLIENT                 nothing is pending: a ping's pong is the next frame
//	drop CLIENT                  cut the TCP connection without a close frame
//	mute CLIENT                  stop answering the server's pings
//	clock fake                   run connection deadlines on a fake clock (before the first connect)
//	timers N                     wait until the fake clock holds N timers and tickers
//	                             (one ticker per heartbeat shard, then hello, expiry and grace timers)
//	advance DURATION             move the fake clock forward, firing what falls due
//	sendbig CLIENT BYTES         send a text frame of BYTES bytes
//	sendhex CLIENT HEX           send the bytes HEX in a text frame (invalid UTF-8)
//
// Matching: objects match when every key of the pattern matches (the frame
// may hold more keys); arrays match element by element and must have the same
// length; "$VAR" binds VAR on first use and must equal it later; "*" matches
// any present value; "<absent>" requires the key to be missing.
func TestConversations(t *testing.T) {
	files, err := filepath.Glob("testdata/conversations/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conversations found: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runConversation(t, f)
		})
	}
}

// testSecret signs the tokens of conversation tests.
const testSecret = "conversation-secret"

// startServer runs a real server on 127.0.0.1:0 with a SQLite store in a temp dir.
func startServer(t testing.TB, flags ...string) *app.App {
	t.Helper()
	return startServerWith(t, nil, flags...)
}

// startServerWith is startServer with app options (a fake clock, say).
func startServerWith(t testing.TB, opts []app.Option, flags ...string) *app.App {
	t.Helper()
	args := append([]string{
		"--addr", "127.0.0.1:0",
		"--store", "sqlite://" + filepath.Join(t.TempDir(), "troupe.db"),
		"--jwt-secret", testSecret,
		"--log-level", "error",
	}, flags...)
	cfg, err := configs.Load(args, func(string) string { return "" })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.Start(context.Background(), cfg, app.NewLogger(cfg, os.Stderr), opts...)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a
}

type conversation struct {
	t       *testing.T
	file    string
	line    int
	flags   []string
	clock   *clockwork.FakeClock // nil: real time
	srv     *app.App
	clients map[string]*rawClient
	vars    map[string]any
}

func runConversation(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &conversation{t: t, file: file, clients: map[string]*rawClient{}, vars: map[string]any{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		c.line++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c.step(line)
	}
}

func (c *conversation) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%s:%d: %s", filepath.Base(c.file), c.line, fmt.Sprintf(format, args...))
}

func (c *conversation) server() *app.App {
	if c.srv == nil {
		var opts []app.Option
		if c.clock != nil {
			opts = append(opts, app.WithClock(c.clock))
		}
		c.srv = startServerWith(c.t, opts, c.flags...)
	}
	return c.srv
}

func (c *conversation) client(name string) *rawClient {
	cl, ok := c.clients[name]
	if !ok {
		c.fatalf("unknown client %q", name)
	}
	return cl
}

var varRef = regexp.MustCompile(`\$[A-Za-z_][A-Za-z0-9_]*`)

// subst replaces $VARs in a send line with their JSON (strings without quotes
// when the reference is inside a string).
func (c *conversation) subst(s string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		v, ok := c.vars[ref[1:]]
		if !ok {
			c.fatalf("unbound variable %s", ref)
		}
		if str, ok := v.(string); ok {
			return str
		}
		b, _ := json.Marshal(v)
		return string(b)
	})
}

func (c *conversation) step(line string) {
	c.t.Helper()
	verb, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch verb {
	case "config":
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			c.flags = append(c.flags, "--"+k+"="+v)
		}
	case "token":
		c.mintToken(rest)
	case "clock":
		if rest != "fake" || c.srv != nil {
			c.fatalf("clock fake comes before the first connect")
		}
		c.clock = clockwork.NewFakeClockAt(time.Now())
	case "timers":
		n, err := strconv.Atoi(rest)
		if err != nil || c.clock == nil {
			c.fatalf("timers N needs a number and clock fake")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.clock.BlockUntilContext(ctx, n); err != nil {
			c.fatalf("the server never held %d timers: %v", n, err)
		}
	case "advance":
		d, err := time.ParseDuration(rest)
		if err != nil || c.clock == nil {
			c.fatalf("advance DURATION needs a duration and clock fake")
		}
		c.clock.Advance(d)
	case "connect":
		name, query, _ := strings.Cut(rest, " ")
		cl, err := dial(c.t, c.server().Addr.String(), c.subst(strings.TrimSpace(query)), "troupe.v1")
		if err != nil {
			c.fatalf("connect %s: %v", name, err)
		}
		c.clients[name] = cl
	case "connect-status":
		query, status, _ := strings.Cut(rest, " ")
		_, err := dial(c.t, c.server().Addr.String(), c.subst(query), "troupe.v1")
		if err == nil || !strings.Contains(err.Error(), "HTTP "+strings.TrimSpace(status)) {
			c.fatalf("upgrade with %q: want HTTP %s, got %v", query, status, err)
		}
	case "send", "sendraw":
		name, payload, _ := strings.Cut(rest, " ")
		c.client(name).sendRaw(c.subst(payload))
	case "sendbinary":
		name, payload, _ := strings.Cut(rest, " ")
		if err := c.client(name).conn.WriteMessage(2, []byte(payload)); err != nil {
			c.fatalf("send binary: %v", err)
		}
	case "expect":
		name, pattern, _ := strings.Cut(rest, " ")
		var want any
		if err := json.Unmarshal([]byte(pattern), &want); err != nil {
			c.fatalf("bad pattern: %v", err)
		}
		got := c.client(name).next()
		if why := c.match(want, got, "$"); why != "" {
			b, _ := json.Marshal(got)
			c.fatalf("%s: frame %s does not match: %s", name, b, why)
		}
	case "expect-close":
		name, code, _ := strings.Cut(rest, " ")
		want, _ := strconv.Atoi(code)
		if got := c.client(name).waitClose(); got != want {
			c.fatalf("%s: close code %d, want %d", name, got, want)
		}
	case "quiet":
		cl := c.client(rest)
		cl.sendRaw(`{"type":"ping","id":987654321}`)
		got := cl.next()
		if got["type"] != "pong" || got["id"] != float64(987654321) {
			b, _ := json.Marshal(got)
			c.fatalf("%s: expected nothing pending, got %s", rest, b)
		}
	case "drop":
		c.client(rest).conn.NetConn().Close()
	case "mute":
		c.client(rest).muted.Store(true)
	case "sendbig":
		name, size, _ := strings.Cut(rest, " ")
		n, _ := strconv.Atoi(size)
		big := `{"type":"send","id":1,"room":"r","text":"` + strings.Repeat("x", max(n-42, 0)) + `"}`
		if err := c.client(name).conn.WriteMessage(1, []byte(big)); err != nil {
			c.fatalf("send big: %v", err)
		}
	case "sendhex":
		name, hx, _ := strings.Cut(rest, " ")
		b, err := hex.DecodeString(hx)
		if err != nil {
			c.fatalf("hex: %v", err)
		}
		if err := c.client(name).conn.WriteMessage(1, b); err != nil {
			c.fatalf("send hex: %v", err)
		}
	default:
		c.fatalf("unknown verb %q", verb)
	}
}

func (c *conversation) mintToken(spec string) {
	fields := strings.Fields(spec)
	if len(fields) < 2 {
		c.fatalf("token VAR sub=ID ...")
	}
	var cl actors.Claims
	for _, kv := range fields[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "sub":
			cl.Subject = v
		case "name":
			cl.Name = strings.ReplaceAll(v, "_", " ")
		case "exp":
			d, err := time.ParseDuration(v)
			if err != nil {
				c.fatalf("exp: %v", err)
			}
			now := time.Now()
			if c.clock != nil {
				now = c.clock.Now()
			}
			cl.Expires = now.Add(d)
		case "rooms":
			cl.Rooms = strings.Split(v, ",")
		default:
			c.fatalf("unknown token field %q", k)
		}
	}
	tok, err := auth.SignHS256([]byte(testSecret), cl)
	if err != nil {
		c.fatalf("sign: %v", err)
	}
	c.vars[fields[0]] = tok
}

// match reports why got does not match want ("" when it does).
func (c *conversation) match(want, got any, path string) string {
	switch w := want.(type) {
	case string:
		switch {
		case w == "*":
			return ""
		case strings.HasPrefix(w, "$") && varRef.MatchString(w) && len(varRef.FindString(w)) == len(w):
			name := w[1:]
			if bound, ok := c.vars[name]; ok {
				if !reflect.DeepEqual(bound, got) {
					return fmt.Sprintf("%s: %v, want $%s = %v", path, got, name, bound)
				}
				return ""
			}
			c.vars[name] = got
			return ""
		}
		if got != w {
			return fmt.Sprintf("%s: %v, want %q", path, got, w)
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %v is not an object", path, got)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, present := g[k]
			if w[k] == "<absent>" {
				if present {
					return fmt.Sprintf("%s.%s: present (%v), want absent", path, k, gv)
				}
				continue
			}
			if !present {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if why := c.match(w[k], gv, path+"."+k); why != "" {
				return why
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: %v is not an array", path, got)
		}
		if len(g) != len(w) {
			return fmt.Sprintf("%s: %d elements, want %d", path, len(g), len(w))
		}
		for i := range w {
			if why := c.match(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); why != "" {
				return why
			}
		}
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Sprintf("%s: %v, want %v", path, got, want)
		}
	}
	return ""
}
