package vccsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

// Handler serves the VCC APIs (token endpoint, Content, User Admin, Stats)
// and the simulator's own /_sim endpoints.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// request is one routed request.
type request struct {
	w      *recorder
	r      *http.Request
	route  string
	params []string // path parameters, unescaped
	fault  Fault
	scope  string
}

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
	rec := &recorder{ResponseWriter: w}
	q := &request{w: rec, r: r}
	var handle func(*request)
	var scope, accept string
	download, isJSON := false, true
	switch {
	case "/"+strings.Join(segs, "/") == tokenPath:
		q.route, handle = RouteToken, s.serveToken
	case match(segs, "interaction-content", "interactions"):
		q.route, handle, scope, accept = RouteInteractions, s.serveInteractions, ScopeContent, acceptContent
	case match(segs, "interaction-content", "interactions", "*"):
		q.route, handle, scope, accept = RouteInteraction, s.serveInteraction, ScopeContent, acceptContent
	case match(segs, "interaction-content", "interactions", "*", "content", "*"):
		q.route, handle, scope = RouteContent, s.serveContent, ScopeContent
		download, isJSON = true, false
	case match(segs, "useradmin", "users"):
		q.route, handle, scope, accept = RouteUsers, s.serveUsers, ScopeUsers, acceptUsers
	case match(segs, "useradmin", "users", "*"):
		q.route, handle, scope, accept = RouteUser, s.serveUser, ScopeUsers, acceptUsers
	case match(segs, "stats", "interactions"):
		q.route, handle, scope, accept = RouteStatsInteractions, s.serveStatsInteractions, ScopeStats, acceptStats
	case match(segs, "stats", "interactions", "*"):
		q.route, handle, scope, accept = RouteStatsInteraction, s.serveStatsInteraction, ScopeStats, acceptStats
	default:
		rec.onHeader = func(code int) { s.count(r.Method, "unknown", code, "") }
		writeMessage(rec, http.StatusNotFound, "No HTTP resource was found that matches the request URI.")
		return
	}
	for i, seg := range segs {
		if len(segs) > 2 && (i == 2 || i == 4) {
			q.params = append(q.params, seg)
		}
	}
	// Counted when the status is sent, so a test that has read a whole
	// body sees its request counted.
	rec.onHeader = func(code int) { s.count(r.Method, q.route, code, q.scope) }

	wantMethod := http.MethodGet
	if q.route == RouteToken {
		wantMethod = http.MethodPost
	}
	if r.Method != wantMethod {
		rec.Header().Set("Allow", wantMethod)
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
	if q.route == RouteToken && r.ParseForm() == nil {
		q.scope = r.PostForm.Get("scope") // counted by the scope asked for
	}
	s.mu.Lock()
	fs := s.faults
	s.mu.Unlock()
	q.fault = fs.decide(q.route, download, isJSON)
	switch q.fault {
	case Fault429:
		rec.Header().Set("Retry-After", strconv.Itoa(int((fs.f.RetryAfter+time.Second-1)/time.Second)))
		writeMessage(rec, http.StatusTooManyRequests, "Too many requests.")
		return
	case Fault5xx:
		code := []int{500, 502, 503}[fs.int(3)]
		writeMessage(rec, code, http.StatusText(code))
		return
	case FaultTokenOutage:
		writeMessage(rec, http.StatusServiceUnavailable, "Service Unavailable")
		return
	case FaultSlowFirstByte:
		select {
		case <-time.After(fs.f.SlowFirstByte):
		case <-r.Context().Done():
			return
		}
	}
	if scope != "" {
		tok, ok := s.authorize(rec, r, scope)
		if !ok {
			return
		}
		q.scope = tok.scope
		if accept != "" && !accepts(r.Header.Get("Accept"), accept) {
			writeMessage(rec, http.StatusNotAcceptable, fmt.Sprintf("This API answers %s; the Accept header asked for %q.", accept, r.Header.Get("Accept")))
			return
		}
	}
	handle(q)
}

