package vccsim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

// listAll walks the Content search (v3) as a client does: the first page
// without a token, then each next token until it is null.
func listAll(t *testing.T, s *Server, tok string, from, to time.Time) []wire.Interaction {
	t.Helper()
	var out []wire.Interaction
	next := ""
	for {
		path := "/interaction-content/interactions?" + window(from, to) + "&limit=7"
		if next != "" {
			path += "&continuationToken=" + url.QueryEscape(next)
		}
		var page v3Page
		getJSON(t, s, path, tok, &page)
		out = append(out, page.Items...)
		if page.Meta.NextContinuationToken == nil {
			return out
		}
		next = *page.Meta.NextContinuationToken
	}
}

type v3Page struct {
	Items []wire.Interaction `json:"items"`
	Meta  struct {
		NextContinuationToken *string `json:"nextContinuationToken"`
	} `json:"meta"`
}

func TestPermissionsHideExactlyTheRightInteractions(t *testing.T) {
	s := start(t, Config{Seed: 4, Days: 2, CallsPerDay: 60})
	from, to := day0, day0.AddDate(0, 0, 2)
	all := s.Truth(from, to, "admin")
	for _, tc := range []struct {
		cred   string
		hidden func(TruthInteraction) bool
	}{
		{"admin", func(TruthInteraction) bool { return false }},
		{"no-inbound", func(it TruthInteraction) bool { return it.Direction == "inbound" }},
		{"no-outbound", func(it TruthInteraction) bool { return it.Direction == "outbound" }},
		{"own-group", func(it TruthInteraction) bool { return it.Groups[0] != "Team A" }},
	} {
		t.Run(tc.cred, func(t *testing.T) {
			c := s.Credential(tc.cred)
			got := map[string]bool{}
			for _, it := range listAll(t, s, mustToken(t, s, tc.cred, ScopeContent), from, to) {
				got[it.GUID] = true
			}
			truth := s.Truth(from, to, c.ClientID)
			want, hidden := 0, 0
			for i, it := range truth.Interactions {
				recorded := len(all.Interactions[i].Content) > 0
				switch {
				case recorded && tc.hidden(it):
					hidden++
					if it.Visible || got[it.GUID] || !strings.HasPrefix(it.HiddenReason, "permission") {
						t.Errorf("%s (%s, %v) should be hidden by permission: visible=%v listed=%v reason=%q", it.GUID, it.Direction, it.Groups, it.Visible, got[it.GUID], it.HiddenReason)
					}
				case recorded:
					want++
					if !it.Visible || !got[it.GUID] {
						t.Errorf("%s should be visible: truth %v, listed %v", it.GUID, it.Visible, got[it.GUID])
					}
				default:
					if got[it.GUID] {
						t.Errorf("%s has no content but was listed", it.GUID)
					}
				}
			}
			if len(got) != want {
				t.Errorf("listed %d, truth says %d visible", len(got), want)
			}
			if tc.cred != "admin" && hidden == 0 {
				t.Fatal("the dataset hides nothing; the test proves nothing")
			}
		})
	}

	// A hidden recording downloads as an unknown one; Stats and Users are not
	// filtered.
	tok := mustToken(t, s, "no-inbound", ScopeContent)
	var hiddenGUID string
	for _, it := range s.Truth(from, to, "no-inbound").Interactions {
		if !it.Visible && strings.HasPrefix(it.HiddenReason, "permission") {
			hiddenGUID = it.GUID
			break
		}
	}
	r1, b1 := get(t, s, "/interaction-content/interactions/"+hiddenGUID+"/content/callRecording", tok)
	r2, b2 := get(t, s, "/interaction-content/interactions/00000000-0000-4000-8000-000000000000/content/callRecording", tok)
	if r1.StatusCode != 404 || r1.StatusCode != r2.StatusCode || strings.ReplaceAll(string(b1), hiddenGUID, "x") != strings.ReplaceAll(string(b2), "00000000-0000-4000-8000-000000000000", "x") {
		t.Errorf("hidden download %d %s; unknown %d %s", r1.StatusCode, b1, r2.StatusCode, b2)
	}
	count := func(cred string) float64 {
		_, b := get(t, s, "/stats/interactions?start=2024-03-04T00:00:00Z&end=2024-03-06T00:00:00Z&limit=1", mustToken(t, s, cred, ScopeStats))
		var v struct{ Meta wire.Meta }
		_ = json.Unmarshal(b, &v)
		return float64(v.Meta.TotalCount)
	}
	if a, n := count("admin"), count("no-inbound"); a != n || a != float64(len(all.Interactions)) {
		t.Errorf("stats totals: admin %v, no-inbound %v, truth %d", a, n, len(all.Interactions))
	}
}

