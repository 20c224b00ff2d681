package vccsim

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ---- Authentication API ----

// serveToken is POST /Auth/connect/token. Its checks run in the order an
// IdentityServer runs them: the form, the client, the grant type, then the
// scopes.
func (s *Sim) serveToken(q *request) {
	w, r := q.w, q.r
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		writeOAuthError(w, tokenErrorStatus, "invalid_request", "The body must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, tokenErrorStatus, "invalid_request", "Malformed form body")
		return
	}
	cred, ok := s.client(r)
	if !ok {
		writeOAuthError(w, tokenErrorStatus, "invalid_client", "")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeOAuthError(w, tokenErrorStatus, "unsupported_grant_type", "Invalid grant_type")
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		writeOAuthError(w, tokenErrorStatus, "invalid_scope", "You must specify a scope")
		return
	}
	for _, sc := range scopes {
		if !cred.has(sc) {
			writeOAuthError(w, tokenErrorStatus, "invalid_scope", fmt.Sprintf("%q is an invalid scope", sc))
			return
		}
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	s.tokens[tok] = token{cred: cred, scopes: scopes, expires: s.nowLocked().Add(s.cfg.TokenTTL)}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	// As the documented example: no scope field, token_type lower case.
	writeJSON(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}{tok, int(s.cfg.TokenTTL / time.Second), "bearer"})
}

// client authenticates the token request's client: HTTP Basic if the
// request has it, else client_id and client_secret in the body.
func (s *Sim) client(r *http.Request) (*Credential, bool) {
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: Basic credentials are form-encoded first.
		var err1, err2 error
		id, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			return nil, false
		}
	}
	for i := range s.cfg.Credentials {
		c := &s.cfg.Credentials[i]
		if id != "" && c.ClientID == id && c.ClientSecret == secret {
			return c, true
		}
	}
	return nil, false
}

// authorize checks a resource call's bearer token as the API gateway does:
// no token, or an unknown or expired one, is a 401 OAuth error; a valid
// token that was not issued for any of the scopes the API takes is a bare
// 401 "Unauthorized" (not 403). It returns the token's credential and the
// scope it is used under.
func (s *Sim) authorize(w http.ResponseWriter, r *http.Request, scopes []string) (*Credential, string, bool) {
	scheme, raw, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeOAuthError(w, http.StatusUnauthorized, "invalid_request", "The access token is missing")
		return nil, "", false
	}
	s.mu.Lock()
	tok, known := s.tokens[raw]
	now := s.nowLocked()
	s.mu.Unlock()
	if !known || !now.Before(tok.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid or has expired")
		return nil, "", false
	}
	for _, sc := range scopes {
		if slices.Contains(tok.scopes, sc) {
			return tok.cred, sc, true
		}
	}
	writeMessage(w, http.StatusUnauthorized, "Unauthorized")
	return nil, "", false
}
