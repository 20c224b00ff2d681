package vccsim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The documented examples and error bodies of vcc-api.md, shared with the
// client's tests.
const fixtureDir = "../vcc/testdata/fixtures"

type fixture struct {
	Section string          `json:"section"`
	Status  int             `json:"status"`
	Body    json.RawMessage `json:"body"`
}

// Fields the docs say may be null: a null on either side matches anything
// there, and only there.
var nullable = []string{"party.id", "party.touchpoint", "integrationType", "meta.nextContinuationToken"}

// Fields the docs say may be absent: direction ("older API versions/records
// may omit it"; internal calls), agentConfiguration (users who are not
// agents), agentDisplayId (a supervisor who does not act as an agent).
var mayBeAbsent = []string{"items[].direction", "agentConfiguration", "agentConfiguration.agentDisplayId"}

// Fields the docs name for some content types, with their documented
// shape, where a fixture may not show them: owningAgent on voicemail (the v2
// fixture has none), owningInteractionPlan on IVR audio (no fixture has it).
var documentedExtra = map[string]any{
	"content[].owningAgent":           map[string]any{"id": ""},
	"content[].owningInteractionPlan": map[string]any{"id": ""},
}

func matchesSuffix(path string, list []string) bool {
	for _, s := range list {
		if path == s || strings.HasSuffix(path, "."+s) {
			return true
		}
	}
	return false
}

// sameShape compares a served JSON value with a fixture's: the same object
// keys and JSON types, recursively; each element of a served array against
// the fixture array's elements merged (the first element's keys, plus keys
// only later elements show, which are then optional).
func sameShape(path string, fix, got any) []string {
	if matchesSuffix(path, nullable) && (fix == nil || got == nil) {
		return nil // either side null: the docs show both
	}
	if fix == nil {
		if got == nil {
			return nil
		}
		return []string{fmt.Sprintf("%s: %s, want null", path, typeOf(got))}
	}
	if typeOf(fix) != typeOf(got) {
		return []string{fmt.Sprintf("%s: %s, want %s", path, typeOf(got), typeOf(fix))}
	}
	var errs []string
	switch f := fix.(type) {
	case map[string]any:
		g := got.(map[string]any)
		errs = append(errs, compareObject(path, f, g, nil)...)
	case []any:
		if len(f) == 0 {
			return nil
		}
		tmpl, optional := merge(f)
		for i, el := range got.([]any) {
			p := fmt.Sprintf("%s[]", path)
			if m, ok := tmpl.(map[string]any); ok {
				gm, ok := el.(map[string]any)
				if !ok {
					errs = append(errs, fmt.Sprintf("%s #%d: %s, want object", p, i, typeOf(el)))
					continue
				}
				errs = append(errs, compareObject(p, m, gm, optional)...)
			} else {
				errs = append(errs, sameShape(p, tmpl, el)...)
			}
		}
	}
	return errs
}

func compareObject(path string, fix, got map[string]any, optional map[string]bool) []string {
	var errs []string
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	for k, fv := range fix {
		gv, ok := got[k]
		if !ok {
			if !optional[k] && !matchesSuffix(join(k), mayBeAbsent) {
				errs = append(errs, join(k)+": missing")
			}
			continue
		}
		errs = append(errs, sameShape(join(k), fv, gv)...)
	}
	for k, gv := range got {
		if _, ok := fix[k]; ok {
			continue
		}
		if tmpl, ok := documentedExtraFor(join(k)); ok {
			errs = append(errs, sameShape(join(k), tmpl, gv)...)
			continue
		}
		errs = append(errs, join(k)+": not in the documented example")
	}
	sort.Strings(errs)
	return errs
}

func documentedExtraFor(path string) (any, bool) {
	for k, v := range documentedExtra {
		if path == k || strings.HasSuffix(path, "."+k) {
			return v, true
		}
	}
	return nil, false
}

