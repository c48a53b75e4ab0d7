package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/troupe-chat/troupe/actors"
	"github.com/troupe-chat/troupe/transport/auth"
)

// readmeExample is one curl command of the README and the answer it shows.
type readmeExample struct {
	method, url, body string
	headers           http.Header
	status            int
	want              map[string]any // nil when the README shows no body
}

var answerLine = regexp.MustCompile(`^# → (\d{3})(?: (.*))?$`)

// readmeExamples extracts the curl examples of one README section.
func readmeExamples(t *testing.T, section string) []readmeExample {
	t.Helper()
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "\n## "+section+"\n")
	if start < 0 {
		t.Fatalf("README has no %q section", section)
	}
	end := strings.Index(text[start+1:], "\n## ")
	lines := strings.Split(text[start:start+1+end], "\n")
	env := map[string]string{}
	var out []readmeExample
	for i, line := range lines {
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		ex := parseCurl(t, line, env)
		if i+1 >= len(lines) {
			t.Fatalf("curl without an answer line: %s", line)
		}
		m := answerLine.FindStringSubmatch(lines[i+1])
		if m == nil {
			t.Fatalf("the line after %q must be `# → STATUS [JSON]`, got %q", line, lines[i+1])
		}
		ex.status, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			if err := json.Unmarshal([]byte(m[2]), &ex.want); err != nil {
				t.Fatalf("README answer %q is not JSON: %v", m[2], err)
			}
		}
		out = append(out, ex)
	}
	return out
}

// parseCurl reads the subset of curl the README uses: -X, -H, -d, -sS, a URL,
// single- and double-quoted words, and $VAR inside double quotes.
func parseCurl(t *testing.T, line string, env map[string]string) readmeExample {
	t.Helper()
	var words []string
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimSpace(rest) {
		var w string
		switch rest[0] {
		case '\'':
			end := strings.IndexByte(rest[1:], '\'')
			w, rest = rest[1:1+end], rest[end+2:]
		case '"':
			end := strings.IndexByte(rest[1:], '"')
			w, rest = os.Expand(rest[1:1+end], func(k string) string { return env[k] }), rest[end+2:]
		default:
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			w, rest = os.Expand(rest[:end], func(k string) string { return env[k] }), rest[end:]
		}
		words = append(words, w)
	}
	ex := readmeExample{method: http.MethodGet, headers: http.Header{}}
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "-sS":
		case "-X":
			i++
			ex.method = words[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(words[i], ": ")
			ex.headers.Add(k, v)
		case "-d":
			i++
			ex.body = words[i]
			if ex.method == http.MethodGet {
				ex.method = http.MethodPost
			}
		default:
			if strings.HasPrefix(words[i], "-") {
				t.Fatalf("README curl uses %s, which this test does not read", words[i])
			}
			ex.url = words[i]
		}
	}
	return ex
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sameShape compares the keys of want and got, and of the first element of
// arrays both hold.
func sameShape(want, got map[string]any) bool {
	if strings.Join(keysOf(want), ",") != strings.Join(keysOf(got), ",") {
		return false
	}
	for k, w := range want {
		wa, ok1 := w.([]any)
		ga, ok2 := got[k].([]any)
		if ok1 && ok2 && len(wa) > 0 && len(ga) > 0 {
			wm, ok1 := wa[0].(map[string]any)
			gm, ok2 := ga[0].(map[string]any)
			if ok1 && ok2 && !sameShape(wm, gm) {
				return false
			}
		}
	}
	return true
}

// TestREADMEServerAPIExamples runs the README's server API examples, in
// order, against a real server with alice connected, and checks each answer
// has the status and the shape the README shows.
func TestREADMEServerAPIExamples(t *testing.T) {
	examples := readmeExamples(t, "Server API")
	if len(examples) < 8 {
		t.Fatalf("found only %d examples", len(examples))
	}
	a := startServer(t, "--api-key", "change-me", "--jwt-secret", testSecret)
	base := "http://" + a.Addr.String()
	tok, err := auth.SignHS256([]byte(testSecret), actors.Claims{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice := mustDial(t, a.Addr.String())
	if w := alice.request(map[string]any{"type": "hello", "token": tok}); w["type"] != "welcome" {
		t.Fatalf("alice: %v", w)
	}
	client := &http.Client{Timeout: time.Minute}
	for _, ex := range examples {
		url := strings.Replace(ex.url, "http://127.0.0.1:8080", base, 1)
		req, err := http.NewRequest(ex.method, url, strings.NewReader(ex.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = ex.headers
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != ex.status {
			t.Fatalf("%s %s: %d %s, README says %d", ex.method, ex.url, resp.StatusCode, b, ex.status)
		}
		if ex.want == nil {
			continue
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil || !sameShape(ex.want, got) {
			t.Fatalf("%s %s answered %s; the README shows %v", ex.method, ex.url, b, ex.want)
		}
	}
	if code := alice.waitClose(); code != 4002 {
		t.Fatalf("alice closed with %d after the disconnect example, want 4002", code)
	}
}
