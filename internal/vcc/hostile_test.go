package vcc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/secret"
)

// A VCC server that misbehaves on purpose: each case checks that the secret
// and tokens go nowhere else and that the client stops or goes on as it must.
func TestHostileServer(t *testing.T) {
	ctx := context.Background()
	newClientFor := func(t *testing.T, authURL, apiURL string, hc *http.Client) *Client {
		t.Helper()
		c, err := New(Config{AuthURL: authURL, APIURL: apiURL, ClientID: "id", ClientSecret: secret.New("the-client-secret"),
			MinBackoff: time.Millisecond, MaxAttempts: 3, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	token := func(expiresIn string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"tok-123456","token_type":"bearer","expires_in":`+expiresIn+`}`)
		}
	}

	t.Run("token endpoint redirect is not followed with the secret", func(t *testing.T) {
		var elsewhere atomic.Int32
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
		defer other.Close()
		auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
		}))
		defer auth.Close()
		c := newClientFor(t, auth.URL, auth.URL, nil)
		err := c.CheckScope(ctx, ScopeContent)
		if err == nil || strings.Contains(err.Error(), "the-client-secret") {
			t.Errorf("CheckScope = %v; want an error without the secret", err)
		}
		if n := elsewhere.Load(); n != 0 {
			t.Errorf("the token request was re-sent to the redirect target %d times", n)
		}
	})

	t.Run("resource redirect to another port drops the token", func(t *testing.T) {
		var gotAuth atomic.Value
		gotAuth.Store("unset")
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotAuth.Store(r.Header.Get("Authorization"))
			w.Header().Set("Content-Type", "audio/wav")
			_, _ = io.WriteString(w, "RIFF....")
		}))
		defer other.Close()
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/Auth/connect/token" {
				token("7200")(w, r)
				return
			}
			http.Redirect(w, r, other.URL+"/signed/recording.wav", http.StatusFound)
		}))
		defer api.Close()
		c := newClientFor(t, api.URL+"/Auth/connect/token", api.URL, nil)
		r, err := c.Open(ctx, "2480fc2c-bbd7-427c-9439-02f76583aef5", recording)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != "RIFF...." || gotAuth.Load() != "" {
			t.Errorf("read %q; the redirect target saw Authorization %q, want none", b, gotAuth.Load())
		}
	})

	t.Run("https redirect down to http is refused, once", func(t *testing.T) {
		var plain, hits atomic.Int32
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plain.Add(1) }))
		defer other.Close()
		api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/Auth/connect/token" {
				token("7200")(w, r)
				return
			}
			hits.Add(1)
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		}))
		defer api.Close()
		c := newClientFor(t, api.URL+"/Auth/connect/token", api.URL, api.Client())
		_, err := c.Open(ctx, "2480fc2c-bbd7-427c-9439-02f76583aef5", recording)
		if err == nil || !strings.Contains(err.Error(), "redirect refused") {
			t.Errorf("Open = %v; want a refused redirect", err)
		}
		if plain.Load() != 0 || hits.Load() != 1 {
			t.Errorf("%d plain-http requests, %d attempts; want 0 and 1 (a refused redirect is not retried)", plain.Load(), hits.Load())
		}
	})

	for _, expiresIn := range []string{"-5", "0"} {
		t.Run("expires_in "+expiresIn+" is clamped, not a token per call", func(t *testing.T) {
			var tokens atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/Auth/connect/token" {
					tokens.Add(1)
					token(expiresIn)(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"userId":"u1","name":"A"}`)
			}))
			defer api.Close()
			c := newClientFor(t, api.URL+"/Auth/connect/token", api.URL, nil)
			for range 5 {
				if _, err := c.User(ctx, "u1"); err != nil {
					t.Fatal(err)
				}
			}
			if n := tokens.Load(); n != 1 {
				t.Errorf("%d token requests for 5 calls, want 1", n)
			}
		})
	}
}
