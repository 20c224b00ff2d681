package vccsim

import (
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

// ---- Interaction Content API ----

// hiding says why a credential does not see an interaction on the Content
// API now; the zero value means it does.
type hiding struct {
	why        string
	permission bool // hidden by the credential's permissions, not absent
}

// hide decides whether cred sees it on the Content API at now. This is the
// silent permission filter.
func (s *Sim) hide(cred *Credential, it *dataset.Interaction, now time.Time) hiding {
	group := it.Agent.Group().Name
	switch {
	case len(it.Content) == 0:
		return hiding{why: "not recorded: the interaction has no content"}
	case now.Before(s.contentAvailable(it)):
		return hiding{why: fmt.Sprintf("not yet available: content appears %s after the call ends", s.cfg.ContentDelay)}
	case it.Direction == "inbound" && !cred.Permissions.ViewInbound:
		return hiding{"permission: the credential's user lacks 'View inbound interaction content'", true}
	case it.Direction == "outbound" && !cred.Permissions.ViewOutbound:
		return hiding{"permission: the credential's user lacks 'View outbound interaction content'", true}
	case !cred.Permissions.AccessGroups && !containsString(cred.OwnerGroups, group):
		return hiding{fmt.Sprintf("permission: the credential's user lacks 'Access groups of users' content' and agent group %q is outside the user's own reporting line", group), true}
	}
	return hiding{}
}

// visible reports whether cred sees it on the Content API at now, and if
// not, why.
func (s *Sim) visible(cred *Credential, it *dataset.Interaction, now time.Time) (bool, string) {
	h := s.hide(cred, it, now)
	return h.why == "", h.why
}

// contentAvailable is when an interaction's content appears (and was last
// modified).
func (s *Sim) contentAvailable(it *dataset.Interaction) time.Time {
	return it.End().Add(s.cfg.ContentDelay)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Sim) render(it *dataset.Interaction) wire.Interaction {
	return wire.NewInteraction(it, s.contentAvailable(it), s.cfg.OmitContentDirection)
}

// search is a parsed GET /interactions query.
type search struct {
	start, end           time.Time
	limit                int
	connectFrom, connect string // connectFrom, connectTo prefixes
	agent, direction     string
}

func parseSearch(v url.Values) (search, error) {
	var q search
	err := firstErr(
		func() (err error) { q.start, err = parseTimeParam(v, "start", true, time.Time{}); return },
		func() (err error) { q.end, err = parseTimeParam(v, "end", true, time.Time{}); return },
		func() error { return checkWindow(q.start, q.end, contentMaxWindowDays) },
		func() (err error) {
			q.limit, err = parseIntParam(v, "limit", contentDefaultLimit, 1, contentMaxLimit)
			return
		},
		func() error {
			for _, p := range []string{"connectFrom", "connectTo"} {
				if n := utf8.RuneCountInString(v.Get(p)); v.Has(p) && (n < 1 || n > 50) {
					return paramError{fmt.Sprintf("The '%s' parameter must be 1 to 50 characters long.", p)}
				}
			}
			return nil
		},
		func() error {
			if d := v.Get("direction"); v.Has("direction") && d != "inbound" && d != "outbound" {
				return paramError{fmt.Sprintf("The value '%s' is not valid for 'direction': use inbound or outbound.", d)}
			}
			return nil
		},
	)
	q.connectFrom, q.connect = v.Get("connectFrom"), v.Get("connectTo")
	q.agent, q.direction = v.Get("handlingAgentId"), v.Get("direction")
	return q, err
}

// matches lists, in start order, the interactions of the search that cred
// sees now.
func (s *Sim) matches(q search, cred *Credential) []*dataset.Interaction {
	end := q.end
	if s.cfg.Readings.EndInclusive {
		end = end.Add(time.Nanosecond) // Between is half-open
	}
	now := s.Now()
	var out []*dataset.Interaction
	for _, it := range s.data.Between(q.start, end) {
		switch {
		case s.hide(cred, it, now).why != "",
			q.agent != "" && it.Agent.AgentID != q.agent,
			q.direction != "" && it.Direction != q.direction,
			!strings.HasPrefix(it.ConnectFrom, q.connectFrom),
			!strings.HasPrefix(it.ConnectTo, q.connect):
			continue
		}
		out = append(out, it)
	}
	return out
}

// serveInteractions is GET /interactions: continuation tokens on v3, page
// numbers on v2. Unknown parameters (pageSize, page on v3) are ignored, as
// a real server ignores them.
func (s *Sim) serveInteractions(q *request) {
	v := q.r.URL.Query()
	sq, err := parseSearch(v)
	page := 1
	if err == nil && q.version == 2 {
		page, err = parseIntParam(v, "page", 1, 1, 1<<30)
	}
	var after *cursor
	if err == nil && q.version == 3 && v.Has("continuationToken") {
		after, err = s.openCursor(v.Get("continuationToken"), sq)
	}
	if err != nil {
		writeMessage(q.w, http.StatusBadRequest, err.Error())
		return
	}
	matched := s.matches(sq, q.cred)
	var items []*dataset.Interaction
	var meta any
	if q.version == 2 {
		var lo, hi int
		var m wire.Meta
		lo, hi, m = wire.Page(len(matched), page, sq.limit)
		items, meta = matched[lo:hi], m
	} else {
		lo := 0
		if after != nil {
			lo = after.position(matched)
		}
		hi := min(lo+sq.limit, len(matched))
		items = matched[lo:hi]
		var next *string
		if hi < len(matched) {
			tok := s.sealCursor(sq, matched[hi-1])
			next = &tok
		}
		meta = struct {
			NextContinuationToken *string `json:"nextContinuationToken"`
		}{next}
	}
	if len(items) == 0 && s.cfg.Readings.EmptySearch204 {
		q.writeNoContent()
		return
	}
	out := make([]wire.Interaction, 0, len(items))
	for _, it := range items {
		out = append(out, s.render(it))
	}
	q.writeBody(struct {
		Items []wire.Interaction `json:"items"`
		Meta  any                `json:"meta"`
	}{out, meta})
}

// checkGUID checks an interaction id as the API does before looking it up.
func checkGUID(id string) error {
	if utf8.RuneCountInString(id) != 36 {
		return paramError{"GUID must be 36 characters in length"}
	}
	for i, c := range id {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return paramError{fmt.Sprintf("GUID '%s' is not a valid UUID string", id)}
			}
			continue
		}
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return paramError{fmt.Sprintf("GUID '%s' is not a valid UUID string", id)}
		}
	}
	return nil
}

