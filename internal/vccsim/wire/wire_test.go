package wire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
)

func TestPage(t *testing.T) {
	for _, tc := range []struct {
		n, page, size int
		lo, hi        int
		want          Meta
	}{
		{0, 1, 100, 0, 0, Meta{Page: 1, Count: 0, PageCount: 0, TotalCount: 0}},
		{7, 1, 5, 0, 5, Meta{Page: 1, Count: 5, PageCount: 2, TotalCount: 7}},
		{7, 2, 5, 5, 7, Meta{Page: 2, Count: 2, PageCount: 2, TotalCount: 7}},
		{10, 2, 5, 5, 10, Meta{Page: 2, Count: 5, PageCount: 2, TotalCount: 10}},
		{7, 3, 5, 7, 7, Meta{Page: 3, Count: 0, PageCount: 2, TotalCount: 7}},
	} {
		lo, hi, m := Page(tc.n, tc.page, tc.size)
		if lo != tc.lo || hi != tc.hi || m != tc.want {
			t.Errorf("Page(%d, %d, %d) = %d, %d, %+v; want %d, %d, %+v", tc.n, tc.page, tc.size, lo, hi, m, tc.lo, tc.hi, tc.want)
		}
	}
}

func TestNewInteraction(t *testing.T) {
	agent := &dataset.User{AgentID: "67800"}
	modified := time.Date(2024, 3, 4, 9, 5, 0, 0, time.UTC)
	for _, tc := range []struct {
		direction string
		omit      bool
		want      string
	}{
		{"inbound", false, "inbound"},
		{"outbound", false, "outbound"},
		{"internal", false, ""},
		{"inbound", true, ""},
	} {
		it := &dataset.Interaction{GUID: "g", Start: time.Date(2024, 3, 4, 9, 0, 0, 5e6, time.UTC), Direction: tc.direction, Agent: agent,
			ServiceName: "Sales", Content: []dataset.Item{
				{Key: "callRecording", Type: "callRecording", ContentType: "audio/wav", Length: 100},
				{Key: "fbebd00a-9017-48d3-ad5c-156f4c45024e", Type: "voicemail", ContentType: "audio/wav", Length: 50},
				{Key: "0d2b4c8e-9017-48d3-ad5c-156f4c45024e", Type: "ivrAudioRecording", ContentType: "audio/wav", Length: 50},
			}}
		j := NewInteraction(it, modified, tc.omit)
		if j.Direction != tc.want || j.Start != "2024-03-04T09:00:00Z" || j.HandlingAgents[0].ID != "67800" {
			t.Errorf("%s, omit %v: %+v; want direction %q", tc.direction, tc.omit, j, tc.want)
		}
		rec, vm, ivr := j.Content[0], j.Content[1], j.Content[2]
		if rec.LastModified != "2024-03-04T09:05:00Z" || rec.Properties == nil || rec.OwningAgent != nil || rec.OwningInteractionPlan != nil {
			t.Errorf("call recording %+v", rec)
		}
		if vm.OwningAgent == nil || vm.OwningAgent.ID != "67800" || ivr.OwningInteractionPlan == nil || ivr.OwningInteractionPlan.ID != InteractionPlanID("Sales") {
			t.Errorf("voicemail %+v, IVR audio %+v: want their owners", vm, ivr)
		}
	}
}

func TestNewUser_AgentsAndOthers(t *testing.T) {
	login := time.Date(2024, 3, 3, 23, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		u    dataset.User
		want string
	}{
		{dataset.User{Role: dataset.RoleAgent, AgentID: "67800", Location: "US", Username: "a@example.com"},
			`{"role":"Agent","chargeable":true,"actAsAgent":true,"agentConfiguration":{"agentDisplayId":"67800","location":"US"}}`},
		{dataset.User{Role: dataset.RoleSupervisor, Location: "GB", Username: "s@example.com"},
			`{"role":"Supervisor","chargeable":true,"actAsAgent":false,"agentConfiguration":{"location":"GB"}}`},
		{dataset.User{Role: dataset.RoleAdmin, Location: "GB", Username: "ad@example.com"},
			`{"role":"Admin","chargeable":false,"actAsAgent":false}`},
	} {
		j := NewUser(&tc.u, login)
		b, _ := json.Marshal(j.UserAccountConfiguration)
		if string(b) != tc.want || j.LastLoginTime != "2024-03-03T23:00:00.000Z" {
			t.Errorf("%s: %s, last login %s; want %s", tc.u.Role, b, j.LastLoginTime, tc.want)
		}
		var m map[string]any
		b, _ = json.Marshal(j)
		_ = json.Unmarshal(b, &m)
		if _, ok := m["agentId"]; ok {
			t.Errorf("%s: a user has an agentId field: %s", tc.u.Role, b)
		}
		if _, ok := m["groups"]; ok {
			t.Errorf("%s: a user has a groups field: %s", tc.u.Role, b)
		}
	}
}

func TestNewStats_ChannelsAndDirection(t *testing.T) {
	it := &dataset.Interaction{GUID: "g", Duration: 90 * time.Second, Direction: "outbound",
		ConnectFrom: "+15559870000", ConnectTo: "+15550000001", Agent: &dataset.User{AgentID: "67801"}}
	s := NewStats(it)
	if s.Direction != "Outbound" || s.Duration != 90_000 || len(s.Channels) != 2 || s.ConversationGUID == s.GUID {
		t.Fatalf("%+v", s)
	}
	ext, agent := s.Channels[0], s.Channels[1]
	if ext.Party.ID != nil || ext.Party.Role != "External" || *ext.Party.Touchpoint != it.ConnectTo {
		t.Errorf("external channel %+v", ext)
	}
	if *agent.Party.ID != "67801" || agent.Party.Role != "Agent" || agent.Party.Touchpoint != nil || agent.Offset+agent.Duration != 90_000 || len(agent.GUID) != 36 {
		t.Errorf("agent channel %+v", agent)
	}
}
