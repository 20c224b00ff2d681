package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessionCookie is the cookie /login sets: a browser cannot send a bearer
// token, so the status page takes this instead. Its value is derived from
// the access token (an HMAC of a fixed label), never the token itself, and
// changing the token ends every session.
const sessionCookie = "vccingest_session"

// sessionMaxAge is how long a browser stays signed in.
const sessionMaxAge = 12 * time.Hour

func (s *Server) sessionValue() string {
	mac := hmac.New(sha256.New, []byte(s.cfg.AccessToken.Reveal()))
	mac.Write([]byte("vccingest status page session v1"))
	return hex.EncodeToString(mac.Sum(nil))
}

// authenticate requires the bearer token or the session cookie, when an
// access token is configured, on every path but the probes and the login
// page. A browser that has neither is sent to the login page; anything
// else gets a 401 that says what to send.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.cfg.AccessToken.IsZero() {
		return next
	}
	want := []byte(s.cfg.AccessToken.Reveal())
	session := []byte(s.sessionValue())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/login":
			next.ServeHTTP(w, r)
			return
		}
		if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && subtle.ConstantTimeCompare([]byte(got), want) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), session) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="vccingest"`)
		writeError(w, http.StatusUnauthorized, "this vccingest service requires an access token: send Authorization: Bearer <token>, or sign in at /login in a browser")
	})
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vccingest: sign in</title>
<style>body { font: 15px/1.45 system-ui, sans-serif; margin: 4rem auto; max-width: 26rem; color: #1d2330; padding: 0 1rem; }
input { font: inherit; width: 100%; padding: .4rem; margin: .4rem 0 .8rem; box-sizing: border-box; }
button { font: inherit; padding: .35rem 1.2rem; } .error { color: #9d1c13; }</style></head>
<body><h1>vccingest</h1>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<label for="token">Access token (the service's <code>access_token_ref</code>)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit">Sign in</button>
</form></body></html>
`))

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, http.StatusOK, localPath(r.URL.Query().Get("next")), "")
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, next, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, struct{ Next, Error string }{next, msg})
}

// login checks the token a browser posted and sets the session cookie:
// HttpOnly, SameSite=Strict (so no other site's page can use it, and the
// read-only page needs no CSRF token), Secure when served over TLS.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AccessToken.IsZero() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			writeError(w, http.StatusForbidden, "sign in from this service's own login page")
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, http.StatusBadRequest, "/", "The form could not be read.")
		return
	}
	next := localPath(r.PostFormValue("next"))
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(s.cfg.AccessToken.Reveal())) != 1 {
		s.cfg.Logger.Warn("status page: a sign-in with a wrong access token", "remote", r.RemoteAddr)
		s.renderLogin(w, http.StatusUnauthorized, next, "That is not the access token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.sessionValue(), Path: "/", MaxAge: int(sessionMaxAge.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath keeps a redirect target on this service: a path, never
// another host ("//evil", "https://evil", "/\evil").
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) {
		return "/"
	}
	return p
}
