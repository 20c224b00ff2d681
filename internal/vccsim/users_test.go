package vccsim

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
	"github.com/vccingest/vccingest/internal/vccsim/wire"
)

// decodeUsers decodes one GET /users page under any envelope; meta is nil
// for a bare array.
func decodeUsers(t *testing.T, b []byte, envelope string) ([]wire.User, *wire.Meta) {
	t.Helper()
	var env struct {
		Meta  *wire.Meta  `json:"meta"`
		Users []wire.User `json:"users"`
		Items []wire.User `json:"items"`
	}
	var keys map[string]json.RawMessage
	switch envelope {
	case EnvelopeBare:
		var users []wire.User
		if err := json.Unmarshal(b, &users); err != nil {
			t.Fatalf("bare envelope: %v in %s", err, b)
		}
		return users, nil
	case EnvelopeItems:
		if json.Unmarshal(b, &keys) != nil || keys["users"] != nil || keys["items"] == nil || keys["meta"] == nil {
			t.Fatalf("items envelope: %s", b)
		}
		_ = json.Unmarshal(b, &env)
		return env.Items, env.Meta
	default:
		if json.Unmarshal(b, &keys) != nil || keys["items"] != nil || keys["users"] == nil || keys["meta"] == nil {
			t.Fatalf("users envelope: %s", b)
		}
		_ = json.Unmarshal(b, &env)
		return env.Users, env.Meta
	}
}

// Under every envelope and page base, a client that asks for the first
// page without page, then meta.page+1 (or, without meta, base+1, base+2 …
// until an empty page), sees every user once.
func TestUsersPagingUnderEachReading(t *testing.T) {
	for _, env := range []string{"", EnvelopeItems, EnvelopeBare} {
		for _, zero := range []bool{false, true} {
			r := Readings{UsersEnvelope: env, UsersZeroBasedPages: zero}
			t.Run(r.String(), func(t *testing.T) {
				s := start(t, Config{Seed: 3, Days: 1, Agents: 11, Readings: r})
				tok := mustToken(t, s, "admin", ScopeUsers)
				base := r.usersPageBase()
				want := map[string]bool{}
				for _, u := range s.Users() {
					want[u.UserID] = true
				}
				seen := map[string]int{}
				path := "/useradmin/users?include=All&limit=4"
				page := base
				for n := 0; ; n++ {
					if n > 100 {
						t.Fatal("the walk does not end")
					}
					resp, b := get(t, s, path, tok)
					if resp.StatusCode != 200 {
						t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
					}
					users, meta := decodeUsers(t, b, r.usersEnvelope())
					for _, u := range users {
						seen[u.UserID]++
					}
					if meta != nil {
						if meta.Page != page || meta.Count != len(users) || meta.TotalCount != len(want) || meta.PageCount != (len(want)+3)/4 {
							t.Fatalf("%s: meta %+v with %d users, want page %d of %d users", path, *meta, len(users), page, len(want))
						}
						if meta.Page-base+1 >= meta.PageCount {
							break
						}
						page = meta.Page + 1
					} else {
						if len(users) == 0 {
							break
						}
						page++
					}
					path = fmt.Sprintf("/useradmin/users?include=All&limit=4&page=%d", page)
				}
				for id := range want {
					if seen[id] != 1 {
						t.Errorf("user %s seen %d times", id, seen[id])
					}
				}
				if len(seen) != len(want) {
					t.Errorf("%d users seen, want %d", len(seen), len(want))
				}
				for _, bad := range []string{fmt.Sprintf("page=%d", base-1), "page=x", "limit=0", "limit=5001", "include=active", "include=Inactive"} {
					resp, b := get(t, s, "/useradmin/users?"+bad, tok)
					var m boom
					if resp.StatusCode != 400 || json.Unmarshal(b, &m) != nil || m.StatusCode != 400 || m.Error != "Bad Request" || m.Message == "" {
						t.Errorf("%s: %d %s, want a 400 {statusCode, error, message}", bad, resp.StatusCode, b)
					}
				}
				if resp, b := get(t, s, "/useradmin/users?limit=5000", tok); resp.StatusCode != 200 {
					t.Errorf("limit=5000: %d %s", resp.StatusCode, b)
				}
				// The base holds for the sub-resource lists too.
				a := s.Agents()[0]
				var ug wire.UserGroups
				getJSON(t, s, "/useradmin/users/"+a.UserID+"/groups", tok, &ug)
				var gu wire.GroupUsers
				getJSON(t, s, "/useradmin/groups/"+a.Group().ID+"/users", tok, &gu)
				if ug.Meta.Page != base || gu.Meta.Page != base || len(ug.AgentGroups) == 0 || len(gu.Users) == 0 {
					t.Errorf("first sub-resource pages: %+v, %+v; want page %d", ug.Meta, gu.Meta, base)
				}
			})
		}
	}
}