// checkContentKey checks a content key against the documented syntax:
// 1 to 36 characters of [0-9a-zA-Z!-_.,*'()].
func checkContentKey(key string) error {
	ok := len(key) >= 1 && len(key) <= 36
	for _, c := range key {
		if !ok {
			break
		}
		ok = c < utf8.RuneSelf && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("!-_.,*'()", c))
	}
	if !ok {
		return paramError{fmt.Sprintf("contentKey '%s' is not valid: use 1 to 36 characters of 0-9, a-z, A-Z and !-_.,*'()", key)}
	}
	return nil
}

// visibleInteraction finds the interaction of the request's path that its
// credential may see, or answers why not.
func (s *Sim) visibleInteraction(q *request) (*dataset.Interaction, bool) {
	guid := q.params[0]
	if err := checkGUID(guid); err != nil {
		writeMessage(q.w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	it, ok := s.data.Interaction(guid)
	if !ok {
		writeMessage(q.w, http.StatusNotFound, fmt.Sprintf("Interaction '%s' not found", guid))
		return nil, false
	}
	switch h := s.hide(q.cred, it, s.Now()); {
	case h.permission && s.cfg.Readings.hiddenStatus() == http.StatusForbidden:
		writeMessage(q.w, http.StatusForbidden, fmt.Sprintf("Access to interaction '%s' is denied", guid))
		return nil, false
	case h.why != "":
		// Absent, not yet available, or hidden under the 404 reading:
		// all answered as if it did not exist.
		writeMessage(q.w, http.StatusNotFound, fmt.Sprintf("Interaction '%s' not found", guid))
		return nil, false
	}
	return it, true
}

func (s *Sim) serveInteraction(q *request) {
	if it, ok := s.visibleInteraction(q); ok {
		q.writeBody(s.render(it))
	}
}

// serveContent streams one content item, whole or one byte range.
func (s *Sim) serveContent(q *request) {
	if err := firstErr(func() error { return checkGUID(q.params[0]) }, func() error { return checkContentKey(q.params[1]) }); err != nil {
		writeMessage(q.w, http.StatusBadRequest, err.Error())
		return
	}
	it, ok := s.visibleInteraction(q)
	if !ok {
		return
	}
	var item *dataset.Item
	for i := range it.Content {
		// Literal keys are case-insensitive (a doc example asks for
		// "callrecording").
		if strings.EqualFold(it.Content[i].Key, q.params[1]) {
			item = &it.Content[i]
		}
	}
	if item == nil {
		writeMessage(q.w, http.StatusNotFound, fmt.Sprintf("Content '%s' not found", q.params[1]))
		return
	}
	s.mu.Lock()
	fs := s.faults
	s.mu.Unlock()
	if f, ok := fs.contentFault(it.GUID, item.Key); ok {
		q.fault = f
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
	if s.cfg.Readings.OctetStreamDownloads {
		h.Set("Content-Type", "application/octet-stream")
	}
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
	if serveBadContent(q, fs.f, body, n, code) {
		return
	}
	q.w.WriteHeader(code)
	switch q.fault {
	case FaultReset, FaultShortBody:
		_, _ = io.CopyN(q.w, body, n/2)
		if q.fault == FaultReset {
			resetConn(q.w)
		}
		return // short body: the server closes the connection
	}
	_, _ = io.CopyN(q.w, body, n)
}

// serveBadContent answers a download that drew one of the faults of a
// broken or hostile VCC (the headers set for the right answer are
// changed as each needs), and reports whether it did. body is positioned
// at the start of the range asked for, n bytes from its end; code is the
// right answer's status.
func serveBadContent(q *request, f Faults, body io.ReadSeeker, n int64, code int) bool {
	h := q.w.Header()
	switch q.fault {
	case FaultShortLength:
		h.Set("Content-Length", strconv.FormatInt(n/2, 10))
		q.w.WriteHeader(http.StatusOK)
		_, _ = io.CopyN(q.w, body, n/2)
	case FaultChunkedShort, FaultLongBody:
		h.Del("Content-Length")
		h.Del("Content-Range")
		q.w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(q.w).Flush() // chunked, however short
		if q.fault == FaultChunkedShort {
			_, _ = io.CopyN(q.w, body, n/2)
			break
		}
		_, _ = io.CopyN(q.w, body, n)
		_, _ = q.w.Write(make([]byte, 4<<10))
	case FaultGzip:
		h.Del("Content-Length")
		h.Set("Content-Encoding", "gzip")
		q.w.WriteHeader(http.StatusOK)
		zw := gzip.NewWriter(q.w)
		_, _ = io.CopyN(zw, body, n)
		_ = zw.Close()
	case FaultWrongRange:
		if code != http.StatusPartialContent {
			// Not a Range request: break the transfer, so one follows.
			q.w.WriteHeader(http.StatusOK)
			_, _ = io.CopyN(q.w, body, n/2)
			resetConn(q.w)
			break
		}
		// The Content-Range asked for, the bytes from the start.
		q.w.WriteHeader(http.StatusPartialContent)
		if _, err := body.Seek(0, io.SeekStart); err == nil {
			_, _ = io.CopyN(q.w, body, n)
		}
	case FaultHTML:
		h.Del("Content-Length")
		h.Del("Content-Range")
		h.Set("Content-Type", "text/html; charset=utf-8")
		q.w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(q.w, "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body><h1>Service temporarily unavailable</h1></body></html>\n")
	case FaultDrip:
		q.w.WriteHeader(code)
		rc := http.NewResponseController(q.w)
		b := make([]byte, 1)
		for i := int64(0); i < n; i++ {
			if _, err := io.ReadFull(body, b); err != nil {
				break
			}
			_, _ = q.w.Write(b)
			_ = rc.Flush()
			select {
			case <-time.After(f.DripInterval):
			case <-q.r.Context().Done():
				return true
			}
		}
	default:
		return false
	}
	return true
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

// parseRange parses a single-range Range header against size. A unit other
// than bytes is ignored, as RFC 9110 §14.2 requires; a bytes range that
// cannot be served is an error (416).
func parseRange(h string, size int64) (lo, hi int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if h == "" || !ok {
		return 0, size, false, nil
	}
	if strings.Contains(spec, ",") {
		return 0, 0, false, fmt.Errorf("unsupported Range %q: use one bytes= range", h)
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false, fmt.Errorf("malformed Range %q", h)
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, fmt.Errorf("malformed Range %q", h)
		}
		return max(size-n, 0), size, true, nil
	}
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
