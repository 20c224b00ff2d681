package vccsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Handler serves the VCC APIs (token endpoint, Content, User Admin, Stats)
// and the simulator's own /_sim endpoints.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// api is one of the resource APIs: what its tokens must carry and which
// Accept header it takes.
type api struct {
	scopes    []string // a token issued for any of these may call it
	negotiate func(accept string) (version int, fail func(http.ResponseWriter))
}

var (
	contentAPI = &api{scopes: []string{ScopeContent}, negotiate: negotiateContent}
	usersAPI   = &api{scopes: []string{ScopeUsers, ScopeUsersWrite}, negotiate: negotiateUsers}
	statsAPI   = &api{scopes: []string{ScopeStats}, negotiate: negotiateStats}
)

// endpoint is one route: its path pattern ("*" is a path parameter).
type endpoint struct {
	route    string
	method   string
	pattern  []string
	api      *api // nil for the token endpoint
	handle   func(*Sim, *request)
	download bool // serves bytes, not JSON
}

var endpoints = []endpoint{
	{RouteToken, http.MethodPost, strings.Split(strings.Trim(tokenPath, "/"), "/"), nil, (*Sim).serveToken, false},
	{RouteInteractions, http.MethodGet, []string{"interaction-content", "interactions"}, contentAPI, (*Sim).serveInteractions, false},
	{RouteInteraction, http.MethodGet, []string{"interaction-content", "interactions", "*"}, contentAPI, (*Sim).serveInteraction, false},
	{RouteContent, http.MethodGet, []string{"interaction-content", "interactions", "*", "content", "*"}, contentAPI, (*Sim).serveContent, true},
	{RouteUsers, http.MethodGet, []string{"useradmin", "users"}, usersAPI, (*Sim).serveUsers, false},
	{RouteUser, http.MethodGet, []string{"useradmin", "users", "*"}, usersAPI, (*Sim).serveUser, false},
	{RouteUserByAgent, http.MethodGet, []string{"useradmin", "users", "by", "agentDisplayId", "*"}, usersAPI, (*Sim).serveUserByAgent, false},
	{RouteUserGroups, http.MethodGet, []string{"useradmin", "users", "*", "groups"}, usersAPI, (*Sim).serveUserGroups, false},
	{RouteGroup, http.MethodGet, []string{"useradmin", "groups", "*"}, usersAPI, (*Sim).serveGroup, false},
	{RouteGroupUsers, http.MethodGet, []string{"useradmin", "groups", "*", "users"}, usersAPI, (*Sim).serveGroupUsers, false},
	{RouteStatsInteractions, http.MethodGet, []string{"stats", "interactions"}, statsAPI, (*Sim).serveStatsInteractions, false},
	{RouteStatsInteraction, http.MethodGet, []string{"stats", "interactions", "*"}, statsAPI, (*Sim).serveStatsInteraction, false},
}

// request is one routed request.
type request struct {
	w       *recorder
	r       *http.Request
	route   string
	params  []string // path parameters, unescaped
	fault   Fault
	scope   string // the scope the request is counted under
	cred    *Credential
	version int // the API version the Accept header chose
}

