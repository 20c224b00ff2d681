package vccsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

const searchPath = "/interaction-content/interactions?"

// contentSim is an account two days old, with its clock after all content
// has arrived.
func contentSim(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = 11
	}
	cfg.Days, cfg.CallsPerDay = 2, 30
	s := start(t, cfg)
	s.SetNow(day0.AddDate(0, 0, 3))
	return s
}

func TestContentSearchParameters(t *testing.T) {
	s := contentSim(t, Config{})
	tok := mustToken(t, s, "admin", ScopeContent)
	w := window(day0, day0.AddDate(0, 0, 1))
	for _, tc := range []struct {
		name, query string
		code        int
		msg         string // part of the message of a 400
	}{
		{"window", w, 200, ""},
		{"seven days exactly", window(day0, day0.AddDate(0, 0, 7)), 200, ""},
		{"no offset is UTC", "start=2024-03-04T00:00:00&end=2024-03-05T00:00:00.000", 200, ""},
		{"offset", "start=2024-03-04T01:00:00%2B01:00&end=2024-03-05T00:00:00Z", 200, ""},
		{"pageSize is ignored", w + "&pageSize=5", 200, ""},
		{"page is ignored on v3", w + "&page=0", 200, ""},
		{"limit 1", w + "&limit=1", 200, ""},
		{"limit 1000", w + "&limit=1000", 200, ""},
		{"direction", w + "&direction=outbound", 200, ""},
		{"connectFrom 50", w + "&connectFrom=" + strings.Repeat("1", 50), 200, ""},
		{"no start", "end=2024-03-05T00:00:00Z", 400, "'start' parameter is required"},
		{"no end", "start=2024-03-04T00:00:00Z", 400, "'end' parameter is required"},
		{"start not ISO", "start=yesterday&end=2024-03-05T00:00:00Z", 400, "'start'"},
		{"date only", "start=2024-03-04&end=2024-03-05T00:00:00Z", 400, "'start'"},
		{"end not ISO", "start=2024-03-04T00:00:00Z&end=1709596800", 400, "'end'"},
		{"over seven days", window(day0, day0.AddDate(0, 0, 7).Add(time.Second)), 400, "7 days"},
		{"end before start", window(day0.AddDate(0, 0, 1), day0), 400, "'end'"},
		{"limit 0", w + "&limit=0", 400, "'limit'"},
		{"limit 1001", w + "&limit=1001", 400, "'limit'"},
		{"limit not a number", w + "&limit=ten", 400, "'limit'"},
		{"empty connectFrom", w + "&connectFrom=", 400, "'connectFrom'"},
		{"connectTo 51", w + "&connectTo=" + strings.Repeat("1", 51), 400, "'connectTo'"},
		{"direction sideways", w + "&direction=sideways", 400, "'direction'"},
		{"direction capitalised", w + "&direction=Inbound", 400, "'direction'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, s, searchPath+tc.query, tok)
			var body struct{ Message string }
			_ = json.Unmarshal(b, &body)
			if resp.StatusCode != tc.code || (tc.msg != "" && !strings.Contains(body.Message, tc.msg)) {
				t.Errorf("%d %s; want %d with a message about %q", resp.StatusCode, b, tc.code, tc.msg)
			}
		})
	}
	var page v3Page
	getJSON(t, s, searchPath+w+"&pageSize=5", tok, &page)
	if len(page.Items) != contentDefaultLimit {
		t.Errorf("default page: %d items, want %d (pageSize is not a parameter)", len(page.Items), contentDefaultLimit)
	}
}

// The filters return exactly the visible interactions they describe.
func TestContentSearchFilters(t *testing.T) {
	s := contentSim(t, Config{})
	tok := mustToken(t, s, "admin", ScopeContent)
	from, to := day0, day0.AddDate(0, 0, 2)
	var visible []TruthInteraction
	for _, it := range s.Shape(from, to, "admin").Interactions {
		if it.Visible {
			visible = append(visible, it)
		}
	}
	someAgent := visible[0].AgentID
	someFrom := ""
	for _, it := range visible {
		if it.Direction == "inbound" {
			someFrom = lookup(s, it.GUID).ConnectFrom[:6]
			break
		}
	}
	for _, tc := range []struct {
		query string
		want  func(TruthInteraction) bool
	}{
		{"", func(TruthInteraction) bool { return true }},
		{"&direction=inbound", func(it TruthInteraction) bool { return it.Direction == "inbound" }},
		{"&direction=outbound", func(it TruthInteraction) bool { return it.Direction == "outbound" }},
		{"&handlingAgentId=" + someAgent, func(it TruthInteraction) bool { return it.AgentID == someAgent }},
		{"&connectFrom=" + url.QueryEscape(someFrom), func(it TruthInteraction) bool {
			return strings.HasPrefix(lookup(s, it.GUID).ConnectFrom, someFrom)
		}},
		{"&connectTo=%2B1555987", func(it TruthInteraction) bool {
			return strings.HasPrefix(lookup(s, it.GUID).ConnectTo, "+1555987")
		}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var want []string
			for _, it := range visible {
				if tc.want(it) {
					want = append(want, it.GUID)
				}
			}
			var got []string
			for _, it := range listAllQuery(t, s, tok, window(from, to)+tc.query+"&limit=9") {
				got = append(got, it.GUID)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("got %d interactions, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
			}
			if len(want) == 0 || (tc.query != "" && len(want) == len(visible)) {
				t.Errorf("the filter selects %d of %d: the test proves nothing", len(want), len(visible))
			}
		})
	}
}

