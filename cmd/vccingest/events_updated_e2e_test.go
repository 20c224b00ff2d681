package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/events/eventstest"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// An agent renamed in VCC after their calls were stored: the next run
// (which lists new windows and so reads the users again) rewrites those
// calls' sidecars with the new name and email and announces one
// recording.updated for each of the agent's stored recordings, carrying
// the new name; the other agents' recordings get none.
func TestEvents_RenamedAgentAnnouncesRecordingUpdated(t *testing.T) {
	t.Setenv("VCC_TEST_HOOK_SECRET", hookSecret)
	hook := eventstest.NewWebhook(t, hookSecret)
	e := newE2E(t, vccsim.Config{Seed: 73, Days: 2, CallsPerDay: 16, FixedRecordingSize: 8 << 10}, "admin")
	mid := e.from.AddDate(0, 0, 1)
	sync := func(from, to time.Time) {
		t.Helper()
		r := e.run("sync", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
			"--events", hook.URL, "--events-secret-ref", "env:VCC_TEST_HOOK_SECRET", "--requests-per-minute", "60000")
		if r.code != 0 {
			t.Fatalf("sync %s – %s: %d\n%s", from, to, r.code, r.stderr)
		}
	}
	sync(e.from, mid)

	// The agent with the most stored recordings of the first day.
	stored := e.storedIDs()
	byAgent := map[string][]string{} // agent → "guid/content key" of its stored recordings
	for _, it := range e.sim.Truth(e.from, mid, e.cred.ClientID).Interactions {
		for _, c := range it.Content {
			if _, ok := stored[events.RecordingID("default", it.GUID, c.ContentKey, "stored", 0)]; ok && it.AgentID != "" {
				byAgent[it.AgentID] = append(byAgent[it.AgentID], it.GUID+"/"+c.ContentKey)
			}
		}
	}
	var agent string
	for id, recs := range byAgent {
		if len(recs) > len(byAgent[agent]) || len(recs) == len(byAgent[agent]) && id < agent {
			agent = id
		}
	}
	if len(byAgent[agent]) < 2 {
		t.Fatalf("no agent has two stored recordings on the first day: %v", byAgent)
	}
	const newName, newEmail = "Ada Renamed", "ada.renamed@example.com"
	if !e.sim.RenameAgent(agent, newName, newEmail) {
		t.Fatalf("the simulator has no agent %s", agent)
	}
	before := len(hook.Events())

	sync(mid, e.to)

	var updated []string
	ids := map[string]bool{}
	for _, ev := range hook.Events()[before:] {
		if ev.Type != events.TypeRecordingUpdated {
			continue
		}
		if ids[ev.ID] {
			continue // delivered twice: at least once, de-duplicated by id
		}
		ids[ev.ID] = true
		var data events.RecordingUpdated
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("recording.updated %s: %v", ev.ID, err)
		}
		if data.Agent == nil || data.Agent.ID != agent || data.Agent.Name != newName || data.Agent.Email != newEmail {
			t.Errorf("recording.updated %s does not carry the renamed agent %s: %s", ev.ID, agent, ev.Data)
		}
		updated = append(updated, data.InteractionID+"/"+data.ContentKey)
	}
	want := byAgent[agent]
	slices.Sort(want)
	slices.Sort(updated)
	if !slices.Equal(updated, want) {
		t.Errorf("recording.updated for %v; want one for each stored recording of agent %s: %v", updated, agent, want)
	}
	// Every sidecar, of both days, shows the agents as VCC has them now.
	if n := e.verify(); n == 0 {
		t.Fatal("nothing stored")
	}
}