// merge folds a fixture array's elements into one template; keys missing
// from some element are optional.
func merge(els []any) (any, map[string]bool) {
	if _, ok := els[0].(map[string]any); !ok {
		return els[0], nil
	}
	tmpl, optional := map[string]any{}, map[string]bool{}
	for _, el := range els {
		m, _ := el.(map[string]any)
		for k, v := range m {
			if _, seen := tmpl[k]; !seen {
				tmpl[k] = v
			}
		}
	}
	for k := range tmpl {
		for _, el := range els {
			if m, _ := el.(map[string]any); m[k] == nil && !hasKey(m, k) {
				optional[k] = true
			}
		}
	}
	return tmpl, optional
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// fixtureRequest makes, against a fresh simulator, the request whose
// documented answer a fixture holds, and returns the status and body.
type fixtureRequest func(t *testing.T) (int, []byte)

func fixtureRequests() map[string]fixtureRequest {
	content := func(r Readings, path, accept string) fixtureRequest {
		return func(t *testing.T) (int, []byte) {
			s := contentSim(t, Config{Seed: fixtureSeed, Readings: r})
			resp, b := get(t, s, path, mustToken(t, s, "admin", ScopeContent), "Accept", accept)
			return resp.StatusCode, b
		}
	}
	users := func(r Readings, path func(*Server) string, accept string) fixtureRequest {
		return func(t *testing.T) (int, []byte) {
			s := contentSim(t, Config{Seed: fixtureSeed, Readings: r})
			resp, b := get(t, s, path(s), mustToken(t, s, "admin", ScopeUsers), "Accept", accept)
			return resp.StatusCode, b
		}
	}
	stats := func(path, accept string) fixtureRequest {
		return func(t *testing.T) (int, []byte) {
			s := contentSim(t, Config{Seed: fixtureSeed})
			resp, b := get(t, s, path, mustToken(t, s, "admin", ScopeStats), "Accept", accept)
			return resp.StatusCode, b
		}
	}
	token := func(cred string, form url.Values) fixtureRequest {
		return func(t *testing.T) (int, []byte) {
			s := start(t, Config{Seed: fixtureSeed, Days: 1})
			c := s.Credential(cred)
			if form.Get("client_id") == "" {
				form.Set("client_id", c.ClientID)
			}
			if form.Get("client_secret") == "" {
				form.Set("client_secret", c.ClientSecret)
			}
			if form.Get("scope") == "" && form.Has("scope") {
				form.Del("scope")
			}
			return postToken(t, s, "application/x-www-form-urlencoded", form, "", "")
		}
	}
	twoGroups := func(s *Server) string {
		for _, a := range s.Agents() {
			if len(a.Groups) > 1 {
				return a.UserID
			}
		}
		return "none"
	}
	search := "/interaction-content/interactions?" + window(day0, day0.AddDate(0, 0, 2)) + "&limit=1000"
	all := func(*Server) string { return "/useradmin/users?include=All&limit=100" }
	return map[string]fixtureRequest{
		"content_guid_invalid":    content(Readings{}, onePath+"not-a-guid-but-36-characters-long-xx", acceptContentV3),
		"content_guid_length":     content(Readings{}, onePath+"2480fc2c", acceptContentV3),
		"content_invalid_version": content(Readings{}, search, "application/json"),
		"content_search_v2":       content(Readings{}, search, acceptContentV2),
		"content_search_v3":       content(Readings{}, search, acceptContentV3),
		"gateway_token_invalid": func(t *testing.T) (int, []byte) {
			s := contentSim(t, Config{Seed: fixtureSeed})
			resp, b := get(t, s, search, "e33f83202b474c52b5f059b19cah9")
			return resp.StatusCode, b
		},
		"gateway_token_missing": func(t *testing.T) (int, []byte) {
			s := contentSim(t, Config{Seed: fixtureSeed})
			resp, b := get(t, s, search, "")
			return resp.StatusCode, b
		},
		"gateway_token_wrong_scope": func(t *testing.T) (int, []byte) {
			s := contentSim(t, Config{Seed: fixtureSeed})
			resp, b := get(t, s, "/stats/interactions?start=2024-03-04T00:00:00Z", mustToken(t, s, "admin", ScopeContent))
			return resp.StatusCode, b
		},
		"group": users(Readings{}, func(s *Server) string { return "/useradmin/groups/" + s.Agents()[1].Groups[1].ID }, acceptUsersV4),
		"group_users": users(Readings{}, func(s *Server) string {
			return "/useradmin/groups/" + s.Agents()[0].Group().ID + "/users"
		}, acceptUsersV4),
		"stats_interactions":    stats("/stats/interactions?start=2024-03-04T00:00:00Z&end=2024-03-06T00:00:00Z&limit=1000", acceptStatsV3),
		"stats_invalid_accept":  stats("/stats/interactions?start=2024-03-04T00:00:00Z", "application/json"),
		"stats_invalid_version": stats("/stats/interactions?start=2024-03-04T00:00:00Z", "application/vnd.newvoicemedia.v4+json"),
		"stats_window_exceeded": stats("/stats/interactions?start=2024-01-01T00:00:00Z&end=2024-03-01T00:00:00Z", acceptStatsV3),
		"token":                 token("admin", url.Values{"grant_type": {"client_credentials"}, "scope": {ScopeContent}}),
		"token_error_invalid_client": token("admin", url.Values{"grant_type": {"client_credentials"}, "scope": {ScopeContent},
			"client_secret": {"wrong"}}),
		"token_error_invalid_scope":          token("supervisor", url.Values{"grant_type": {"client_credentials"}, "scope": {ScopeStats}}),
		"token_error_missing_scope":          token("admin", url.Values{"grant_type": {"client_credentials"}, "scope": {""}}),
		"token_error_unsupported_grant_type": token("admin", url.Values{"grant_type": {"password"}, "scope": {ScopeContent}}),
		"token_error_server_fault": func(t *testing.T) (int, []byte) {
			s := start(t, Config{Seed: fixtureSeed, Days: 1, Faults: Faults{Schedule: []ScheduledFault{{Route: RouteToken, Nth: 1, Fault: Fault5xx}}}})
			c := s.Credential("admin")
			return postToken(t, s, "application/x-www-form-urlencoded", url.Values{"grant_type": {"client_credentials"},
				"client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "scope": {ScopeContent}}, "", "")
		},
		"user_groups":           users(Readings{}, func(s *Server) string { return "/useradmin/users/" + twoGroups(s) + "/groups" }, acceptUsersV4),
		"users_invalid_version": users(Readings{}, all, acceptContentV3),
		"users_list_bare":       users(Readings{UsersEnvelope: EnvelopeBare}, all, acceptUsersV4),
		"users_list_items":      users(Readings{UsersEnvelope: EnvelopeItems, UsersZeroBasedPages: true}, all, acceptUsersV4),
		"users_list_v4":         users(Readings{}, all, acceptUsersV4),
		"users_version_missing": users(Readings{}, all, "application/json"),
	}
}

// fixtureSeed gives an account whose two days hold voicemail and IVR
// audio, so that every documented content shape is served.
const fixtureSeed = 11

// For every fixture, the simulator answers the same status and a body of
// the same shape; an error body is the documented one exactly.
func TestFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	reqs := fixtureRequests()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var fx fixture
			if err := json.Unmarshal(raw, &fx); err != nil {
				t.Fatal(err)
			}
			req, ok := reqs[name]
			if !ok {
				t.Fatalf("no request for fixture %s (%s): add one", name, fx.Section)
			}
			delete(reqs, name)
			code, body := req(t)
			if code != fx.Status {
				t.Fatalf("status %d, want %d; body %.300s", code, fx.Status, body)
			}
			var want, got any
			_ = json.Unmarshal(fx.Body, &want)
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body is not JSON: %v: %.300s", err, body)
			}
			if code >= 400 {
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body %s, want %s", body, fx.Body)
				}
				return
			}
			for _, e := range sameShape("", want, got) {
				t.Error(e)
			}
			if n := arrayLengths(got); n == 0 {
				t.Errorf("the served lists are empty: the shape test proves nothing: %.300s", body)
			}
		})
	}
	for name := range reqs {
		t.Errorf("request %s has no fixture", name)
	}
}