func lookup(s *Server, guid string) *dataset.Interaction {
	it, _ := s.data.Interaction(guid)
	return it
}

// listAllQuery walks a v3 search with query, checking that items come in
// start order.
func listAllQuery(t *testing.T, s *Server, tok, query string) []wire.Interaction {
	t.Helper()
	var out []wire.Interaction
	next := ""
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("the walk does not end")
		}
		path := searchPath + query
		if next != "" {
			path += "&continuationToken=" + url.QueryEscape(next)
		}
		resp, b := get(t, s, path, tok)
		if resp.StatusCode == 204 {
			if len(b) != 0 || !s.cfg.Readings.EmptySearch204 {
				t.Fatalf("204 with %q under %s", b, s.cfg.Readings)
			}
			return out
		}
		var page v3Page
		if resp.StatusCode != 200 || json.Unmarshal(b, &page) != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		out = append(out, page.Items...)
		if page.Meta.NextContinuationToken == nil {
			break
		}
		next = *page.Meta.NextContinuationToken
	}
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].Start < out[j].Start }) {
		t.Error("items are not in start order")
	}
	return out
}

// Under every reading, a v3 walk returns every visible interaction of the
// window exactly once, whatever the page size; the window's end follows
// the reading.
func TestContentV3WalkUnderEachReading(t *testing.T) {
	for _, r := range AllReadings() {
		t.Run(r.String(), func(t *testing.T) {
			s := contentSim(t, Config{Readings: r})
			tok := mustToken(t, s, "no-inbound", ScopeContent)
			var visible []TruthInteraction
			for _, it := range s.Shape(day0, day0.AddDate(0, 0, 2), "no-inbound").Interactions {
				if it.Visible {
					visible = append(visible, it)
				}
			}
			// A window from one visible call's start to another's: the
			// first is in it, the last only if end is inclusive.
			from, to := visible[2].Start, visible[len(visible)-3].Start
			want := map[string]bool{}
			for _, it := range visible {
				if !it.Start.Before(from) && (it.Start.Before(to) || (r.EndInclusive && it.Start.Equal(to))) {
					want[it.GUID] = true
				}
			}
			for _, limit := range []int{1, 7, 1000} {
				seen := map[string]int{}
				for _, it := range listAllQuery(t, s, tok, fmt.Sprintf("%s&limit=%d", window(from, to), limit)) {
					seen[it.GUID]++
					if !want[it.GUID] {
						t.Errorf("limit %d: %s (%s) is not a visible interaction of the window", limit, it.GUID, it.Start)
					}
				}
				for g := range want {
					if seen[g] != 1 {
						t.Errorf("limit %d: %s seen %d times, want once", limit, g, seen[g])
					}
				}
			}
			// An empty window.
			empty := window(day0.AddDate(0, 0, -3), day0.AddDate(0, 0, -2))
			resp, b := get(t, s, searchPath+empty, tok)
			if r.EmptySearch204 {
				if resp.StatusCode != 204 || len(b) != 0 {
					t.Errorf("empty search: %d %q, want 204 and no body", resp.StatusCode, b)
				}
			} else if resp.StatusCode != 200 || string(b) != `{"items":[],"meta":{"nextContinuationToken":null}}` {
				t.Errorf("empty search: %d %s", resp.StatusCode, b)
			}
			noRejections(t, s)
		})
	}
}

