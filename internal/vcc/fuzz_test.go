package vcc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vccingest/vccingest/internal/secret"
)

// seedFixtures adds every documented body, and each of its list items, as a
// seed: the fuzzer starts from what VCC documents and mutates it.
func seedFixtures(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var fx fixtureFile
		if err := json.Unmarshal(b, &fx); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(fx.Body))
		var env struct {
			Items []json.RawMessage `json:"items"`
			Users []json.RawMessage `json:"users"`
		}
		if json.Unmarshal(fx.Body, &env) == nil {
			for _, it := range append(env.Items, env.Users...) {
				f.Add([]byte(it))
			}
		}
	}
	for _, s := range []string{
		`null`, `{}`, `[]`, `{"guid":null,"start":null}`, `{"guid":"g","start":"9999-12-31T23:59:59Z","content":[{"contentKey":"","contentLength":-1}]}`,
		`{"guid":"g","start":"2020-02-16T14:11:56Z","direction":"sideways","handlingAgents":[{"id":1e308},{"id":{}}]}`,
		`{"guid":"g","start":"2020-02-16T14:11:56Z","duration":-5,"direction":null,"channels":[{"party":null},{"party":{"id":7,"role":null}}]}`,
		`{"userId":123,"userAccountConfiguration":{"agentConfiguration":{"agentDisplayId":[1]}}}`,
		strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200), "\xff\xfe{\"guid\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	// Small enough that the fuzzer mutates and minimizes them quickly, large
	// enough that an unbounded message shows; TestHostileRecords tries the
	// same records at 1 MiB and past encoding/json's depth limit.
	for _, s := range hostileSeeds(4<<10, 1000) {
		f.Add([]byte(s))
	}
}

// hostileSeeds are records no documented example shows: deep nesting, huge
// numbers, nulls everywhere, wrong types, bytes that are not UTF-8 and very
// long strings (of length long, nested depth deep).
func hostileSeeds(long, deep int) []string {
	const at = `"start":"2020-02-16T14:11:56Z"`
	x := strings.Repeat("x", long)
	return []string{
		// deeply nested: inside a field, and as the whole record
		`{"guid":"g",` + at + `,"content":` + strings.Repeat(`[`, deep) + strings.Repeat(`]`, deep) + `}`,
		strings.Repeat(`[`, deep) + strings.Repeat(`]`, deep), strings.Repeat(`{"guid":`, deep) + `"g"` + strings.Repeat(`}`, deep),
		`{"guid":"g",` + at + `,"handlingAgents":[{"id":` + strings.Repeat(`{"id":`, 300) + `1` + strings.Repeat(`}`, 300) + `}]}`,
		// huge numbers
		`{"guid":"g",` + at + `,"content":[{"contentKey":"k","contentLength":1e400}]}`,
		`{"guid":"g",` + at + `,"content":[{"contentKey":"k","contentLength":99999999999999999999}]}`,
		`{"guid":"g",` + at + `,"content":[{"contentKey":"k","contentLength":9223372036854775807}]}`,
		`{"guid":"g",` + at + `,"duration":9223372036854775807,"direction":"Inbound"}`,
		`{"guid":"g",` + at + `,"duration":-9223372036854775808,"direction":"Outbound"}`,
		`{"guid":"g",` + at + `,"handlingAgents":[{"id":1e308},{"id":-0},{"id":123456789012345678901234567890}]}`,
		`{"userId":"u","userAccountConfiguration":{"agentConfiguration":{"agentDisplayId":1e400}}}`,
		// nulls everywhere
		`{"guid":null,"start":null,"connectFrom":null,"connectTo":null,"direction":null,"handlingAgents":null,"content":null,"duration":null,"channels":null}`,
		`{"guid":"g",` + at + `,"connectFrom":null,"direction":null,"handlingAgents":[null,{"id":null}],"content":[null,{"contentKey":null,"type":null,"contentLength":null}],"channels":[null,{"party":{"id":null,"role":null}}]}`,
		`{"userId":"u","username":null,"active":null,"userAccountConfiguration":null}`,
		`{"meta":null,"users":null,"items":null}`, `[null,null]`, `{"items":[null]}`,
		// wrong types
		`{"guid":1,"start":true}`, `{"guid":["g"],"start":{"t":1}}`, `{"guid":"g",` + at + `,"content":{"contentKey":"k"}}`,
		`{"guid":"g",` + at + `,"content":[{"contentKey":5,"contentLength":"5"}]}`, `{"guid":"g",` + at + `,"duration":"60","direction":1}`,
		`{"userId":"u","active":"yes"}`, `{"userId":{"id":"u"}}`, `{"meta":{"page":"1"},"users":[{"userId":"u"}]}`, `{"users":{}}`, `"users"`, `12`,
		// odd times and directions
		`{"guid":"g","start":"0001-01-01T00:00:00Z"}`, `{"guid":"g","start":"0001-01-01T00:00:00"}`, `{"guid":"g","start":"9999-12-31T23:59:59.999999999-23:59"}`,
		`{"guid":"g",` + at + `,"direction":"INBOUND"}`, `{"guid":"g",` + at + `,"direction":"\u0130nbound"}`,
		// not UTF-8
		"{\"guid\":\"\xc3\x28\",\"start\":\"2020-02-16T14:11:56Z\",\"direction\":\"\xed\xa0\x80\"}",
		"{\"userId\":\"\xff\xfe\xfd\"}", "\xef\xbb\xbf{\"guid\":\"g\"}",
		// very long strings, where a message may quote them
		`{"guid":"` + x + `"}`, `{"guid":"g","start":"` + x + `"}`, `{"guid":"` + x + `","start":"nope"}`,
		`{"guid":"g",` + at + `,"direction":"` + x + `","content":[{"type":"` + x + `"},{"contentKey":"` + x + `","contentLength":-1}]}`,
		`{"guid":"` + x + `","duration":"x"}`, `{"userId":"` + x + `","active":1}`, `{"userId":` + x[:1000] + `}`,
		`{"guid":"g",` + at + `,"handlingAgents":[{"id":{"` + x + `":1}}]}`, `{"guid":"g",` + at + `,"direction":"Inbound","duration":"` + x + `"}`,
		// a long id of multibyte characters, unusable, so a message quotes it
		`{"guid":"x` + strings.Repeat("é", 100) + `","start":5}`, `{"userId":"x` + strings.Repeat("€", 100) + `","active":1}`,
		`{"guid":"g",` + at + `,"handlingAgents":[{"id":{"x` + strings.Repeat("é", 100) + `":1}}]}`,
	}
}

