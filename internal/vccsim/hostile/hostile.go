// Package hostile puts a hostile VCC in front of the simulator: one switch
// per class of attack a broken or malicious server (or anything between
// vccingest and VCC) can mount on the client, for the end-to-end suite
// that proves vccingest stores only what it verified, leaks no secret and
// never hangs. With no attack set it is the simulator, unchanged.
//
// Attacks on the bytes of a download (short bodies, gzip, a 206 from
// offset 0, an HTML page, a drip, a close mid-body) are the simulator's
// own faults (vccsim.Faults.Content); this package adds what the
// simulator, which follows the docs, cannot be: a server that redirects,
// echoes, lies about tokens, pages for ever or sends terminal escapes.
package hostile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// Attack is one class of attack.
type Attack string

// The attacks.
const (
	None Attack = ""
	// The token endpoint redirects (307 or 308) to the capture server,
	// where x/oauth2 would re-POST the form, client_secret included.
	TokenRedirect307 Attack = "token-redirect-307"
	TokenRedirect308 Attack = "token-redirect-308"
	// A token answer without access_token.
	TokenWithoutAccessToken Attack = "token-without-access-token"
	// expires_in of -100 or of 10¹² seconds.
	TokenNegativeExpiry Attack = "token-negative-expires-in"
	TokenAbsurdExpiry   Attack = "token-absurd-expires-in"
	// Every download is redirected to the same path on the capture
	// server's port (same host name, other port).
	DownloadRedirectOtherPort Attack = "download-redirect-other-port"
	// Every download is redirected to a file:// URL.
	DownloadRedirectFile Attack = "download-redirect-file"
	// Every download redirects to itself, for ever.
	DownloadRedirectLoop Attack = "download-redirect-loop"
	// Every download, or every interaction listing, is redirected to the
	// same path on the capture server, which is plain http on the same
	// loopback host: from the TLS front (TLSURL) a downgrade from https to
	// http, which the bearer token must never follow.
	DownloadRedirectToHTTP Attack = "download-redirect-https-to-http"
	ListingRedirectToHTTP  Attack = "listing-redirect-https-to-http"
	// The interaction listing answers 400 with a message that echoes the
	// request's bearer token and the client secret the token request sent.
	EchoSecrets Attack = "echo-secrets"
	// The interaction listing answers 401 to every token, new ones too.
	Unauthorized Attack = "unauthorized-after-renewal"
	// The interaction listing sends its first page again and again, each
	// time with a new continuation token.
	EndlessPages Attack = "endless-pages"
	// The interaction listing sends the same continuation token again.
	RepeatedContinuation Attack = "repeated-continuation"
	// The User Admin user list answers one page that never ends: users
	// with a new id each and 16 KB of padding in a field no client reads,
	// until the client hangs up.
	EndlessUsersPage Attack = "endless-users-page"
	// The first interaction of every listing page starts in year 9999.
	StartYear9999 Attack = "start-year-9999"
	// Users' names and Stats directions carry ESC, OSC, C1, bidi-override
	// and zero-width characters.
	TerminalEscapes Attack = "terminal-escapes"
)

// Escapes is what TerminalEscapes puts into names and directions.
const Escapes = "\x1b]0;owned\x07\x1b[2J\u009b31m\u202e\u200b"

// Server is the hostile VCC on a loopback port, with a capture server on
// another port that records every request redirected to it. It serves the
// same VCC over https too, on a third port (TLSURL), with a self-signed
// certificate for 127.0.0.1 (CertPEM) that a client must be told to trust.
type Server struct {
	Sim     *vccsim.Sim
	URL     string // plain http
	TLSURL  string // https
	CertPEM []byte // the TLS front's certificate, PEM-encoded
	Capture *Capture

	attack atomic.Value // Attack
	srv    *httptest.Server
	tls    *httptest.Server
	pages  atomic.Int64
	mu     sync.Mutex
	secret string // client_secret of the last token request, for EchoSecrets
}

// Start serves sim behind the hostile front.
func Start(sim *vccsim.Sim) *Server {
	s := &Server{Sim: sim, Capture: startCapture()}
	s.attack.Store(None)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	s.tls = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.TLSURL = s.tls.URL
	s.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.tls.Certificate().Raw})
	return s
}

// Close stops the servers.
func (s *Server) Close() { s.srv.Close(); s.tls.Close(); s.Capture.srv.Close() }

// Set switches the attack (None: the simulator as it is).
func (s *Server) Set(a Attack) { s.attack.Store(a) }

// AuthURL is the token endpoint.
func (s *Server) AuthURL() string { return s.URL + "/Auth/connect/token" }