func TestDownloadMatchesTruthAndIsAPlayableWAV(t *testing.T) {
	s := start(t, Config{Seed: 9, Days: 1, CallsPerDay: 10})
	tok := mustToken(t, s, "admin", ScopeContent)
	checked := 0
	for _, it := range s.Truth(day0, day0.AddDate(0, 0, 1), "admin").Interactions {
		for _, c := range it.Content {
			resp, body := get(t, s, "/interaction-content/interactions/"+it.GUID+"/content/"+url.PathEscape(c.ContentKey), tok)
			sum := sha256.Sum256(body)
			if resp.StatusCode != 200 || int64(len(body)) != c.Size || resp.ContentLength != c.Size || hex.EncodeToString(sum[:]) != c.SHA256 || resp.Header.Get("Content-Type") != c.ContentType {
				t.Fatalf("%s/%s: %d, %d bytes, type %s; truth %+v", it.GUID, c.ContentKey, resp.StatusCode, len(body), resp.Header.Get("Content-Type"), c)
			}
			if c.ContentType == "audio/wav" {
				if string(body[0:4]) != "RIFF" || string(body[8:16]) != "WAVEfmt " || string(body[36:40]) != "data" ||
					int(binary.LittleEndian.Uint32(body[40:])) != len(body)-44 || binary.LittleEndian.Uint16(body[20:]) != 1 {
					t.Fatalf("%s: not a PCM WAV: % x", c.ContentKey, body[:44])
				}
			} else if !json.Valid(body) {
				t.Fatalf("%s: invalid JSON", c.ContentKey)
			}
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("only %d items", checked)
	}
	// Same seed, same bytes; another seed, other bytes.
	a := newSim(t, Config{Seed: 9, Start: day0, Days: 1, CallsPerDay: 10}).Truth(day0, day0.AddDate(0, 0, 1), "admin")
	b := s.Truth(day0, day0.AddDate(0, 0, 1), "admin")
	c := newSim(t, Config{Seed: 10, Start: day0, Days: 1, CallsPerDay: 10}).Truth(day0, day0.AddDate(0, 0, 1), "admin")
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	jc, _ := json.Marshal(c)
	if string(ja) != string(jb) || string(ja) == string(jc) {
		t.Error("the dataset is not a function of the seed")
	}
}

func TestRange(t *testing.T) {
	s := start(t, Config{Seed: 2, Days: 1, CallsPerDay: 5, FixedRecordingSize: 100_000})
	tok := mustToken(t, s, "admin", ScopeContent)
	it := s.Truth(day0, day0.AddDate(0, 0, 1), "admin").Interactions
	var guid string
	for _, i := range it {
		if len(i.Content) > 0 && i.Content[0].ContentKey == "callRecording" {
			guid = i.GUID
		}
	}
	p := "/interaction-content/interactions/" + guid + "/content/callRecording"
	_, full := get(t, s, p, tok)
	for _, tc := range []struct {
		rng    string
		code   int
		lo, hi int
	}{
		{"bytes=0-0", 206, 0, 1},
		{"bytes=100-4195", 206, 100, 4196},
		{"bytes=99990-", 206, 99990, 100000},
		{"bytes=-10", 206, 99990, 100000},
		{"bytes=99999-200000", 206, 99999, 100000},
		{"bytes=100000-", 416, 0, 0},
		{"bytes=0-1,5-6", 416, 0, 0},
		{"bytes=5-2", 416, 0, 0},
		{"items=1-2", 200, 0, 100000}, // an unknown unit is ignored (RFC 9110)
	} {
		resp, body := get(t, s, p, tok, "Range", tc.rng)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.rng, resp.StatusCode, tc.code)
			continue
		}
		if tc.code == 200 && (string(body) != string(full) || resp.Header.Get("Accept-Ranges") != "bytes") {
			t.Errorf("%s: not the whole file, or no Accept-Ranges", tc.rng)
		}
		if tc.code == 206 {
			want := fmt.Sprintf("bytes %d-%d/100000", tc.lo, tc.hi-1)
			if string(body) != string(full[tc.lo:tc.hi]) || resp.Header.Get("Content-Range") != want {
				t.Errorf("%s: Content-Range %q (want %q), body equal %v", tc.rng, resp.Header.Get("Content-Range"), want, string(body) == string(full[tc.lo:tc.hi]))
			}
		}
	}
}