// A Content record decodes to a usable interaction or to a bounded
// *BadRecordError, never to a panic or a half-valid value.
func FuzzDecodeInteraction(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(checkInteraction)
}

// TestHostileRecords runs the hostile records at full size (1 MiB strings,
// nesting past encoding/json's depth limit) through the fuzz targets'
// properties: too large to mutate quickly, they are no fuzz seeds.
func TestHostileRecords(t *testing.T) {
	for _, s := range append(hostileSeeds(1<<20, 20000), hostileSeeds(4<<10, 1000)...) {
		checkInteraction(t, []byte(s))
		checkStats(t, []byte(s))
		checkUsersPage(t, []byte(s))
		checkUsersPage(t, []byte(`{"users":[`+s+`]}`))
		checkFlexID(t, []byte(s))
	}
}

func checkInteraction(t *testing.T, raw []byte) {
	it, err := decodeItem[interactionJSON](apiContent, raw)
	if err != nil {
		checkBad(t, err)
		return
	}
	if it.GUID == "" || it.Start.IsZero() {
		t.Fatalf("decoded without guid or start: %+v", it)
	}
	switch it.Direction {
	case "", "inbound", "outbound":
	default:
		t.Fatalf("direction %q", it.Direction)
	}
	for _, c := range it.Content {
		if c.Key == "" || c.Length < 0 {
			t.Fatalf("content item %+v", c)
		}
	}
}

// A Stats row decodes to a usable row (direction one of four words,
// duration not negative) or to a bounded *BadRecordError.
func FuzzDecodeStats(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(checkStats)
}

func checkStats(t *testing.T, raw []byte) {
	si, err := decodeItem[statsJSON](apiStats, raw)
	if err != nil {
		checkBad(t, err)
		return
	}
	switch si.Direction {
	case "inbound", "outbound", "internal", "unknown":
	default:
		t.Fatalf("direction %q", si.Direction)
	}
	if si.GUID == "" || si.Duration < 0 {
		t.Fatalf("row %+v", si)
	}
}

// A User Admin page in any envelope, and each user on it, decodes without a
// panic; a decoded user has an id, and its agent code is its agent id.
func FuzzDecodeUsersPage(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(checkUsersPage)
}

