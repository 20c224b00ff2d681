package vccsim

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

const onePath = "/interaction-content/interactions/"

func TestContentGUIDChecks(t *testing.T) {
	s := contentSim(t, Config{})
	tok := mustToken(t, s, "admin", ScopeContent)
	guid := firstRecording(t, s)
	invalid := "not-a-guid-but-36-characters-long-xx"
	for _, tc := range []struct {
		name, path string
		code       int
		want       string // exact body, if set
	}{
		{"known", onePath + guid, 200, ""},
		{"upper case", onePath + strings.ToUpper(guid), 404, ""},
		{"unknown", onePath + "00000000-0000-4000-8000-000000000000", 404, `{"message":"Interaction '00000000-0000-4000-8000-000000000000' not found"}`},
		{"short", onePath + "short", 400, `{"message":"GUID must be 36 characters in length"}`},
		{"long", onePath + guid + "0", 400, `{"message":"GUID must be 36 characters in length"}`},
		{"not a UUID", onePath + invalid, 400, `{"message":"GUID '` + invalid + `' is not a valid UUID string"}`},
		{"dashes misplaced", onePath + strings.Replace(guid, "-", "0", 1) + "-", 400, ""},
		{"download short", onePath + "short/content/callRecording", 400, `{"message":"GUID must be 36 characters in length"}`},
		{"download not a UUID", onePath + invalid + "/content/callRecording", 400, `{"message":"GUID '` + invalid + `' is not a valid UUID string"}`},
		{"download", onePath + guid + "/content/callRecording", 200, ""},
		{"literal key in another case", onePath + guid + "/content/callrecording", 200, ""},
		{"unknown key", onePath + guid + "/content/screenRecording", 404, `{"message":"Content 'screenRecording' not found"}`},
		{"key too long", onePath + guid + "/content/" + strings.Repeat("k", 37), 400, ""},
		{"key with a bad character", onePath + guid + "/content/" + url.PathEscape("call recording"), 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, s, tc.path, tok)
			if resp.StatusCode != tc.code {
				t.Fatalf("%d %.200s, want %d", resp.StatusCode, b, tc.code)
			}
			if tc.want != "" && !jsonEqual(b, []byte(tc.want)) {
				t.Errorf("body %s, want %s", b, tc.want)
			}
		})
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// Hostile ids are listed by the search but cannot be asked for: the GUID
// checks refuse them before any lookup.
func TestHostileIDs(t *testing.T) {
	s := contentSim(t, Config{HostileIDs: true})
	tok := mustToken(t, s, "admin", ScopeContent)
	listed := 0
	for _, it := range listAllQuery(t, s, tok, window(day0, day0.AddDate(0, 0, 2))+"&limit=1000") {
		if len(it.GUID) == 36 {
			continue
		}
		listed++
		resp, b := get(t, s, onePath+url.PathEscape(it.GUID), tok)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "GUID") {
			t.Errorf("%q: %d %s, want a GUID 400", it.GUID, resp.StatusCode, b)
		}
	}
	if listed == 0 {
		t.Fatal("no hostile id listed")
	}
}

// Content hidden by permission answers as the reading says; content that
// does not exist yet is a 404 under both.
func TestHiddenStatus(t *testing.T) {
	for _, tc := range []struct {
		status, want int
	}{{0, 404}, {404, 404}, {403, 403}} {
		s := start(t, Config{Seed: 4, Days: 1, CallsPerDay: 30, ContentDelay: time.Hour, Readings: Readings{HiddenStatus: tc.status}})
		tok := mustToken(t, s, "no-inbound", ScopeContent)
		var hidden, late TruthInteraction
		truth := s.Shape(day0, day0.AddDate(0, 0, 1), "no-inbound").Interactions
		for _, it := range truth {
			if strings.HasPrefix(it.HiddenReason, "permission") && hidden.GUID == "" {
				hidden = it
			}
		}
		// The clock where the last recorded call's content is not yet there.
		for i := len(truth) - 1; i >= 0; i-- {
			if len(truth[i].Content) > 0 && truth[i].Direction == "outbound" {
				late = truth[i]
				break
			}
		}
		s.SetNow(late.End.Add(30 * time.Minute))
		if hidden.GUID == "" || late.GUID == "" || !hidden.End.Add(time.Hour).Before(s.Now()) {
			t.Fatal("no hidden or no late interaction")
		}
		for _, p := range []string{hidden.GUID, hidden.GUID + "/content/" + hidden.Content[0].ContentKey} {
			resp, b := get(t, s, onePath+p, tok)
			var m struct{ Message string }
			if resp.StatusCode != tc.want || json.Unmarshal(b, &m) != nil || m.Message == "" {
				t.Errorf("HiddenStatus %d: hidden %s: %d %s, want %d with a message", tc.status, p, resp.StatusCode, b, tc.want)
			}
		}
		if resp, b := get(t, s, onePath+late.GUID, tok); resp.StatusCode != 404 {
			t.Errorf("HiddenStatus %d: not yet available: %d %s, want 404", tc.status, resp.StatusCode, b)
		}
	}
	if _, err := New(Config{Readings: Readings{HiddenStatus: 401}}); err == nil {
		t.Error("HiddenStatus 401 was accepted")
	}
}
