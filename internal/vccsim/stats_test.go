package vccsim

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

type statsPage struct {
	Meta  wire.Meta    `json:"meta"`
	Items []wire.Stats `json:"items"`
	UpTo  string       `json:"upTo"`
}

func TestStatsParameters(t *testing.T) {
	s := contentSim(t, Config{})
	tok := mustToken(t, s, "admin", ScopeStats)
	const p = "/stats/interactions?"
	for _, tc := range []struct {
		name, query string
		code        int
		want        string // the exact body or, for a 400 without one, part of the message
	}{
		{"start only", "start=2024-03-04T00:00:00Z", 200, ""},
		{"31 days", "start=2024-02-04T00:00:00Z&end=2024-03-06T00:00:00Z", 200, ""},
		{"include Started", "start=2024-03-04T00:00:00Z&include=Started", 200, ""},
		{"include StartedOrEnded", "start=2024-03-04T00:00:00Z&include=StartedOrEnded", 200, ""},
		{"include Processed", "start=2024-03-04T00:00:00Z&include=Processed", 200, ""},
		{"limit 5000", "start=2024-03-04T00:00:00Z&limit=5000", 200, ""},
		{"no start", "end=2024-03-05T00:00:00Z", 400, "'start'"},
		{"over 31 days", "start=2024-02-04T00:00:00Z&end=2024-03-06T00:00:01Z", 400, `{"message":"Request window size limit exceeded 31 days"}`},
		{"over 31 days to now", "start=2024-01-01T00:00:00Z", 400, `{"message":"Request window size limit exceeded 31 days"}`},
		{"include lower case", "start=2024-03-04T00:00:00Z&include=processed", 400, "'include'"},
		{"limit 0", "start=2024-03-04T00:00:00Z&limit=0", 400, "'limit'"},
		{"limit 5001", "start=2024-03-04T00:00:00Z&limit=5001", 400, "'limit'"},
		{"page 0", "start=2024-03-04T00:00:00Z&page=0", 400, "'page'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, s, p+tc.query, tok)
			if resp.StatusCode != tc.code || resp.Header.Get("Cache-Control") != "max-age=5, must-revalidate, private" {
				t.Fatalf("%d %.200s, Cache-Control %q; want %d", resp.StatusCode, b, resp.Header.Get("Cache-Control"), tc.code)
			}
			switch {
			case strings.HasPrefix(tc.want, "{"):
				if !jsonEqual(b, []byte(tc.want)) {
					t.Errorf("body %s, want %s", b, tc.want)
				}
			case tc.want != "":
				if !strings.Contains(string(b), tc.want) {
					t.Errorf("body %s, want a message about %s", b, tc.want)
				}
			}
		})
	}
}

// Stats pages are 1-based, in start order, cover every interaction whatever
// the credential's content permissions, and end at upTo.
func TestStatsPagesAndItems(t *testing.T) {
	s := contentSim(t, Config{})
	tok := mustToken(t, s, "no-inbound", ScopeStats)
	truth := s.Shape(day0, day0.AddDate(0, 0, 2), "no-inbound").Interactions
	var got []wire.Stats
	for page := 1; ; page++ {
		var sp statsPage
		getJSON(t, s, fmt.Sprintf("/stats/interactions?start=2024-03-04T00:00:00Z&end=2024-03-06T00:00:00Z&limit=7&page=%d", page), tok, &sp)
		if sp.Meta.Page != page || sp.Meta.Count != len(sp.Items) || sp.Meta.TotalCount != len(truth) || sp.UpTo != "2024-03-06T00:00:00.000Z" {
			t.Fatalf("page %d: meta %+v, upTo %s; %d interactions", page, sp.Meta, sp.UpTo, len(truth))
		}
		got = append(got, sp.Items...)
		if page >= sp.Meta.PageCount {
			break
		}
	}
	if len(got) != len(truth) {
		t.Fatalf("%d items, want %d", len(got), len(truth))
	}
	for i, st := range got {
		ti := truth[i]
		ext, agent := st.Channels[0], st.Channels[1]
		switch {
		case st.GUID != ti.GUID || !strings.EqualFold(st.Direction, ti.Direction) || st.Start != ti.Start.Format(wire.TimeLayout):
			t.Errorf("item %d: %s %s %s, truth %s %s %s", i, st.GUID, st.Direction, st.Start, ti.GUID, ti.Direction, ti.Start)
		case ext.Party.Role != "External" || ext.Party.ID != nil || ext.IntegrationType != nil:
			t.Errorf("%s: customer leg %+v", st.GUID, ext)
		case agent.Party.Role != "Agent" || agent.Party.ID == nil || *agent.Party.ID != ti.AgentID:
			t.Errorf("%s: agent leg %+v, want agent %s", st.GUID, agent.Party, ti.AgentID)
		}
	}
	// The clock bounds upTo; a row appears only StatsDelay after its call.
	last := truth[len(truth)-1]
	s.SetNow(last.End.Add(time.Minute))
	var sp statsPage
	getJSON(t, s, "/stats/interactions?start=2024-03-05T00:00:00Z&limit=5000", tok, &sp)
	if sp.UpTo != s.Now().Format(wire.TimeLayout) {
		t.Errorf("upTo %s, want now %s", sp.UpTo, s.Now())
	}
	for _, st := range sp.Items {
		if st.GUID == last.GUID {
			t.Error("a row shows before its stats delay")
		}
	}
	resp, b := get(t, s, "/stats/interactions/"+last.GUID, tok)
	if resp.StatusCode != 404 || resp.Header.Get("Cache-Control") == "" {
		t.Errorf("single row before its delay: %d %s", resp.StatusCode, b)
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m["message"] == nil {
		t.Errorf("404 body %s", b)
	}
}