func TestLateArrival(t *testing.T) {
	s := start(t, Config{Seed: 5, Days: 1, CallsPerDay: 20, ContentDelay: 10 * time.Minute, StatsDelay: 30 * time.Minute})
	truth := s.Truth(day0, day0.AddDate(0, 0, 1), "admin")
	var it TruthInteraction
	for _, i := range truth.Interactions {
		if len(i.Content) > 0 {
			it = i
			break
		}
	}
	s.SetNow(it.End.Add(9 * time.Minute))
	ctok, stok := mustToken(t, s, "admin", ScopeContent), mustToken(t, s, "admin", ScopeStats)
	one := "/interaction-content/interactions/" + it.GUID
	if r, _ := get(t, s, one, ctok); r.StatusCode != 404 {
		t.Errorf("content visible %d before its delay", r.StatusCode)
	}
	s.Advance(time.Minute)
	if r, _ := get(t, s, one, ctok); r.StatusCode != 200 {
		t.Errorf("content not visible after its delay: %d", r.StatusCode)
	}
	if r, _ := get(t, s, "/stats/interactions/"+it.GUID, stok); r.StatusCode != 404 {
		t.Errorf("stats visible %d before its delay", r.StatusCode)
	}
	s.Advance(20 * time.Minute)
	r, b := get(t, s, "/stats/interactions/"+it.GUID, stok)
	var st wire.Stats
	_ = json.Unmarshal(b, &st)
	if r.StatusCode != 200 || strings.ToLower(st.Direction) != it.Direction || *st.Channels[1].Party.ID != it.AgentID {
		t.Errorf("stats after delay: %d %s", r.StatusCode, b)
	}
}

func TestFaultRatesWithinTolerance(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1, Faults: Faults{Seed: 3, Rate429: 0.10, Rate5xx: 0.05, RetryAfter: 2 * time.Second, RateMalformedJSON: 0.05}})
	tok := mustToken(t, s, "admin", ScopeUsers)
	const n = 3000
	counts := map[string]int{}
	for range n {
		r, b := get(t, s, "/useradmin/users?include=All", tok)
		switch {
		case r.StatusCode == 429:
			counts["429"]++
			if r.Header.Get("Retry-After") != "2" {
				t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
			}
		case r.StatusCode >= 500:
			counts["5xx"]++
		case !json.Valid(b):
			counts["malformed"]++
		}
	}
	for k, rate := range map[string]float64{"429": 0.10, "5xx": 0.05, "malformed": 0.05} {
		got := float64(counts[k]) / n
		if got < rate*0.75 || got > rate*1.25 {
			t.Errorf("%s rate %.3f, want %.2f ± 25%%", k, got, rate)
		}
	}
}

func TestScheduledFaults(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1, CallsPerDay: 5, FixedRecordingSize: 1 << 20})
	var guid string
	for _, it := range s.Truth(day0, day0.AddDate(0, 0, 1), "admin").Interactions {
		if len(it.Content) > 0 && it.Content[0].ContentKey == "callRecording" {
			guid = it.GUID
		}
	}
	tok := mustToken(t, s, "admin", ScopeContent)
	s.SetFaults(Faults{Schedule: []ScheduledFault{
		{Route: RouteContent, Nth: 1, Fault: FaultReset},
		{Route: RouteContent, Nth: 2, Fault: FaultShortBody},
		{Route: RouteContent, Nth: 3, Fault: Fault5xx},
	}, TokenOutage: true})
	p := s.URL + "/interaction-content/interactions/" + guid + "/content/callRecording"
	for i, want := range []string{"reset", "short", "5xx", "ok"} {
		req, _ := http.NewRequest(http.MethodGet, p, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", acceptContentV3)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch want {
		case "reset", "short":
			if err == nil || n >= 1<<20 {
				t.Errorf("request %d: read %d bytes, err %v; want a broken body", i+1, n, err)
			}
			if want == "short" && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("short body: %v, want unexpected EOF", err)
			}
		case "5xx":
			if resp.StatusCode < 500 {
				t.Errorf("request 3: %d", resp.StatusCode)
			}
		case "ok":
			if err != nil || n != 1<<20 {
				t.Errorf("request 4: %d bytes, %v", n, err)
			}
		}
	}
	if code, body := askToken(t, s, s.Credential("admin"), ScopeUsers, false); code != 503 {
		t.Errorf("token outage: %d %v", code, body)
	}
	var seen []string
	for _, r := range s.Requests() {
		seen = append(seen, fmt.Sprintf("%s %d %d", r.Route, r.Status, r.Count))
	}
	sort.Strings(seen)
	if !strings.Contains(strings.Join(seen, "\n"), RouteToken+" 503 1") {
		t.Errorf("request counters miss the outage: %v", seen)
	}
}