// serve answers one request. The order of the checks, decided once:
//
//  1. the route (404) and its method (405);
//  2. Config.Latency, then any injected fault (429, 5xx, slow first byte);
//  3. on the token endpoint, the token request itself;
//  4. the bearer token (401);
//  5. the account's fair-usage limit (429): only a request that carries a
//     valid token is the account's, so only those count;
//  6. the Accept header (400);
//  7. the endpoint: its parameters (400), then the resource (404, 403).
func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		writeMessage(w, http.StatusBadRequest, "Malformed request path.")
		return
	}
	if len(segs) > 0 && segs[0] == "_sim" {
		s.serveSim(w, r, segs[1:])
		return
	}
	rec := &recorder{ResponseWriter: w, sim: s, method: r.Method, route: "unknown"}
	q := &request{w: rec, r: r, route: "unknown"}
	// Counted when the status is sent, so a test that has read a whole
	// body sees its request counted.
	rec.onHeader = func(code int) { s.count(r.Method, q.route, code, q.scope) }
	ep, params := route(segs)
	if ep == nil {
		writeMessage(rec, http.StatusNotFound, "No HTTP resource was found that matches the request URI.")
		return
	}
	q.route, q.params, rec.route = ep.route, params, ep.route

	if r.Method != ep.method {
		rec.Header().Set("Allow", ep.method)
		writeMessage(rec, http.StatusMethodNotAllowed, fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return
	}
	if s.cfg.Latency > 0 {
		select {
		case <-time.After(s.cfg.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if ep.api == nil && r.ParseForm() == nil {
		q.scope = r.PostForm.Get("scope") // counted by the scope asked for
	}
	if !s.injectFault(q, ep) {
		return
	}
	if ep.api == nil {
		ep.handle(s, q)
		return
	}
	cred, scope, ok := s.authorize(rec, r, ep.api.scopes)
	if !ok {
		return
	}
	q.cred, q.scope = cred, scope
	if !s.limiter.allow() {
		// No Retry-After: the docs promise only a reset "after a short
		// period".
		writeMessage(rec, http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	version, fail := ep.api.negotiate(r.Header.Get("Accept"))
	if fail != nil {
		fail(rec)
		return
	}
	q.version = version
	ep.handle(s, q)
}

// injectFault draws the request's fault and answers it if the fault is the
// whole answer; it reports whether to go on.
func (s *Sim) injectFault(q *request, ep *endpoint) bool {
	s.mu.Lock()
	fs := s.faults
	s.mu.Unlock()
	q.fault = fs.decide(q.route, ep.download, !ep.download && ep.api != nil)
	switch q.fault {
	case Fault429:
		q.w.Header().Set("Retry-After", strconv.Itoa(int((fs.f.RetryAfter+time.Second-1)/time.Second)))
		writeMessage(q.w, http.StatusTooManyRequests, "Too Many Requests")
		return false
	case Fault5xx:
		if ep.api == nil {
			// The token endpoint's documented server fault.
			writeOAuthError(q.w, http.StatusInternalServerError, "Internal Server Error", "An internal server error occurred")
			return false
		}
		code := []int{500, 502, 503}[fs.int(3)]
		writeMessage(q.w, code, http.StatusText(code))
		return false
	case FaultTokenOutage:
		writeMessage(q.w, http.StatusServiceUnavailable, "Service Unavailable")
		return false
	case FaultSlowFirstByte:
		select {
		case <-time.After(fs.f.SlowFirstByte):
		case <-q.r.Context().Done():
			return false
		}
	}
	return true
}

// route finds the endpoint of a path and its path parameters.
func route(segs []string) (*endpoint, []string) {
	for i := range endpoints {
		ep := &endpoints[i]
		if len(segs) != len(ep.pattern) {
			continue
		}
		var params []string
		ok := true
		for j, p := range ep.pattern {
			switch {
			case p == "*":
				params = append(params, segs[j])
			case p != segs[j]:
				ok = false
			}
		}
		if ok {
			return ep, params
		}
	}
	return nil, nil
}

// splitPath splits an escaped path into unescaped segments, so that an id
// holding "/" or ".." (escaped by the client) stays one segment.
func splitPath(p string) ([]string, error) {
	var out []string
	for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
		if seg == "" {
			continue
		}
		u, err := url.PathUnescape(seg)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// recorder remembers the status for the request counters and the message
// of a rejection.
type recorder struct {
	http.ResponseWriter
	sim           *Sim
	method, route string
	code          int
	onHeader      func(code int)
	noted         bool
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
		if r.onHeader != nil {
			r.onHeader(code)
		}
		if isRejection(code) && r.Header().Get("Content-Length") == "0" {
			r.note(nil)
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if isRejection(r.code) && !r.noted {
		// Noted before the client can read it: error bodies are written
		// whole, in one Write.
		r.note(p)
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) note(body []byte) {
	r.noted = true
	r.sim.reject(Rejection{Method: r.method, Route: r.route, Status: r.code, Message: messageOf(body)})
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func isRejection(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusNotAcceptable:
		return true
	}
	return false
}

// messageOf is the message of an error body: its "message", or an OAuth
// error with its description.
func messageOf(body []byte) string {
	var v struct {
		Message     string `json:"message"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &v) != nil {
		return string(body)
	}
	switch {
	case v.Message != "":
		return v.Message
	case v.Description != "":
		return v.Error + ": " + v.Description
	}
	return v.Error
}

// message is the error body of the resource APIs.
type message struct {
	Message string `json:"message"`
}

// boom is the error body User Admin and Stats use for some errors.
type boom struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

// oauthError is the error body of the token endpoint and the gateway.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeMessage(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, message{Message: msg})
}

func writeBoom(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, boom{StatusCode: code, Error: http.StatusText(code), Message: msg})
}

func writeOAuthError(w http.ResponseWriter, code int, err, desc string) {
	writeJSON(w, code, oauthError{Error: err, Description: desc})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeBody writes a successful JSON answer in the negotiated media type,
// malformed if the request drew that fault.
func (q *request) writeBody(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeMessage(q.w, http.StatusInternalServerError, "internal error")
		return
	}
	if q.fault == FaultMalformedJSON {
		b = b[:len(b)/2]
	}
	q.w.Header().Set("Content-Type", vndType(q.version)+"; charset=utf-8")
	q.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write(b)
}

// writeNoContent answers 204 No Content with an empty body.
func (q *request) writeNoContent() {
	q.w.WriteHeader(http.StatusNoContent)
}
