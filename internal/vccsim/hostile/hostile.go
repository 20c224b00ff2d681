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
	"time"

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
	// expires_in of 3600.5 seconds, and of 10⁴⁰⁰ (past float64, let
	// alone int64).
	TokenFractionalExpiry Attack = "token-fractional-expires-in"
	TokenHugeExpiry       Attack = "token-huge-expires-in"
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
	// Every download is answered with a header Go's HTTP client refuses as
	// not HTTP: a Content-Length that is not a number, two different
	// Content-Lengths, a Content-Type with a control character, an ETag
	// with a bare CR, a redirect whose Location has a control character.
	DownloadContentLengthNotANumber Attack = "download-content-length-not-a-number"
	DownloadContentLengthTwice      Attack = "download-content-length-twice"
	DownloadContentTypeControlChar  Attack = "download-content-type-control-char"
	DownloadETagBareCR              Attack = "download-etag-bare-cr"
	DownloadLocationControlChar     Attack = "download-location-control-char"
	// Every download comes with headers that are valid HTTP but odd: a
	// non-ASCII ETag, Last-Modified and Expires that are no dates, an
	// unknown header of UTF-8 and Latin-1 bytes. The bytes are right.
	DownloadOddHeaders Attack = "download-odd-headers"
	// A download breaks halfway, and its Range resume is a 206 whose
	// Content-Range is garbage.
	DownloadContentRangeGarbage Attack = "download-content-range-garbage"
	// The interaction listing answers 503 with a Retry-After of 10¹¹
	// seconds (about 3,000 years).
	ListingAbsurdRetryAfter Attack = "listing-absurd-retry-after"
	// The interaction listing answers 400 with a message that echoes the
	// request's bearer token and the client secret the token request sent.
	EchoSecrets Attack = "echo-secrets"
	// Every download answers 400 with the same message as EchoSecrets.
	DownloadEchoSecrets Attack = "download-echo-secrets"
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
	// The interaction listing answers one page that never ends:
	// interactions with a new guid each and 200 KB of digits in their
	// connectTo, until the client hangs up.
	EndlessListingPage Attack = "endless-listing-page"
	// The first interaction of every listing page starts in year 9999.
	StartYear9999 Attack = "start-year-9999"
	// Users' names and Stats directions carry ESC, OSC, C1, bidi-override
	// and zero-width characters.
	TerminalEscapes Attack = "terminal-escapes"
	// The interaction listing answers with a head Go's transport refuses
	// (a Content-Length that is not a number).
	ListingContentLengthNotANumber Attack = "listing-content-length-not-a-number"
	// The Stats listing always has one page more: each page is the first
	// one with new guids, and says there is a next.
	StatsEndlessPages Attack = "stats-endless-pages"
	// The Stats listing ignores `page`: its first page again and again,
	// each time saying there are a million pages.
	StatsSamePageForever Attack = "stats-same-page-forever"
	// The User Admin user list ignores `page` in the same way.
	UsersSamePageForever Attack = "users-same-page-forever"
	// Every Stats direction is StrangeDirection, which the API does not
	// document.
	StatsDirectionNotAnEnum Attack = "stats-direction-not-an-enum"
	// Each interaction listing page gives its first interaction's guid a
	// right-to-left override (U+202E) and its second's recording a content
	// key with a zero-width space (U+200B).
	InvisibleCharsInIDs Attack = "invisible-chars-in-ids"
	// The interaction listing reports every call a day late: asked for a
	// window, it answers with the interactions of the day before, each
	// start moved a day on (the same guids, listed again on another day).
	ListingADayLate Attack = "listing-a-day-late"
	// The User Admin user list accepts the request and never answers.
	UsersNeverAnswer Attack = "users-never-answer"
)

// StrangeDirection is the direction StatsDirectionNotAnEnum sends.
const StrangeDirection = "Sideways"

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
	// downloads and listings count the download and interaction-listing
	// requests the fronts saw, answered by an attack or by the simulator.
	downloads, listings atomic.Int64
	mu                  sync.Mutex
	secret              string // client_secret of the last token request, for EchoSecrets
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

// Counts returns how many download and interaction-listing requests the
// fronts saw since the last call.
func (s *Server) Counts() (downloads, listings int64) {
	return s.downloads.Swap(0), s.listings.Swap(0)
}