// Streaming a large recording allocates a fixed amount, whatever its size.
func TestStreamingAllocatesLittle(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1, CallsPerDay: 3, FixedRecordingSize: 64 << 20})
	guid, tok := firstRecording(t, s), mustToken(t, s, "admin", ScopeContent)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stream(t, s, guid, tok)
	runtime.ReadMemStats(&after)
	if a := after.TotalAlloc - before.TotalAlloc; a > 8<<20 {
		t.Errorf("streaming 64 MiB allocated %d bytes (client and server together)", a)
	}
}

func firstRecording(t testing.TB, s *Server) string {
	for _, it := range s.data.Interactions {
		if len(it.Content) > 0 && it.Content[0].Key == "callRecording" {
			return it.GUID
		}
	}
	t.Fatal("no recording")
	return ""
}

func stream(t testing.TB, s *Server, guid, tok string) int64 {
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/interaction-content/interactions/"+guid+"/content/callRecording", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", acceptContentV3)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// BenchmarkStream1GiB streams one 1 GiB recording over loopback; allocations
// are the server's and the client's together (target: under 8 MiB in total).
func BenchmarkStream1GiB(b *testing.B) {
	s := start(b, Config{Seed: 1, Days: 1, CallsPerDay: 3, FixedRecordingSize: 1 << 30})
	guid, tok := firstRecording(b, s), mustToken(b, s, "admin", ScopeContent)
	b.SetBytes(1 << 30)
	b.ReportAllocs()
	for b.Loop() {
		if n := stream(b, s, guid, tok); n != 1<<30 {
			b.Fatalf("%d bytes", n)
		}
	}
}

func TestSlowFirstByte(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1})
	tok := mustToken(t, s, "admin", ScopeUsers)
	s.SetFaults(Faults{SlowFirstByte: 300 * time.Millisecond, Schedule: []ScheduledFault{{Route: RouteUsers, Nth: 1, Fault: FaultSlowFirstByte}}})
	began := time.Now()
	if r, _ := get(t, s, "/useradmin/users", tok); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("first byte after %s, want at least 300ms", d)
	}
}

// The simulator's own endpoints: truth, counters, clock and faults over HTTP.
func TestSimEndpoints(t *testing.T) {
	s := start(t, Config{Seed: 6, Days: 1, CallsPerDay: 5, FixedRecordingSize: 1000})
	do := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	admin := s.Credential("admin")
	code, b := do("GET", "/_sim/truth?from=2024-03-04T00:00:00Z&to=2024-03-05T00:00:00Z&client_id="+admin.ClientID, "")
	var truth Truth
	if err := json.Unmarshal(b, &truth); code != 200 || err != nil || len(truth.Interactions) != 5 || truth.Credential != "admin" {
		t.Fatalf("truth: %d %v %+v", code, err, truth)
	}
	mustToken(t, s, "admin", ScopeStats)
	code, b = do("GET", "/_sim/requests", "")
	if code != 200 || !strings.Contains(string(b), `"route":"POST /Auth/connect/token"`) {
		t.Errorf("requests: %d %s", code, b)
	}
	get(t, s, "/useradmin/users", "")
	code, b = do("GET", "/_sim/rejections", "")
	if code != 200 || !strings.Contains(string(b), `"status":401,"message":"invalid_request: The access token is missing"`) {
		t.Errorf("rejections: %d %s", code, b)
	}
	code, b = do("POST", "/_sim/clock?set=2024-03-06T00:00:00Z&advance=90m", "")
	if code != 200 || !strings.Contains(string(b), "2024-03-06T01:30:00Z") || !s.Now().Equal(time.Date(2024, 3, 6, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("clock: %d %s", code, b)
	}
	if code, _ := do("POST", "/_sim/faults", `{"TokenOutage": true}`); code != 204 {
		t.Errorf("faults: %d", code)
	}
	if code, _ := askToken(t, s, admin, ScopeUsers, false); code != 503 {
		t.Errorf("token during outage: %d", code)
	}
	if code, _ := do("POST", "/_sim/faults", `{"NoSuchFault": 1}`); code != 400 {
		t.Errorf("bad faults: %d", code)
	}
	if code, _ := do("GET", "/_sim/truth?from=yesterday", ""); code != 400 {
		t.Errorf("bad truth query: %d", code)
	}
}

func TestLatency(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1, Latency: 150 * time.Millisecond})
	began := time.Now()
	tok := mustToken(t, s, "admin", ScopeUsers)
	get(t, s, "/useradmin/users", tok)
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("two requests took %s with 150ms latency each", d)
	}
}