func TestUsersIncludeAndDefaults(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1, Agents: 30})
	tok := mustToken(t, s, "admin", ScopeUsers)
	var active, archived int
	for _, u := range s.Users() {
		if u.Active {
			active++
		} else {
			archived++
		}
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", active}, {"include=Active", active}, {"include=Archived", archived}, {"include=All", active + archived},
	} {
		resp, b := get(t, s, "/useradmin/users?limit=5000&"+tc.query, tok)
		users, meta := decodeUsers(t, b, EnvelopeUsers)
		if resp.StatusCode != 200 || len(users) != tc.want || meta.TotalCount != tc.want {
			t.Errorf("%q: %d, %d users, want %d", tc.query, resp.StatusCode, len(users), tc.want)
		}
		for _, u := range users {
			if u.Active != (tc.query == "" || tc.query == "include=Active") && tc.query != "include=All" {
				t.Errorf("%q: user %s active=%v", tc.query, u.Name, u.Active)
			}
		}
	}
	resp, b := get(t, s, "/useradmin/users", tok)
	users, meta := decodeUsers(t, b, EnvelopeUsers)
	if resp.StatusCode != 200 || len(users) != usersDefaultLimit || meta.Page != 1 {
		t.Errorf("default page: %d, %d users, meta %+v; want %d users on page 1", resp.StatusCode, len(users), meta, usersDefaultLimit)
	}
	if archived == 0 {
		t.Error("no archived user: the test proves nothing")
	}
}

// User objects are as documented; users who are not agents have no agent
// id; a supervisor does not see admins.
func TestUserObjects(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1, Agents: 5})
	admin, sup := mustToken(t, s, "admin", ScopeUsers), mustToken(t, s, "supervisor", ScopeUsers)
	roles := map[string]dataset.User{}
	for _, u := range s.Users() {
		roles[u.Role+map[bool]string{true: "", false: " archived"}[u.Active]] = u
	}
	for name, u := range roles {
		var raw map[string]any
		getJSON(t, s, "/useradmin/users/"+u.UserID, admin, &raw)
		cfg := raw["userAccountConfiguration"].(map[string]any)
		ac, hasAC := cfg["agentConfiguration"].(map[string]any)
		id, hasID := ac["agentDisplayId"]
		switch {
		case raw["agentId"] != nil || raw["groups"] != nil:
			t.Errorf("%s: agentId or groups on the user: %v", name, raw)
		case cfg["role"] != u.Role:
			t.Errorf("%s: role %v", name, cfg["role"])
		case u.Role == dataset.RoleAdmin && hasAC:
			t.Errorf("admin has an agentConfiguration: %v", cfg)
		case u.Role == dataset.RoleSupervisor && (!hasAC || hasID):
			t.Errorf("supervisor: %v, want an agentConfiguration without agentDisplayId", cfg)
		case u.Role == dataset.RoleAgent && id != u.AgentID:
			t.Errorf("%s: agentDisplayId %v, want %s", name, id, u.AgentID)
		}
	}
	if len(roles) != 4 {
		t.Fatalf("roles %v: want active agents, an archived agent, a supervisor and an admin", len(roles))
	}
	ad := roles[dataset.RoleAdmin]
	if resp, b := get(t, s, "/useradmin/users/"+ad.UserID, sup); resp.StatusCode != 404 {
		t.Errorf("supervisor gets the admin: %d %s", resp.StatusCode, b)
	}
	_, b := get(t, s, "/useradmin/users?include=All&limit=100", sup)
	if strings.Contains(string(b), ad.UserID) || !strings.Contains(string(b), roles[dataset.RoleSupervisor].UserID) {
		t.Errorf("supervisor's list: admins must be left out, the supervisor in: %s", b)
	}
	resp, b := get(t, s, "/useradmin/users/00000000-0000-4000-8000-000000000000", admin)
	var m boom
	if resp.StatusCode != 404 || json.Unmarshal(b, &m) != nil || m.StatusCode != 404 || m.Error != "Not Found" {
		t.Errorf("unknown user: %d %s", resp.StatusCode, b)
	}
}

