package vcc

import (
	"context"
	"io"
	"testing"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// Every request is counted by API and purpose: the purpose of its call, or
// the one its context carries (a re-scan), and a request sent again after a
// failed attempt, or a download resumed, as a retry. The purposes add up to
// every request the simulator saw.
func TestCounters_ByPurpose(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 3, Days: 1, CallsPerDay: 20})
	f := newClient(t, sim, "admin")
	ctx := context.Background()
	from, to := day0, day0.AddDate(0, 0, 1)

	var first Interaction
	for it, err := range f.c.Interactions(ctx, from, to) {
		if err != nil {
			t.Fatal(err)
		}
		if first.GUID == "" && len(it.Content) > 0 {
			first = it
		}
	}
	if first.GUID == "" {
		t.Fatal("no interaction with content in the simulated day")
	}
	for _, err := range f.c.Interactions(WithPurpose(ctx, PurposeRescan), from, to) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range f.c.StatsInteractions(ctx, from, to) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var user string
	for u, err := range f.c.Users(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		user = u.UserID
	}
	if _, err := f.c.UserGroups(ctx, user); err != nil {
		t.Fatal(err)
	}
	// The first download attempt gets a 5xx, the second resets the
	// connection mid-body: one download, then a resend and a resume.
	sim.SetFaults(vccsim.Faults{Schedule: []vccsim.ScheduledFault{
		{Route: vccsim.RouteContent, Nth: 1, Fault: vccsim.Fault5xx},
		{Route: vccsim.RouteContent, Nth: 2, Fault: vccsim.FaultReset},
	}})
	r, err := f.c.Open(ctx, first.GUID, first.Content[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	r.Close()

	got := map[Purpose]int64{}
	apis := map[Purpose]map[string]bool{}
	var total int64
	for _, cv := range f.c.Counters() {
		if cv.API == "token" {
			if cv.Purpose != "" {
				t.Errorf("a token request counted with purpose %q", cv.Purpose)
			}
			continue
		}
		got[cv.Purpose] += cv.Count
		total += cv.Count
		if apis[cv.Purpose] == nil {
			apis[cv.Purpose] = map[string]bool{}
		}
		apis[cv.Purpose][cv.API] = true
	}
	pages := got[PurposeList]
	if pages < 1 || got[PurposeRescan] != pages {
		t.Errorf("list %d, rescan %d requests: a re-scan of the same day is as many requests as its listing", pages, got[PurposeRescan])
	}
	for p, want := range map[Purpose]int64{PurposeDownload: 1, PurposeRetry: 2, PurposeUsers: 1, PurposeGroups: 1} {
		if got[p] != want {
			t.Errorf("%s: %d requests, want %d (all: %v)", p, got[p], want, got)
		}
	}
	if got[PurposeStats] < 1 || !apis[PurposeStats]["stats"] || len(apis[PurposeStats]) != 1 {
		t.Errorf("stats: %d requests to %v", got[PurposeStats], apis[PurposeStats])
	}
	if !apis[PurposeDownload]["content"] || !apis[PurposeRescan]["content"] {
		t.Errorf("purposes by API: %v", apis)
	}
	var seen int64
	for _, rs := range sim.Requests() {
		if rs.Route != vccsim.RouteToken {
			seen += int64(rs.Count)
		}
	}
	if seen != total {
		t.Errorf("the purposes add up to %d requests, the simulator saw %d", total, seen)
	}
}
