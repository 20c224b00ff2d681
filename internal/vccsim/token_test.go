package vccsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestToken(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1, TokenTTL: 90 * time.Second})
	admin, sup := s.Credential("admin"), s.Credential("supervisor")
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	body := func(c Credential, grant, scope string) url.Values {
		return form("grant_type", grant, "client_id", c.ClientID, "client_secret", c.ClientSecret, "scope", scope)
	}
	const formType = "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name          string
		contentType   string
		form          url.Values
		basic, secret string
		code          int
		want          string // the exact error body; "" for success
	}{
		{"form", formType, body(admin, "client_credentials", ScopeStats), "", "", 200, ""},
		{"form with charset", formType + "; charset=utf-8", body(admin, "client_credentials", ScopeStats), "", "", 200, ""},
		{"basic", formType, form("grant_type", "client_credentials", "scope", ScopeContent), admin.ClientID, admin.ClientSecret, 200, ""},
		{"three scopes", formType, body(admin, "client_credentials", ScopeContent+" "+ScopeUsers+" "+ScopeStats), "", "", 200, ""},
		{"json body", "application/json", body(admin, "client_credentials", ScopeStats), "", "", 400, `{"error":"invalid_request","error_description":"The body must be application/x-www-form-urlencoded"}`},
		{"no content type", "", body(admin, "client_credentials", ScopeStats), "", "", 400, `{"error":"invalid_request","error_description":"The body must be application/x-www-form-urlencoded"}`},
		{"wrong secret", formType, form("grant_type", "client_credentials", "client_id", admin.ClientID, "client_secret", "wrong", "scope", ScopeStats), "", "", 400, `{"error":"invalid_client"}`},
		{"wrong basic secret", formType, form("grant_type", "client_credentials", "scope", ScopeStats), admin.ClientID, "wrong", 400, `{"error":"invalid_client"}`},
		{"unknown client", formType, form("grant_type", "client_credentials", "client_id", "nobody", "client_secret", "x", "scope", ScopeStats), "", "", 400, `{"error":"invalid_client"}`},
		{"no client", formType, form("grant_type", "client_credentials", "scope", ScopeStats), "", "", 400, `{"error":"invalid_client"}`},
		{"password grant", formType, body(admin, "password", ScopeStats), "", "", 400, `{"error":"unsupported_grant_type","error_description":"Invalid grant_type"}`},
		{"no grant", formType, body(admin, "", ScopeStats), "", "", 400, `{"error":"unsupported_grant_type","error_description":"Invalid grant_type"}`},
		{"no scope", formType, body(admin, "client_credentials", ""), "", "", 400, `{"error":"invalid_scope","error_description":"You must specify a scope"}`},
		{"blank scope", formType, body(admin, "client_credentials", "  "), "", "", 400, `{"error":"invalid_scope","error_description":"You must specify a scope"}`},
		{"supervisor has no stats", formType, body(sup, "client_credentials", ScopeStats), "", "", 400, `{"error":"invalid_scope","error_description":"\"stats\" is an invalid scope"}`},
		{"one of two not held", formType, body(sup, "client_credentials", ScopeUsers+" "+ScopeStats), "", "", 400, `{"error":"invalid_scope","error_description":"\"stats\" is an invalid scope"}`},
		{"unknown scope", formType, body(admin, "client_credentials", "recordings"), "", "", 400, `{"error":"invalid_scope","error_description":"\"recordings\" is an invalid scope"}`},
		{"comma-separated", formType, body(admin, "client_credentials", ScopeUsers+","+ScopeStats), "", "", 400, `{"error":"invalid_scope","error_description":"\"users:read,stats\" is an invalid scope"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := postToken(t, s, tc.contentType, tc.form, tc.basic, tc.secret)
			if code != tc.code {
				t.Fatalf("%d %s, want %d", code, b, tc.code)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if tc.want != "" {
				var want map[string]any
				_ = json.Unmarshal([]byte(tc.want), &want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body %s, want %s", b, tc.want)
				}
				return
			}
			keys := []string{}
			for k := range got {
				keys = append(keys, k)
			}
			if len(got) != 3 || got["expires_in"] != float64(90) || got["token_type"] != "bearer" || got["access_token"] == "" {
				t.Errorf("token response %s: want exactly access_token, expires_in 90, token_type bearer (keys %v)", b, keys)
			}
		})
	}
	if _, err := New(Config{Credentials: []Credential{{Name: "x", Licence: "supervisor", Scopes: []string{ScopeStats}}}}); err == nil {
		t.Error("a supervisor-licence credential with stats was accepted")
	}
}

func TestGatewayAuth(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1})
	s.SetNow(day0.AddDate(0, 0, 2))
	content := mustToken(t, s, "admin", ScopeContent)
	users := mustToken(t, s, "admin", ScopeUsers)
	stats := mustToken(t, s, "admin", ScopeStats)
	code, tb := askToken(t, s, s.Credential("admin"), ScopeContent+" "+ScopeUsers, false)
	if code != 200 {
		t.Fatalf("two-scope token: %d %v", code, tb)
	}
	both := tb["access_token"].(string)
	const (
		missing = `{"error":"invalid_request","error_description":"The access token is missing"}`
		invalid = `{"error":"invalid_token","error_description":"The access token is invalid or has expired"}`
		unauth  = `{"message":"Unauthorized"}`
	)
	paths := map[string]string{
		"content": "/interaction-content/interactions?" + window(day0, day0.AddDate(0, 0, 1)),
		"users":   "/useradmin/users",
		"stats":   "/stats/interactions?start=2024-03-04T00:00:00Z&end=2024-03-05T00:00:00Z",
	}
	for _, tc := range []struct {
		name, api, auth string
		code            int
		want            string
	}{
		{"content ok", "content", "Bearer " + content, 200, ""},
		{"lower-case bearer", "content", "bearer " + content, 200, ""},
		{"upper-case bearer", "users", "BEARER " + users, 200, ""},
		{"two-scope token on content", "content", "Bearer " + both, 200, ""},
		{"two-scope token on users", "users", "Bearer " + both, 200, ""},
		{"two-scope token on stats", "stats", "Bearer " + both, 401, unauth},
		{"no header", "content", "", 401, missing},
		{"blank", "users", "   ", 401, missing},
		{"bearer without token", "stats", "Bearer ", 401, missing},
		{"basic", "content", "Basic " + content, 401, missing},
		{"unknown", "content", "Bearer not-a-token", 401, invalid},
		{"users token on content", "content", "Bearer " + users, 401, unauth},
		{"content token on users", "users", "Bearer " + content, 401, unauth},
		{"users token on stats", "stats", "Bearer " + users, 401, unauth},
		{"stats token on content", "content", "Bearer " + stats, 401, unauth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.URL+paths[tc.api], nil)
			req.Header.Set("Accept", defaultAccept(paths[tc.api]))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got, want any
			_ = json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != tc.code {
				t.Fatalf("%d %v, want %d", resp.StatusCode, got, tc.code)
			}
			if tc.want != "" {
				_ = json.Unmarshal([]byte(tc.want), &want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body %v, want %s", got, tc.want)
				}
			}
		})
	}
	// Tokens expire by the dataset's clock.
	s.Advance(2*time.Hour + time.Second)
	resp, b := get(t, s, paths["content"], content)
	if resp.StatusCode != 401 || !strings.Contains(string(b), "invalid_token") {
		t.Errorf("expired token: %d %s, want 401 invalid_token", resp.StatusCode, b)
	}
	// A users:write token reads User Admin too.
	c := s.Credential("admin")
	c.Name, c.ClientID, c.Scopes = "writer", "writer-id", []string{ScopeUsersWrite}
	s2 := start(t, Config{Seed: 1, Days: 1, Credentials: []Credential{c}})
	code, tb = askToken(t, s2, c, ScopeUsersWrite, false)
	if code != 200 {
		t.Fatalf("users:write token: %d %v", code, tb)
	}
	if resp, b := get(t, s2, "/useradmin/users", tb["access_token"].(string)); resp.StatusCode != 200 {
		t.Errorf("users:write on User Admin: %d %s", resp.StatusCode, b)
	}
}
