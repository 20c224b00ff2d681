package wire

import (
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

func TestNewInteraction_Direction(t *testing.T) {
	agent := &dataset.Agent{AgentID: "67800"}
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
		it := &dataset.Interaction{GUID: "g", Start: time.Date(2024, 3, 4, 9, 0, 0, 5e6, time.UTC), Direction: tc.direction, Agent: agent}
		j := NewInteraction(it, tc.omit)
		if j.Direction != tc.want || j.Start != "2024-03-04T09:00:00.005Z" || j.HandlingAgents[0].ID != "67800" {
			t.Errorf("%s, omit %v: %+v; want direction %q", tc.direction, tc.omit, j, tc.want)
		}
	}
}

func TestNewStats_ChannelsAndDirection(t *testing.T) {
	it := &dataset.Interaction{GUID: "g", Duration: 90 * time.Second, Direction: "outbound",
		ConnectFrom: "+15559870000", ConnectTo: "+15550000001", Agent: &dataset.Agent{AgentID: "67801"}}
	s := NewStats(it)
	if s.Direction != "Outbound" || s.Duration != 90_000 || len(s.Channels) != 2 {
		t.Fatalf("%+v", s)
	}
	ext, agent := s.Channels[0], s.Channels[1]
	if *ext.Party.Touchpoint != it.ConnectTo || *agent.Party.ID != "67801" || agent.Party.Role != "Agent" || agent.Offset+agent.Duration != 90_000 {
		t.Errorf("channels %+v %+v", ext, agent)
	}
}