// TLSAuthURL is the token endpoint of the TLS front.
func (s *Server) TLSAuthURL() string { return s.TLSURL + "/Auth/connect/token" }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	a := s.attack.Load().(Attack)
	tokenReq := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/connect/token")
	listing := r.URL.Path == "/interaction-content/interactions"
	download := strings.HasPrefix(r.URL.Path, "/interaction-content/interactions/") && strings.Contains(r.URL.Path, "/content/")
	if tokenReq {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseForm(); err == nil {
			s.mu.Lock()
			s.secret = r.PostForm.Get("client_secret")
			s.mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	switch {
	case tokenReq && (a == TokenRedirect307 || a == TokenRedirect308):
		code := http.StatusTemporaryRedirect
		if a == TokenRedirect308 {
			code = http.StatusPermanentRedirect
		}
		http.Redirect(w, r, s.Capture.URL+r.URL.Path, code)
	case tokenReq && a == TokenWithoutAccessToken:
		s.rewrite(w, r, func(v any) { delete(v.(map[string]any), "access_token") })
	case tokenReq && a == TokenNegativeExpiry:
		s.rewrite(w, r, func(v any) { v.(map[string]any)["expires_in"] = -100 })
	case tokenReq && a == TokenAbsurdExpiry:
		s.rewrite(w, r, func(v any) { v.(map[string]any)["expires_in"] = 1e12 })
	case download && a == DownloadRedirectOtherPort:
		http.Redirect(w, r, s.Capture.URL+r.URL.RequestURI(), http.StatusFound)
	case download && a == DownloadRedirectFile:
		w.Header().Set("Location", "file:///etc/passwd")
		w.WriteHeader(http.StatusFound)
	case (download && a == DownloadRedirectToHTTP) || (listing && a == ListingRedirectToHTTP):
		http.Redirect(w, r, s.Capture.URL+r.URL.RequestURI(), http.StatusFound)
	case download && a == DownloadRedirectLoop:
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
	case listing && a == EchoSecrets:
		s.mu.Lock()
		sec := s.secret
		s.mu.Unlock()
		msg := fmt.Sprintf("invalid request from %s (client_secret=%s)", r.Header.Get("Authorization"), sec)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
	case listing && a == Unauthorized:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message":"Unauthorized"}`)
	case listing && (a == EndlessPages || a == RepeatedContinuation):
		q := r.URL.Query()
		q.Del("continuationToken") // the simulator's first page, every time
		r.URL.RawQuery = q.Encode()
		n := s.pages.Add(1)
		s.rewrite(w, r, func(v any) {
			next := "repeat"
			if a == EndlessPages {
				next = "page-" + strconv.FormatInt(n, 10)
			}
			if m, ok := v.(map[string]any)["meta"].(map[string]any); ok {
				m["nextContinuationToken"] = next
			}
		})
	case a == EndlessUsersPage && r.URL.Path == "/useradmin/users":
		endlessUsers(w)
	case listing && a == StartYear9999:
		s.rewrite(w, r, func(v any) {
			if items, ok := v.(map[string]any)["items"].([]any); ok && len(items) > 0 {
				items[0].(map[string]any)["start"] = "9999-12-31T23:59:59.000Z"
			}
		})
	case a == TerminalEscapes && (strings.HasPrefix(r.URL.Path, "/useradmin/") || strings.HasPrefix(r.URL.Path, "/stats/")):
		s.rewrite(w, r, func(v any) { poison(v) })
	default:
		s.Sim.Handler().ServeHTTP(w, r)
	}
}

// endlessUsers writes a users page that goes on until the client hangs up.
func endlessUsers(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/vnd.newvoicemedia.v4+json")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	pad := strings.Repeat("x", 16<<10)
	if _, err := io.WriteString(bw, `{"meta":{"page":1,"pageCount":1},"users":[`); err != nil {
		return
	}
	for i := 0; ; i++ {
		sep := ","
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(bw, `%s{"userId":"u-%09d","username":"user%[2]d","name":"User %[2]d","active":true,"padding":"%[3]s"}`, sep, i, pad); err != nil {
			return
		}
	}
}

// poison puts Escapes into every name and direction of a JSON value.
func poison(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && (k == "name" || k == "direction" || k == "groupName") {
				v[k] = Escapes + s + Escapes
				continue
			}
			poison(x)
		}
	case []any:
		for _, x := range v {
			poison(x)
		}
	}
}

// rewrite serves the simulator's answer to r with its JSON body changed by
// edit (a non-JSON or non-2xx answer goes out as it is).
func (s *Server) rewrite(w http.ResponseWriter, r *http.Request, edit func(any)) {
	rec := httptest.NewRecorder()
	s.Sim.Handler().ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	var v any
	if rec.Code/100 == 2 && json.Unmarshal(body, &v) == nil {
		edit(v)
		body, _ = json.Marshal(v)
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// Capture is where redirects point: it records every request and answers
// 403, as storage does to a request it does not recognise.
type Capture struct {
	URL string
	srv *httptest.Server

	mu   sync.Mutex
	reqs []Captured
}

// Captured is one request the capture server saw.
type Captured struct {
	Method, Path, Authorization string
	Body                        string
}

func startCapture() *Capture {
	c := &Capture{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		c.mu.Lock()
		c.reqs = append(c.reqs, Captured{Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), Body: string(body)})
		c.mu.Unlock()
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	// Same host name as the hostile server, another port: Go's own
	// redirect rule compares host names only.
	c.URL = c.srv.URL
	return c
}

// Requests returns what the capture server saw, and forgets it.
func (c *Capture) Requests() []Captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}