func checkUsersPage(t *testing.T, raw []byte) {
	var env usersEnvelope
	_ = decodePage(json.NewDecoder(bytes.NewReader(raw)), usersItemKeys, true, &env, maxUserAdminRecords, func(item json.RawMessage) error {
		u, id, err := decodeUser(item)
		if err != nil {
			checkBad(t, err)
			return nil
		}
		if u.UserID == "" || id != u.UserID || u.AgentCode != u.AgentID {
			t.Fatalf("user %+v (id %q)", u, id)
		}
		return nil
	})
}

// Retry-After is never negative, whatever the server writes.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "5", "-1", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryAfter(v); d < 0 {
			t.Fatalf("retryAfter(%q) = %s", v, d)
		}
	})
}

func checkBad(t *testing.T, err error) {
	t.Helper()
	var bad *BadRecordError
	if !errors.As(err, &bad) {
		t.Fatalf("a record's error is %T, not a *BadRecordError: %v", err, err)
	}
	if n := len(err.Error()); n > 1024 {
		t.Fatalf("a bad record's error is %d bytes long", n)
	}
	// The catalog stores ID and Problem in PostgreSQL, which refuses text
	// that is not UTF-8.
	if !utf8.ValidString(bad.ID) || !utf8.ValidString(bad.Problem) {
		t.Fatalf("a bad record's id %q or problem %q is not valid UTF-8", bad.ID, bad.Problem)
	}
}

// An id is a string, a number or null; anything else is an error whose
// message stays short, however large the value.
func FuzzFlexID(f *testing.F) {
	for _, s := range []string{`"8"`, `8`, `null`, `1e308`, `1e400`, `-0`, `123456789012345678901234567890`, `0.1`, `true`, `{}`, `[1]`, `""`, `"\u202e"`, "\"\xff\"", `{"a":"` + strings.Repeat(`x`, 5000) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkFlexID)
}

func checkFlexID(t *testing.T, b []byte) {
	var id flexID
	err := id.UnmarshalJSON(b)
	if err != nil {
		if n := len(err.Error()); n > 1024 {
			t.Fatalf("the error for a %d-byte id is %d bytes long", len(b), n)
		}
		return
	}
	var s string
	if json.Unmarshal(b, &s) == nil && string(id) != s {
		t.Fatalf("string id %s decoded as %q", b, id)
	}
}

// listServer answers a listing's pages from a fuzz input: the input cut at
// each \x1e into at most 4 page bodies, served in order and then again from
// the first (a server that repeats itself). One server serves every input of
// a run; run holds the current input's state.
type listServer struct {
	*httptest.Server
	mu  sync.Mutex // held for one input's listings
	cur *listRun
}

type listRun struct {
	mu     sync.Mutex
	pages  [][]byte
	users  int      // GET /useradmin/users so far
	stats  int      // GET /stats/interactions so far
	served [][]byte // /interaction-content/interactions bodies, in order
	sent   []string // continuationToken of each interactions request
}

func newListServer(f *testing.F) *listServer {
	s := &listServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		run := s.cur
		run.mu.Lock()
		defer run.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/Auth/connect/token":
			_, _ = io.WriteString(w, `{"access_token":"fuzz-token","token_type":"bearer","expires_in":7200}`)
		case "/useradmin/users":
			_, _ = w.Write(run.pages[run.users%len(run.pages)])
			run.users++
		case "/stats/interactions":
			_, _ = w.Write(run.pages[run.stats%len(run.pages)])
			run.stats++
		case "/interaction-content/interactions":
			i := len(run.served) % len(run.pages)
			body := run.pages[i]
			if !json.Valid(body) {
				// Not JSON: the part is a continuation token, on a page
				// with one record.
				tok, _ := json.Marshal(string(body))
				body = []byte(fmt.Sprintf(`{"items":[{"guid":"g%d","start":"2020-02-16T14:11:56Z","content":[{"contentKey":"k"}]}],"meta":{"nextContinuationToken":%s}}`, i, tok))
			}
			run.sent = append(run.sent, r.URL.Query().Get("continuationToken"))
			run.served = append(run.served, body)
			_, _ = w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	f.Cleanup(s.Close)
	return s
}

// fuzzMaxJSON is the client's JSON cap in FuzzListPages: small, so that a
// large page is refused rather than decoded.
const fuzzMaxJSON = 16 << 10

