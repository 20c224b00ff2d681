package vcc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/secret"
)

// A server that echoes the request in its error message gets neither the
// token nor the client secret into the error; its text is cut short and
// quoted when it holds control characters.
func TestServerTextIsRedactedCutAndQuoted(t *testing.T) {
	const (
		tok = "tok-0123456789abcdef-echoed"
		sec = "the-client-secret-0123456789"
	)
	for _, tc := range []struct {
		name    string
		message func(r *http.Request) string
		want    []string
		lack    []string
	}{
		{"echoes the token and the secret", func(r *http.Request) string {
			return "bad request " + r.Header.Get("Authorization") + " secret " + sec
		}, []string{"bad request Bearer [redacted] secret [redacted]"}, []string{tok, sec}},
		{"a long message", func(*http.Request) string { return strings.Repeat("é", 1000) }, []string{"…"}, []string{strings.Repeat("é", 200)}},
		{"terminal escapes", func(*http.Request) string { return "title\x1b]0;pwned\x07" }, []string{`"title\x1b]0;pwned\a"`}, []string{"\x1b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if strings.HasSuffix(r.URL.Path, "/token") {
					_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 7200})
					return
				}
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"message": tc.message(r)})
			}))
			defer srv.Close()
			c, err := New(Config{AuthURL: srv.URL + "/token", APIURL: srv.URL, ClientID: "id", ClientSecret: secret.New(sec), MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.UserGroups(context.Background(), "u1")
			if err == nil {
				t.Fatal("no error from a 400")
			}
			msg := err.Error()
			if len(msg) > maxServerText+200 {
				t.Errorf("error of %d bytes", len(msg))
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			for _, w := range tc.lack {
				if strings.Contains(msg, w) {
					t.Errorf("error %q has %q", msg, w)
				}
			}
		})
	}
}