func match(segs []string, pattern ...string) bool {
	if len(segs) != len(pattern) {
		return false
	}
	for i, p := range pattern {
		if p != "*" && p != segs[i] {
			return false
		}
	}
	return true
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

// accepts reports whether an Accept header admits media type want.
func accepts(header, want string) bool {
	if header == "" {
		return true
	}
	for _, part := range strings.Split(header, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == want || mt == "*/*" || (want == acceptUsers && mt == "application/*") {
			return true
		}
	}
	return false
}

// recorder remembers the status for the request counters.
type recorder struct {
	http.ResponseWriter
	code     int
	onHeader func(code int)
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
		if r.onHeader != nil {
			r.onHeader(code)
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func writeMessage(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
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

// writeBody writes a JSON answer, malformed if the request drew that fault.
func (q *request) writeBody(contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeMessage(q.w, http.StatusInternalServerError, "internal error")
		return
	}
	if q.fault == FaultMalformedJSON {
		b = b[:len(b)/2]
	}
	q.w.Header().Set("Content-Type", contentType+"; charset=utf-8")
	q.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write(b)
}

// ---- Authentication API ----

func (s *Sim) serveToken(q *request) {
	w, r := q.w, q.r
	oauthErr := func(code, desc string) {
		writeJSON(w, tokenErrorStatus, map[string]string{"error": code, "error_description": desc})
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		oauthErr("invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr("invalid_request", "malformed form body")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: Basic credentials are form-encoded first.
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthErr("unsupported_grant_type", "only client_credentials is supported")
		return
	}
	var cred *Credential
	for i := range s.cfg.Credentials {
		c := &s.cfg.Credentials[i]
		if c.ClientID == id && c.ClientSecret == secret && id != "" {
			cred = c
		}
	}
	if cred == nil {
		oauthErr("invalid_client", "")
		return
	}
	scope := r.PostForm.Get("scope")
	if strings.Contains(strings.TrimSpace(scope), " ") || !cred.has(scope) {
		oauthErr("invalid_scope", "")
		return
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	s.mu.Lock()
	s.tokens[tok] = token{cred: cred, scope: scope, expires: s.nowLocked().Add(s.cfg.TokenTTL)}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int(s.cfg.TokenTTL / time.Second),
		"token_type":   "Bearer",
		"scope":        scope,
	})
}

// authorize checks the bearer token: missing, unknown or expired → 401, a
// token for another scope → 403.
func (s *Sim) authorize(w http.ResponseWriter, r *http.Request, scope string) (token, bool) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		raw, ok = strings.CutPrefix(h, "bearer ")
	}
	s.mu.Lock()
	tok, known := s.tokens[raw]
	now := s.nowLocked()
	s.mu.Unlock()
	switch {
	case !ok || !known || !now.Before(tok.expires):
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeMessage(w, http.StatusUnauthorized, "Authorization has been denied for this request.")
		return token{}, false
	case tok.scope != scope:
		writeMessage(w, http.StatusForbidden, fmt.Sprintf("The access token does not grant the %s scope this resource needs.", scope))
		return token{}, false
	}
	return tok, true
}

// credentialOf is the credential behind a request's (already checked) token.
func (s *Sim) credentialOf(r *http.Request) *Credential {
	raw := strings.TrimPrefix(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[raw].cred
}

// ---- query parsing ----

type queryErr struct{ msg string }

func (e queryErr) Error() string { return e.msg }

func parseTimeParam(v url.Values, name string, required bool, def time.Time) (time.Time, error) {
	raw := v.Get(name)
	if raw == "" {
		if required {
			return time.Time{}, queryErr{fmt.Sprintf("The '%s' parameter is required.", name)}
		}
		return def, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, raw); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, queryErr{fmt.Sprintf("The value '%s' is not valid for '%s': use ISO 8601.", raw, name)}
}

func parseIntParam(v url.Values, name string, def, lo, hi int) (int, error) {
	raw := v.Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, queryErr{fmt.Sprintf("The value '%s' is not valid for '%s': use a whole number from %d to %d.", raw, name, lo, hi)}
	}
	return n, nil
}

// ---- Interaction Content API ----

// visible decides whether cred sees it on the Content API at now, and if not,
// why. This is the silent permission filter.
func (s *Sim) visible(cred *Credential, it *dataset.Interaction, now time.Time) (bool, string) {
	switch {
	case len(it.Content) == 0:
		return false, "not recorded: the interaction has no content"
	case now.Before(it.End().Add(s.cfg.ContentDelay)):
		return false, fmt.Sprintf("not yet available: content appears %s after the call ends", s.cfg.ContentDelay)
	case it.Direction == "inbound" && !cred.Permissions.ViewInbound:
		return false, "permission: the credential's user lacks 'View inbound interaction content'"
	case it.Direction == "outbound" && !cred.Permissions.ViewOutbound:
		return false, "permission: the credential's user lacks 'View outbound interaction content'"
	case !cred.Permissions.AccessGroups && !containsString(cred.OwnerGroups, it.Agent.Group().Name):
		return false, fmt.Sprintf("permission: the credential's user lacks 'Access groups of users' content' and agent group %q is outside the user's own reporting line", it.Agent.Group().Name)
	}
	return true, ""
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Sim) serveInteractions(q *request) {
	v := q.r.URL.Query()
	start, err := parseTimeParam(v, "start", true, time.Time{})
	var end time.Time
	if err == nil {
		end, err = parseTimeParam(v, "end", true, time.Time{})
	}
	page, size := 1, contentDefaultPageSize
	if err == nil {
		page, err = parseIntParam(v, "page", 1, 1, 1<<30)
	}
	if err == nil {
		size, err = parseIntParam(v, "pageSize", contentDefaultPageSize, 1, contentMaxPageSize)
	}
	if err == nil {
		err = checkWindow(start, end, contentMaxWindowDays)
	}
	dir := v.Get("direction")
	if err == nil && dir != "" && dir != "inbound" && dir != "outbound" {
		err = queryErr{fmt.Sprintf("The value '%s' is not valid for 'direction': use inbound or outbound.", dir)}
	}
	for _, p := range []string{"connectFrom", "connectTo"} {
		if n := len(v.Get(p)); err == nil && v.Has(p) && (n < 1 || n > 50) {
			err = queryErr{fmt.Sprintf("The '%s' parameter must be 1 to 50 characters.", p)}
		}
	}
	if err != nil {
		writeMessage(q.w, http.StatusBadRequest, err.Error())
		return
	}
	cred := s.credentialOf(q.r)
	now := s.Now()
	agent := v.Get("handlingAgentId")
	var matched []*dataset.Interaction
	for _, it := range s.data.Between(start, end) {
		if ok, _ := s.visible(cred, it, now); !ok {
			continue
		}
		if (agent != "" && it.Agent.AgentID != agent) || (dir != "" && it.Direction != dir) ||
			!strings.HasPrefix(it.ConnectFrom, v.Get("connectFrom")) || !strings.HasPrefix(it.ConnectTo, v.Get("connectTo")) {
			continue
		}
		matched = append(matched, it)
	}
	lo, hi, m := wire.Page(len(matched), page, size)
	items := make([]wire.Interaction, 0, hi-lo)
	for _, it := range matched[lo:hi] {
		items = append(items, wire.NewInteraction(it, it.End().Add(s.cfg.ContentDelay), s.cfg.OmitContentDirection))
	}
	q.writeBody(acceptContent, map[string]any{"meta": m, "items": items})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func checkWindow(start, end time.Time, maxDays int) error {
	if !end.After(start) {
		return queryErr{"The 'end' parameter must be later than 'start'."}
	}
	if end.Sub(start) > time.Duration(maxDays)*24*time.Hour {
		return queryErr{fmt.Sprintf("Request window size limit exceeded %d days", maxDays)}
	}
	return nil
}

// visibleInteraction finds an interaction the request's credential may see.
func (s *Sim) visibleInteraction(q *request) (*dataset.Interaction, bool) {
	it, ok := s.data.Interaction(q.params[0])
	if ok {
		ok, _ = s.visible(s.credentialOf(q.r), it, s.Now())
	}
	if !ok {
		writeMessage(q.w, http.StatusNotFound, "Interaction not found.")
	}
	return it, ok
}

func (s *Sim) serveInteraction(q *request) {
	if it, ok := s.visibleInteraction(q); ok {
		q.writeBody(acceptContent, wire.NewInteraction(it, it.End().Add(s.cfg.ContentDelay), s.cfg.OmitContentDirection))
	}
}

func (s *Sim) serveContent(q *request) {
	it, ok := s.visibleInteraction(q)
	if !ok {
		return
	}
	var item *dataset.Item
	for i := range it.Content {
		if it.Content[i].Key == q.params[1] {
			item = &it.Content[i]
		}
	}
	if item == nil {
		writeMessage(q.w, http.StatusNotFound, "Content not found.")
		return
	}
	size := item.Length
	lo, hi, partial, err := parseRange(q.r.Header.Get("Range"), size)
	if err != nil {
		q.w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		writeMessage(q.w, http.StatusRequestedRangeNotSatisfiable, err.Error())
		return
	}
	body := s.data.Open(it, item)
	if _, err := body.Seek(lo, io.SeekStart); err != nil {
		writeMessage(q.w, http.StatusInternalServerError, "seek failed")
		return
	}
	n := hi - lo
	h := q.w.Header()
	h.Set("Content-Type", item.ContentType)
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	h.Set("Accept-Ranges", "bytes")
	code := http.StatusOK
	if partial {
		code = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", lo, hi-1, size))
	}
	s.mu.Lock()
	s.loads[it.GUID+"/"+item.Key]++
	s.mu.Unlock()
	q.w.WriteHeader(code)
	switch q.fault {
	case FaultReset, FaultShortBody:
		cut := n / 2
		_, _ = io.CopyN(q.w, body, cut)
		if q.fault == FaultReset {
			resetConn(q.w)
		}
		return // short body: the server closes the connection
	}
	_, _ = io.CopyN(q.w, body, n)
}

// resetConn flushes what was written and resets the TCP connection.
func resetConn(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// parseRange parses a single-range Range header against size.
func parseRange(h string, size int64) (lo, hi int64, partial bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false, fmt.Errorf("unsupported Range %q: use one bytes= range", h)
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false, fmt.Errorf("malformed Range %q", h)
	}
	switch {
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, fmt.Errorf("malformed Range %q", h)
		}
		return max(size-n, 0), size, true, nil
	default:
		lo, err = strconv.ParseInt(a, 10, 64)
		if err != nil || lo < 0 || lo >= size {
			return 0, 0, false, fmt.Errorf("Range %q is outside the %d-byte content", h, size)
		}
		hi = size
		if b != "" {
			last, err := strconv.ParseInt(b, 10, 64)
			if err != nil || last < lo {
				return 0, 0, false, fmt.Errorf("malformed Range %q", h)
			}
			hi = min(last+1, size)
		}
		return lo, hi, true, nil
	}
}
