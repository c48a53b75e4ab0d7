package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// turnPresenceOff configures every room of the idle and storm scenarios
// (idle-0 … idle-<rooms-1>) with presence off through base's server API
// (PUT /api/rooms/{room} {"presence": false}), before any joins: the storm
// then measures rooms without presence lists or diffs, the way a peer
// without presence is measured. The configuration is stored, so in a
// cluster one node's API is enough.
func turnPresenceOff(ctx context.Context, base, apiKey string, rooms int) error {
	for i := range max(rooms, 1) {
		room := fmt.Sprintf("idle-%d", i)
		u := strings.TrimSuffix(base, "/") + "/api/rooms/" + url.PathEscape(room)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader([]byte(`{"presence":false}`)))
		if err != nil {
			return fmt.Errorf("configure %s: %w", room, err)
		}
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("configure %s: %w", room, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("configure %s: read the answer: %w", room, err)
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("configure %s: HTTP %d %s", room, resp.StatusCode, bytes.TrimSpace(body))
		}
	}
	return nil
}