// TLSAuthURL is the token endpoint of the TLS front.
func (s *Server) TLSAuthURL() string { return s.TLSURL + "/Auth/connect/token" }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	a := s.attack.Load().(Attack)
	tokenReq := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/connect/token")
	listing := r.URL.Path == "/interaction-content/interactions"
	download := strings.HasPrefix(r.URL.Path, "/interaction-content/interactions/") && strings.Contains(r.URL.Path, "/content/")
	statsListing := r.URL.Path == "/stats/interactions"
	if download {
		s.downloads.Add(1)
	}
	if listing {
		s.listings.Add(1)
	}
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
	case tokenReq && a == TokenFractionalExpiry:
		s.rewrite(w, r, func(v any) { v.(map[string]any)["expires_in"] = 3600.5 })
	case tokenReq && a == TokenHugeExpiry:
		s.rewrite(w, r, func(v any) { v.(map[string]any)["expires_in"] = json.RawMessage("1e400") })
	case download && a == DownloadRedirectOtherPort:
		http.Redirect(w, r, s.Capture.URL+r.URL.RequestURI(), http.StatusFound)
	case download && a == DownloadRedirectFile:
		w.Header().Set("Location", "file:///etc/passwd")
		w.WriteHeader(http.StatusFound)
	case (download && a == DownloadRedirectToHTTP) || (listing && a == ListingRedirectToHTTP):
		http.Redirect(w, r, s.Capture.URL+r.URL.RequestURI(), http.StatusFound)
	case download && malformed[a] != "":
		rawResponse(w, malformed[a], nil)
	case download && a == DownloadOddHeaders:
		h := w.Header()
		h.Set("ETag", "\"caf\u00e9-\xe9\"")
		h.Set("Last-Modified", "yesterday, probably")
		h.Set("Expires", "-1")
		h.Set("X-Hostile", "\u202e\u200b\xff\xfe")
		s.Sim.Handler().ServeHTTP(w, r)
	case download && a == DownloadContentRangeGarbage:
		resume := r.Header.Get("Range") != ""
		r.Header.Del("Range")
		rec := httptest.NewRecorder()
		s.Sim.Handler().ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		switch {
		case rec.Code != http.StatusOK:
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		case resume:
			rawResponse(w, "HTTP/1.1 206 Partial Content\r\nContent-Type: audio/wav\r\nContent-Range: bytes ../../etc/passwd\r\nContent-Length: "+strconv.Itoa(len(body)), body)
		default:
			// Announced whole, cut halfway: a Range resume follows.
			rawResponse(w, "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: "+strconv.Itoa(len(body)), body[:len(body)/2])
		}
	case listing && a == ListingAbsurdRetryAfter:
		w.Header().Set("Retry-After", "99999999999")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"message":"Service Unavailable"}`)
	case download && a == DownloadRedirectLoop:
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
	case listing && a == EchoSecrets, download && a == DownloadEchoSecrets:
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
	case listing && a == EndlessListingPage:
		endlessListing(w)
	case listing && a == StartYear9999:
		s.rewrite(w, r, func(v any) {
			if items, ok := v.(map[string]any)["items"].([]any); ok && len(items) > 0 {
				items[0].(map[string]any)["start"] = "9999-12-31T23:59:59.000Z"
			}
		})
	case a == TerminalEscapes && (strings.HasPrefix(r.URL.Path, "/useradmin/") || strings.HasPrefix(r.URL.Path, "/stats/")):
		s.rewrite(w, r, func(v any) { poison(v) })
	case listing && a == ListingContentLengthNotANumber:
		rawResponse(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20k", nil)
	case statsListing && (a == StatsEndlessPages || a == StatsSamePageForever):
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		q := r.URL.Query()
		q.Del("page") // the simulator's first page, every time
		r.URL.RawQuery = q.Encode()
		s.rewrite(w, r, func(v any) {
			m, _ := v.(map[string]any)
			meta, _ := m["meta"].(map[string]any)
			if meta == nil {
				return
			}
			if a == StatsSamePageForever {
				meta["pageCount"] = 1_000_000
				return
			}
			meta["page"], meta["pageCount"] = page, page+1
			if items, ok := m["items"].([]any); ok && page > 1 {
				for _, it := range items {
					if it, ok := it.(map[string]any); ok {
						if g, ok := it["guid"].(string); ok && len(g) == 36 {
							it["guid"] = fmt.Sprintf("%s%012x", g[:24], page)
						}
					}
				}
			}
		})
	case a == UsersSamePageForever && r.URL.Path == "/useradmin/users":
		q := r.URL.Query()
		q.Del("page")
		r.URL.RawQuery = q.Encode()
		s.rewrite(w, r, func(v any) {
			if meta, ok := v.(map[string]any)["meta"].(map[string]any); ok {
				meta["pageCount"] = 1_000_000
			}
		})
	case a == StatsDirectionNotAnEnum && strings.HasPrefix(r.URL.Path, "/stats/interactions"):
		s.rewrite(w, r, func(v any) { setDirection(v, StrangeDirection) })
	case listing && a == InvisibleCharsInIDs:
		s.rewrite(w, r, func(v any) {
			items, _ := v.(map[string]any)["items"].([]any)
			if len(items) > 0 {
				if it, ok := items[0].(map[string]any); ok {
					if g, ok := it["guid"].(string); ok && len(g) > 8 {
						it["guid"] = g[:8] + "\u202e" + g[8:]
					}
				}
			}
			if len(items) > 1 {
				if it, ok := items[1].(map[string]any); ok {
					if cs, ok := it["content"].([]any); ok && len(cs) > 0 {
						if c, ok := cs[0].(map[string]any); ok {
							c["contentKey"] = fmt.Sprint(c["contentKey"]) + "\u200b"
						}
					}
				}
			}
		})
	case listing && a == ListingADayLate:
		q := r.URL.Query()
		for _, k := range []string{"start", "end"} {
			if t, err := time.Parse(time.RFC3339Nano, q.Get(k)); err == nil {
				q.Set(k, t.Add(-24*time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"))
			}
		}
		r.URL.RawQuery = q.Encode()
		s.rewrite(w, r, func(v any) {
			items, _ := v.(map[string]any)["items"].([]any)
			for _, it := range items {
				if it, ok := it.(map[string]any); ok {
					if t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(it["start"])); err == nil {
						it["start"] = t.Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
					}
				}
			}
		})
	case a == UsersNeverAnswer && strings.HasPrefix(r.URL.Path, "/useradmin/users"):
		<-r.Context().Done() // until the client hangs up
	default:
		s.Sim.Handler().ServeHTTP(w, r)
	}
}

// endlessUsers writes a users page that goes on until the client hangs up.
func endlessUsers(w http.ResponseWriter) {
	pad := strings.Repeat("x", 16<<10)
	endlessPage(w, "application/vnd.newvoicemedia.v4+json", `{"meta":{"page":1,"pageCount":1},"users":[`, func(i int) string {
		return fmt.Sprintf(`{"userId":"u-%09d","username":"user%[1]d","name":"User %[1]d","active":true,"padding":"%[2]s"}`, i, pad)
	})
}

// endlessListing writes an interaction listing page that goes on until
// the client hangs up.
func endlessListing(w http.ResponseWriter) {
	pad := strings.Repeat("9", 200<<10)
	endlessPage(w, "application/json", `{"items":[`, func(i int) string {
		return fmt.Sprintf(`{"guid":"endless-%09d","start":"2024-03-04T00:10:00.000Z","connectFrom":"+441234567890","connectTo":"+44%[2]s","direction":"Inbound","content":[{"contentKey":"callRecording","type":"callRecording","contentType":"audio/wav","contentLength":48000}]}`, i, pad)
	})
}

// endlessPage writes head, then record(0), record(1), … as a JSON
// array's elements, until the client hangs up.
func endlessPage(w http.ResponseWriter, contentType, head string, record func(int) string) {
	w.Header().Set("Content-Type", contentType)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	if _, err := io.WriteString(bw, head); err != nil {
		return
	}
	for i := 0; ; i++ {
		sep := ","
		if i == 0 {
			sep = ""
		}
		if _, err := io.WriteString(bw, sep+record(i)); err != nil {
			return
		}
	}
}

// malformed is the head of the answer each header attack sends in place of
// a download (status line and headers, without the blank line).
var malformed = map[Attack]string{
	DownloadContentLengthNotANumber: "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: 20k",
	DownloadContentLengthTwice:      "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: 10\r\nContent-Length: 20000",
	DownloadContentTypeControlChar:  "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\x1b[2J\r\nContent-Length: 10",
	DownloadETagBareCR:              "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nETag: \"a\rSet-Cookie: x=1\"\r\nContent-Length: 10",
	DownloadLocationControlChar:     "HTTP/1.1 302 Found\r\nLocation: /elsewhere\x00\x07\r\nContent-Length: 0",
}

// rawResponse writes head, a blank line and body on the request's own
// connection, as no well-behaved server would, and closes it.
func rawResponse(w http.ResponseWriter, head string, body []byte) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = buf.WriteString(head + "\r\n\r\n")
	_, _ = buf.Write(body)
	_ = buf.Flush()
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

// setDirection sets every direction of a JSON value to d.
func setDirection(v any, d string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if _, ok := x.(string); ok && k == "direction" {
				v[k] = d
				continue
			}
			setDirection(x, d)
		}
	case []any:
		for _, x := range v {
			setDirection(x, d)
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
