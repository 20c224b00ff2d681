package vccsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var day0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

// The Accept headers a correct client sends.
const (
	acceptContentV3 = "application/vnd.newvoicemedia.v3+json"
	acceptContentV2 = "application/vnd.newvoicemedia.v2+json"
	acceptUsersV4   = "application/vnd.newvoicemedia.v4+json"
	acceptStatsV3   = "application/vnd.newvoicemedia.v3+json"
)

func start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Start.IsZero() {
		cfg.Start = day0
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newSim(t testing.TB, cfg Config) *Sim {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postToken posts a raw token request.
func postToken(t testing.TB, s *Server, contentType string, form url.Values, basicID, basicSecret string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.AuthURL(), strings.NewReader(form.Encode()))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// askToken asks the token endpoint as a correct client does, credentials in
// the body or as HTTP Basic.
func askToken(t testing.TB, s *Server, c Credential, scope string, basic bool) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	var id, secret string
	if basic {
		id, secret = c.ClientID, c.ClientSecret
	} else {
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.ClientSecret)
	}
	code, b := postToken(t, s, "application/x-www-form-urlencoded", form, id, secret)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("token response %s: %v", b, err)
	}
	return code, body
}

func mustToken(t testing.TB, s *Server, cred, scope string) string {
	t.Helper()
	code, body := askToken(t, s, s.Credential(cred), scope, false)
	if code != 200 {
		t.Fatalf("token %s/%s: %d %v", cred, scope, code, body)
	}
	return body["access_token"].(string)
}

// defaultAccept is the Accept header a correct client sends to path.
func defaultAccept(path string) string {
	switch {
	case strings.HasPrefix(path, "/useradmin/"):
		return acceptUsersV4
	case strings.HasPrefix(path, "/stats/"):
		return acceptStatsV3
	}
	return acceptContentV3
}

// get sends a GET with the bearer token tok (none if empty), the Accept
// header of a correct client unless hdr sets one ("" leaves it out), and
// the other headers of hdr (name, value pairs).
func get(t testing.TB, s *Server, path, tok string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", defaultAccept(path))
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp, b
}

// getJSON GETs path, wants status 200 and decodes the body into v.
func getJSON(t testing.TB, s *Server, path, tok string, v any, hdr ...string) {
	t.Helper()
	resp, b := get(t, s, path, tok, hdr...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

func window(from, to time.Time) string {
	return fmt.Sprintf("start=%s&end=%s", from.Format(time.RFC3339), to.Format(time.RFC3339))
}

// noRejections fails the test if the simulator refused any request.
func noRejections(t testing.TB, s *Server) {
	t.Helper()
	for _, r := range s.Rejections() {
		t.Errorf("refused: %s %s → %d %s", r.Method, r.Route, r.Status, r.Message)
	}
}