// A continuation token belongs to the query that issued it.
func TestContinuationTokenBinding(t *testing.T) {
	s := contentSim(t, Config{})
	other := contentSim(t, Config{})
	tok := mustToken(t, s, "admin", ScopeContent)
	base := window(day0, day0.AddDate(0, 0, 2)) + "&limit=5&direction=inbound&connectTo=%2B1555"
	var first v3Page
	getJSON(t, s, searchPath+base, tok, &first)
	if first.Meta.NextContinuationToken == nil {
		t.Fatal("one page only: the test proves nothing")
	}
	next := *first.Meta.NextContinuationToken
	var second v3Page
	getJSON(t, s, searchPath+base+"&continuationToken="+url.QueryEscape(next), tok, &second)
	edited := []byte(next)
	edited[len(edited)/2] ^= 1
	raw, _ := base64.RawURLEncoding.DecodeString(next)
	raw[9] ^= 0x40 // the position, MAC unchanged
	moved := base64.RawURLEncoding.EncodeToString(raw)
	foreign := ""
	{
		var p v3Page
		getJSON(t, other, searchPath+base, mustToken(t, other, "admin", ScopeContent), &p)
		foreign = *p.Meta.NextContinuationToken
	}
	for _, tc := range []struct {
		name, query, token string
		code               int
	}{
		{"same query", base, next, 200},
		{"same query, reordered, with an unknown parameter", "foo=bar&connectTo=%2B1555&direction=inbound&limit=5&" + window(day0, day0.AddDate(0, 0, 2)), next, 200},
		{"same start written otherwise", "start=2024-03-04T00:00:00.000Z&end=2024-03-06T00:00:00Z&limit=5&direction=inbound&connectTo=%2B1555", next, 200},
		{"other start", window(day0.Add(time.Hour), day0.AddDate(0, 0, 2)) + "&limit=5&direction=inbound&connectTo=%2B1555", next, 400},
		{"other end", window(day0, day0.AddDate(0, 0, 1)) + "&limit=5&direction=inbound&connectTo=%2B1555", next, 400},
		{"other limit", strings.Replace(base, "limit=5", "limit=6", 1), next, 400},
		{"default limit", strings.Replace(base, "&limit=5", "", 1), next, 400},
		{"other direction", strings.Replace(base, "inbound", "outbound", 1), next, 400},
		{"filter dropped", strings.Replace(base, "&connectTo=%2B1555", "", 1), next, 400},
		{"filter added", base + "&handlingAgentId=67800", next, 400},
		{"garbage", base, "not a token", 400},
		{"empty", base, "", 400},
		{"edited", base, string(edited), 400},
		{"moved", base, moved, 400},
		{"from another account", base, foreign, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, s, searchPath+tc.query+"&continuationToken="+url.QueryEscape(tc.token), tok)
			if resp.StatusCode != tc.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tc.code)
			}
			if tc.code == 200 {
				var p v3Page
				_ = json.Unmarshal(b, &p)
				if len(p.Items) == 0 || p.Items[0].GUID != second.Items[0].GUID {
					t.Errorf("not the second page: %s", b)
				}
			} else if !strings.Contains(string(b), "continuationToken") {
				t.Errorf("message does not name the token: %s", b)
			}
		})
	}
}

type v2Page struct {
	Items []wire.Interaction `json:"items"`
	Meta  wire.Meta          `json:"meta"`
}

// v2 pages by number; its meta counts the page, the pages and all items.
func TestContentV2Pages(t *testing.T) {
	for _, empty204 := range []bool{false, true} {
		t.Run(fmt.Sprintf("empty204=%v", empty204), func(t *testing.T) {
			s := contentSim(t, Config{Readings: Readings{EmptySearch204: empty204}})
			tok := mustToken(t, s, "admin", ScopeContent)
			w := window(day0, day0.AddDate(0, 0, 2))
			var want []string
			for _, it := range s.Shape(day0, day0.AddDate(0, 0, 2), "admin").Interactions {
				if it.Visible {
					want = append(want, it.GUID)
				}
			}
			var got []string
			pageCount := 0
			for page := 1; ; page++ {
				var p v2Page
				getJSON(t, s, fmt.Sprintf("%s%s&limit=7&page=%d", searchPath, w, page), tok, &p, "Accept", acceptContentV2)
				pageCount = p.Meta.PageCount
				if p.Meta.Page != page || p.Meta.Count != len(p.Items) || p.Meta.TotalCount != len(want) || p.Meta.PageCount != (len(want)+6)/7 {
					t.Fatalf("page %d: meta %+v with %d items; %d visible", page, p.Meta, len(p.Items), len(want))
				}
				for _, it := range p.Items {
					got = append(got, it.GUID)
				}
				if page >= p.Meta.PageCount {
					break
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") || pageCount < 3 {
				t.Errorf("v2 walk: %d items over %d pages, want %d", len(got), pageCount, len(want))
			}
			resp, b := get(t, s, fmt.Sprintf("%s%s&limit=7&page=%d", searchPath, w, pageCount+1), tok, "Accept", acceptContentV2)
			switch {
			case empty204 && resp.StatusCode != 204,
				!empty204 && (resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"items":[],"meta":{"page":`)):
				t.Errorf("page past the end: %d %s", resp.StatusCode, b)
			}
			for _, bad := range []string{"page=0", "page=-1", "page=one", "limit=0"} {
				if resp, b := get(t, s, searchPath+w+"&"+bad, tok, "Accept", acceptContentV2); resp.StatusCode != 400 {
					t.Errorf("v2 %s: %d %s, want 400", bad, resp.StatusCode, b)
				}
			}
		})
	}
}