// FuzzListPages runs Users, StatsInteractions and Interactions against a
// server that answers fuzzed pages. Each listing ends (no paging in a loop:
// it stops on an empty page, a repeated page or a repeated continuation
// token), yields no user or interaction twice, and Interactions ends with an
// error when the server repeats a continuation token.
func FuzzListPages(f *testing.F) {
	const sep = "\x1e"
	body := func(name string) string { return string(loadFixture(f, name).Body) }
	for _, s := range []string{
		body("users_list_v4.json"), body("users_list_items.json"), body("users_list_bare.json"), body("content_search_v3.json"),
		body("users_list_v4.json") + sep + body("users_list_items.json") + sep + `{"users":[]}`,
		body("content_search_v3.json") + sep + body("content_search_v2.json"),
		// continuation tokens: a, b, then a again
		"a" + sep + "b" + sep + "a", "a" + sep + "a", "t", "a" + sep + "b" + sep + "c" + sep + `{"items":[],"meta":{"nextContinuationToken":null}}`,
		`{"items":[{"guid":"g","start":"2020-02-16T14:11:56Z"}],"meta":{"nextContinuationToken":"same"}}`,
		// pages that never end: more pages promised, the same records again
		`{"meta":{"page":1,"pageCount":99999},"users":[{"userId":"u1"}]}`,
		`{"meta":{"page":1,"pageCount":99999},"users":[{}]}`,
		`{"meta":{"page":1,"pageCount":99999},"users":[{"userId":null},{"userId":1},{"name":"x"}]}`,
		`{"meta":{"page":-5,"pageCount":2147483647},"items":[{"userId":"u1"}]}` + sep + `{"meta":{"page":9223372036854775807,"pageCount":1},"items":[{"userId":"u2"}]}`,
		`[{"userId":"u1"},{"userId":"u1"},{"userId":"\u0075\u0031"}]`,
		`{"meta":{"page":1,"pageCount":99999},"items":[{"guid":"g","start":"2020-02-16T14:11:56Z","duration":1,"direction":"Inbound"}]}`,
		`{"meta":{"page":1,"pageCount":99999},"items":[{"guid":"g"},{}]}`,
		`{"users":[{"userId":"u1"}]} trailing`, `{"users":[` + strings.Repeat(`{"userId":"x"},`, 2000) + `{}]}`,
		"", "null", "{}", "[]", "\xff",
	} {
		f.Add([]byte(s))
	}
	srv := newListServer(f)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	f.Cleanup(hc.CloseIdleConnections)
	window := [2]time.Time{time.Date(2020, 2, 10, 0, 0, 0, 0, time.UTC), time.Date(2020, 2, 17, 0, 0, 0, 0, time.UTC)}

	f.Fuzz(func(t *testing.T, data []byte) {
		run := &listRun{pages: bytes.SplitN(data, []byte(sep), 4)}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		srv.cur = run
		c, err := New(Config{AuthURL: srv.URL + "/Auth/connect/token", APIURL: srv.URL, ClientID: "id", ClientSecret: secret.New("s"),
			MinBackoff: time.Millisecond, MaxAttempts: 1, MaxJSONBytes: fuzzMaxJSON, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A listing may read each distinct page once, and a repeated page
		// or two before it sees the server repeat itself.
		bound := 2*len(run.pages) + 2

		users := map[string]bool{}
		var end error
		for u, err := range c.Users(ctx) {
			if end != nil {
				t.Fatalf("Users yielded after its final error %v", end)
			}
			var bad *BadRecordError
			switch {
			case errors.As(err, &bad):
			case err != nil:
				end = err
			case users[u.UserID]:
				t.Fatalf("Users yielded user %q twice", u.UserID)
			default:
				users[u.UserID] = true
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("Users did not end within the timeout (%d pages asked for)", run.users)
		}
		if run.users > bound {
			t.Fatalf("Users asked for %d pages of a server with %d distinct pages", run.users, len(run.pages))
		}

		rows := map[string]bool{}
		end = nil
		for si, err := range c.StatsInteractions(ctx, window[0], window[1]) {
			if end != nil {
				t.Fatalf("StatsInteractions yielded after its final error %v", end)
			}
			var bad *BadRecordError
			switch {
			case errors.As(err, &bad):
			case err != nil:
				end = err
			case rows[si.GUID]:
				t.Fatalf("StatsInteractions yielded interaction %q twice", si.GUID)
			case !inWindow(si.Start, window[0], window[1]):
				t.Fatalf("StatsInteractions yielded %q, which starts at %s, outside the window", si.GUID, si.Start)
			default:
				rows[si.GUID] = true
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("StatsInteractions did not end within the timeout (%d pages asked for)", run.stats)
		}
		if run.stats > bound {
			t.Fatalf("StatsInteractions asked for %d pages of a server with %d distinct pages", run.stats, len(run.pages))
		}

		guids := map[string]bool{}
		end = nil
		for it, err := range c.Interactions(ctx, window[0], window[1]) {
			if end != nil {
				t.Fatalf("Interactions yielded after its final error %v", end)
			}
			var bad *BadRecordError
			switch {
			case errors.As(err, &bad):
			case err != nil:
				end = err
			case guids[it.GUID]:
				t.Fatalf("Interactions yielded interaction %q twice", it.GUID)
			case !inWindow(it.Start, window[0], window[1]):
				t.Fatalf("Interactions yielded %q, which starts at %s, outside the window", it.GUID, it.Start)
			default:
				guids[it.GUID] = true
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("Interactions did not end within the timeout (%d pages asked for)", len(run.served))
		}
		if len(run.served) > bound {
			t.Fatalf("Interactions asked for %d pages of a server with %d distinct pages", len(run.served), len(run.pages))
		}
		sent := map[string]bool{}
		for _, tok := range run.sent {
			if tok != "" && sent[tok] {
				t.Fatalf("Interactions sent continuation token %q twice", tok)
			}
			sent[tok] = true
		}
		// What the client should have made of the pages it was served: it
		// stops at an unreadable page (error), a page without a token (done)
		// or a token served before (error).
		wantErr, tokens := false, map[string]bool{}
		for _, b := range run.served {
			var page contentPage
			if len(b) > fuzzMaxJSON || json.NewDecoder(bytes.NewReader(b)).Decode(&page) != nil {
				wantErr = true
				break
			}
			next := deref(page.Meta.NextContinuationToken)
			if next == "" {
				break
			}
			if tokens[next] {
				wantErr = true
				break
			}
			tokens[next] = true
		}
		if wantErr != (end != nil) {
			t.Fatalf("Interactions ended with error %v; want an error: %v (served %q)", end, wantErr, run.served)
		}
	})
}

// Whatever expires_in the token endpoint sends (absent, negative, huge, a
// string, a fraction), the token's lifetime is clamped into [1 s, 24 h] and
// the token is usable as soon as it is issued: no token request per call,
// no token kept for ever.
func FuzzTokenLifetime(f *testing.F) {
	for _, s := range []string{`7200`, `3600`, `0`, `-1`, `1`, `null`, `"7200"`, `""`, `1.5`, `1e3`, `9227000000`, `9223372036854775807`,
		`18446744073709551616`, `-9223372036854775808`, `1e400`, `true`, `{}`, `[7200]`, `"\u0000"`} {
		f.Add(s)
	}
	var expiresIn atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"fuzz-token","token_type":"bearer","expires_in":`+expiresIn.Load().(string)+`}`)
	}))
	f.Cleanup(srv.Close)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	f.Cleanup(hc.CloseIdleConnections)
	var mu sync.Mutex
	f.Fuzz(func(t *testing.T, v string) {
		if !json.Valid([]byte(v)) {
			return // the token response would not be JSON at all
		}
		mu.Lock()
		defer mu.Unlock()
		expiresIn.Store(v)
		c, err := New(Config{AuthURL: srv.URL + "/token", APIURL: srv.URL, ClientID: "id", ClientSecret: secret.New("s"),
			MinBackoff: time.Millisecond, MaxAttempts: 1, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		ts := c.tokens[ScopeContent]
		if _, err := ts.token(context.Background()); err != nil {
			var n json.Number
			if json.Unmarshal([]byte(v), &n) == nil {
				// A number of any form is a lifetime to clamp, never a
				// reason to go without a token.
				t.Fatalf("expires_in %s: no token: %v", v, err)
			}
			return // x/oauth2 refused the response
		}
		if life := ts.tok.Expiry.Sub(ts.issued); life < minTokenLifetime || life > maxTokenLifetime {
			t.Fatalf("expires_in %s: a token lifetime of %s", v, life)
		}
		if !ts.valid(ts.issued) {
			t.Fatalf("expires_in %s: the token is not valid when issued (expiry %s after issue)", v, ts.tok.Expiry.Sub(ts.issued))
		}
	})
}
