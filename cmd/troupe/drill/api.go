package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/troupe-chat/troupe/actors/drills"
)

// apiClient calls the server's drill API.
type apiClient struct {
	base string // http://HOST:PORT
	key  string
	http *http.Client
}

func newAPIClient(base, key string) *apiClient {
	return &apiClient{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Timeout: 2 * time.Minute}}
}

// apiError is an error answer of the server API.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server API: %d %s: %s", e.Status, e.Code, e.Message)
}

func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("drill API %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("drill API %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("drill API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("drill API %s %s: read: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e) // a non-JSON error keeps the status alone
		return &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("drill API %s %s: decode %q: %w", method, path, b, err)
	}
	return nil
}

// start starts a drill on the server.
func (c *apiClient) start(ctx context.Context, spec drills.Spec) (drills.Report, error) {
	var rep drills.Report
	err := c.do(ctx, http.MethodPost, "/api/drills", spec, &rep)
	return rep, err
}

// wait waits for the drill to end and returns its report.
func (c *apiClient) wait(ctx context.Context, id string) (drills.Report, error) {
	for {
		var rep drills.Report
		if err := c.do(ctx, http.MethodGet, "/api/drills/"+id+"?wait=30s", nil, &rep); err != nil {
			return rep, err
		}
		if rep.State != drills.Running {
			return rep, nil
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
}