// The agent id is one string across the three APIs.
func TestOneAgentIDAcrossAPIs(t *testing.T) {
	s := contentSim(t, Config{})
	c, u, st := mustToken(t, s, "admin", ScopeContent), mustToken(t, s, "admin", ScopeUsers), mustToken(t, s, "admin", ScopeStats)
	var it wire.Interaction
	for _, i := range listAllQuery(t, s, c, window(day0, day0.AddDate(0, 0, 1))+"&limit=1000") {
		it = i
		break
	}
	id := it.HandlingAgents[0].ID
	var stats wire.Stats
	getJSON(t, s, "/stats/interactions/"+it.GUID, st, &stats)
	var user wire.User
	getJSON(t, s, "/useradmin/users/by/agentDisplayId/"+id, u, &user)
	if *stats.Channels[1].Party.ID != id || user.UserAccountConfiguration.AgentConfiguration.AgentDisplayID != id {
		t.Errorf("content %s, stats %s, user admin %+v", id, *stats.Channels[1].Party.ID, user.UserAccountConfiguration)
	}
	truth := s.Shape(day0, day0.AddDate(0, 0, 1), "admin")
	for _, ti := range truth.Interactions {
		if ti.GUID == it.GUID && (ti.AgentID != id || ti.AgentCode != id || ti.AgentEmail != user.Email) {
			t.Errorf("truth %+v, want agent id and code %s", ti, id)
		}
	}
	for _, bad := range []string{"99999", "", "sam.supervisor"} {
		if resp, b := get(t, s, "/useradmin/users/by/agentDisplayId/"+bad, u); resp.StatusCode != 404 {
			t.Errorf("agentDisplayId %q: %d %s", bad, resp.StatusCode, b)
		}
	}
}

func TestGroups(t *testing.T) {
	s := start(t, Config{Seed: 1, Days: 1, Agents: 9})
	tok := mustToken(t, s, "admin", ScopeUsers)
	var two *dataset.User
	agents := s.Agents()
	for i := range agents {
		if len(agents[i].Groups) > 1 {
			two = &agents[i]
			break
		}
	}
	if two == nil {
		t.Fatal("no agent in two groups")
	}
	handled := 0
	for _, ti := range s.Shape(day0, day0.AddDate(0, 0, 1), "admin").Interactions {
		if ti.AgentID == two.AgentID {
			handled++
			if len(ti.Groups) != 2 || ti.Groups[0] != two.Group().Name || ti.Groups[1] != two.Groups[1].Name {
				t.Errorf("truth groups %v, want %s's two", ti.Groups, two.Name)
			}
		}
	}
	if handled == 0 {
		t.Error("the agent in two groups handled no call: the truth check proves nothing")
	}
	var ug wire.UserGroups
	getJSON(t, s, "/useradmin/users/"+two.UserID+"/groups", tok, &ug)
	if ug.UserID != two.UserID || ug.AgentDisplayID == nil || *ug.AgentDisplayID != two.AgentID || len(ug.AgentGroups) != 2 ||
		ug.AgentGroups[0].GroupID != two.Group().ID || ug.Meta.TotalCount != 2 || ug.Meta.Page != 1 {
		t.Errorf("groups of %s: %+v", two.Name, ug)
	}
	var p1, p2 wire.UserGroups
	getJSON(t, s, "/useradmin/users/"+two.UserID+"/groups?limit=1", tok, &p1)
	getJSON(t, s, "/useradmin/users/"+two.UserID+"/groups?limit=1&page=2", tok, &p2)
	if len(p1.AgentGroups) != 1 || len(p2.AgentGroups) != 1 || p1.AgentGroups[0] == p2.AgentGroups[0] || p2.Meta.PageCount != 2 {
		t.Errorf("paged groups: %+v %+v", p1, p2)
	}
	var admin dataset.User
	for _, u := range s.Users() {
		if u.Role == dataset.RoleAdmin {
			admin = u
		}
	}
	resp, b := get(t, s, "/useradmin/users/"+admin.UserID+"/groups", tok)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"agentDisplayId":null,"agentGroups":[]`) {
		t.Errorf("admin's groups: %d %s", resp.StatusCode, b)
	}

	g := two.Groups[1]
	var group wire.Group
	getJSON(t, s, "/useradmin/groups/"+g.ID, tok, &group)
	if group != wire.NewGroup(g) || group.GroupDisplayID == "" || group.GroupMaxWrapUpTime == 0 {
		t.Errorf("group %+v, want %+v", group, g)
	}
	var members wire.GroupUsers
	getJSON(t, s, "/useradmin/groups/"+g.ID+"/users?limit=100", tok, &members)
	found := false
	for _, m := range members.Users {
		found = found || (m.UserID == two.UserID && m.AgentDisplayID == two.AgentID && m.Name == two.Name)
	}
	if !found || members.GroupID != g.ID || members.Meta.TotalCount != len(members.Users) {
		t.Errorf("members of %s: %+v; want %s among them", g.Name, members, two.Name)
	}
	for _, p := range []string{"/useradmin/groups/nope", "/useradmin/groups/nope/users", "/useradmin/users/nope/groups"} {
		if resp, b := get(t, s, p, tok); resp.StatusCode != 404 || !strings.Contains(string(b), `"statusCode":404`) {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
	if resp, b := get(t, s, "/useradmin/groups/"+g.ID+"/users?page=0", tok); resp.StatusCode != 400 {
		t.Errorf("page 0 of a 1-based list: %d %s", resp.StatusCode, b)
	}
}