// arrayLengths counts the elements of the top-level arrays of v (v itself
// if it is one); -1 if there are none.
func arrayLengths(v any) int {
	switch x := v.(type) {
	case []any:
		return len(x)
	case map[string]any:
		n := -1
		for _, f := range x {
			if a, ok := f.([]any); ok {
				n = max(n, 0) + len(a)
			}
		}
		return n
	}
	return -1
}

// The served content covers every shape the fixtures and docs show.
func TestFixtureSeedServesEveryContentShape(t *testing.T) {
	s := contentSim(t, Config{Seed: fixtureSeed})
	types := map[string]int{}
	for _, it := range listAllQuery(t, s, mustToken(t, s, "admin", ScopeContent), window(day0, day0.AddDate(0, 0, 2))+"&limit=1000") {
		for _, c := range it.Content {
			types[c.Type]++
		}
		if it.Direction == "" {
			types["no direction"]++
		}
	}
	for _, want := range []string{"callRecording", "voicemail", "ivrAudioRecording", "transcript", "no direction"} {
		if types[want] == 0 {
			t.Errorf("no %s in the fixture seed's account (%v): pick another fixtureSeed", want, types)
		}
	}
}

// The shape comparison itself fails where it should.
func TestSameShape(t *testing.T) {
	for _, tc := range []struct {
		name, fix, got string
		fails          bool
	}{
		{"equal", `{"a":1,"b":"x"}`, `{"a":2,"b":"y"}`, false},
		{"missing key", `{"a":1,"b":"x"}`, `{"a":2}`, true},
		{"extra key", `{"a":1}`, `{"a":2,"agentId":"1"}`, true},
		{"other type", `{"a":1}`, `{"a":"1"}`, true},
		{"null where not nullable", `{"name":null}`, `{"name":"x"}`, true},
		{"null where nullable", `{"party":{"id":null}}`, `{"party":{"id":"1342"}}`, false},
		{"served null where nullable", `{"party":{"touchpoint":"+1"}}`, `{"party":{"touchpoint":null}}`, false},
		{"served null where not nullable", `{"party":{"role":"Agent"}}`, `{"party":{"role":null}}`, true},
		{"array elements", `{"items":[{"a":1}]}`, `{"items":[{"a":1},{"a":"x"}]}`, true},
		{"merged elements", `{"content":[{"k":1},{"k":2,"owningAgent":{"id":"1"}}]}`, `{"content":[{"k":1},{"k":3,"owningAgent":{"id":"2"}}]}`, false},
		{"documented extra", `{"content":[{"k":1}]}`, `{"content":[{"k":1,"owningInteractionPlan":{"id":"p"}}]}`, false},
		{"documented extra, wrong shape", `{"content":[{"k":1}]}`, `{"content":[{"k":1,"owningInteractionPlan":"p"}]}`, true},
		{"absent agentConfiguration", `{"u":{"role":"Agent","agentConfiguration":{"agentDisplayId":"1"}}}`, `{"u":{"role":"Admin"}}`, false},
		{"bare array", `[{"a":1}]`, `[{"a":1,"b":2}]`, true},
	} {
		var f, g any
		_ = json.Unmarshal([]byte(tc.fix), &f)
		_ = json.Unmarshal([]byte(tc.got), &g)
		if errs := sameShape("", f, g); (len(errs) > 0) != tc.fails {
			t.Errorf("%s: errors %v, want failure %v", tc.name, errs, tc.fails)
		}
	}
}
