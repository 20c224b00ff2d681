package coverage

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)

// calls makes n Stats calls per (direction, group), each visible unless
// hidden(dir, group) or, at random, not recorded (rate notRecorded).
func calls(n int, notRecorded float64, hidden func(dir, group string) bool) []Call {
	r := rand.New(rand.NewPCG(1, 2))
	var out []Call
	for _, dir := range []string{"inbound", "outbound", "internal"} {
		for _, g := range []string{"Team A", "Team B", "Team C"} {
			for i := range n {
				c := Call{GUID: fmt.Sprintf("%s-%s-%d", dir, g, i), Start: t0, End: t0.Add(time.Minute), Direction: dir,
					AgentID: g + "-agent", Group: g, InStats: true, CheckedAt: t0.AddDate(0, 0, 3)}
				if !hidden(dir, g) && r.Float64() >= notRecorded {
					c.InContent, c.Recordings, c.Stored = true, 1, 1
				}
				out = append(out, c)
			}
		}
	}
	return out
}

func TestDiagnose(t *testing.T) {
	none := func(string, string) bool { return false }
	for _, tc := range []struct {
		name  string
		calls []Call
		want  []string
		note  string
	}{
		{"everything visible", calls(10, 0, none), nil, ""},
		{"30% not recorded, spread everywhere: no alarm", calls(10, 0.3, none), nil, ""},
		{"inbound hidden", calls(10, 0.1, func(d, _ string) bool { return d == "inbound" }), []string{PermViewInbound}, ""},
		{"outbound hidden", calls(10, 0.1, func(d, _ string) bool { return d == "outbound" }), []string{PermViewOutbound}, ""},
		{"other groups hidden", calls(10, 0.1, func(_, g string) bool { return g != "Team A" }), []string{PermAccessGroups}, ""},
		{"inbound and groups", calls(10, 0, func(d, g string) bool { return d == "inbound" || g == "Team C" }), []string{PermViewInbound, PermAccessGroups}, ""},
		{"both directions, internal visible", calls(10, 0, func(d, _ string) bool { return d != "internal" }), []string{PermViewInbound, PermViewOutbound}, ""},
		{"too few calls to judge", calls(1, 0, func(d, _ string) bool { return d == "outbound" }), nil, ""},
		{"nothing visible", calls(10, 0, func(string, string) bool { return true }), nil, "showed none"},
		{"no stats for calls Content shows", []Call{{GUID: "g", InContent: true}}, nil, "Stats reports none of the 1 calls Content shows"},
		{"an empty range", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Diagnose(tc.calls)
			var got []string
			for _, g := range d.Gaps {
				got = append(got, g.Permission)
				if g.Hidden == 0 || g.Evidence == "" {
					t.Errorf("gap without evidence: %+v", g)
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("gaps %q, want %q", got, tc.want)
			}
			if !strings.Contains(d.Note, tc.note) || (tc.note == "" && d.Note != "") {
				t.Errorf("note %q, want one containing %q", d.Note, tc.note)
			}
		})
	}
}

func TestBuildReconciles(t *testing.T) {
	cs := calls(20, 0.1, func(d, _ string) bool { return d == "outbound" })
	cs[0].InContent, cs[0].Recordings, cs[0].Stored, cs[0].Failed, cs[0].LastError = true, 2, 1, 1, "boom"
	cs[1].InContent, cs[1].Recordings, cs[1].Stored = true, 1, 0
	recent := cs[2] // not visible yet: checked right after the call
	recent.InContent, recent.Recordings, recent.Stored, recent.CheckedAt = false, 0, 0, recent.End.Add(time.Minute)
	cs[2] = recent
	cs = append(cs, Call{GUID: "content-only", Start: t0, InContent: true, Recordings: 1, Stored: 1})
	for _, by := range Dimensions {
		r, err := Build(cs, by, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sum := Bucket{}
		for _, b := range r.Buckets {
			sum.Calls += b.Calls
			sum.Stored += b.Stored
			sum.Hidden += b.Hidden
			sum.NotRecorded += b.NotRecorded
			sum.Pending += b.Pending
			sum.Failed += b.Failed
			if b.Stored+b.Hidden+b.NotRecorded+b.Pending+b.Failed != b.Calls {
				t.Errorf("by %s: bucket %+v does not add up", by, b)
			}
		}
		tot := r.Total
		if sum.Calls != tot.Calls || sum.Stored != tot.Stored || tot.Calls != len(cs)-1 || tot.ContentOnly != 1 {
			t.Errorf("by %s: buckets %+v vs total %+v", by, sum, tot)
		}
		if tot.Failed != 1 || tot.Pending != 2 || tot.Hidden != 60 || len(r.Failures) != 1 {
			t.Errorf("by %s: total %+v, failures %v", by, tot, r.Failures)
		}
	}
	if _, err := Build(cs, "weekday", 0); err == nil || !strings.Contains(err.Error(), "day, agent, group, direction") {
		t.Errorf("bad --by: %v", err)
	}
}

// Without Stats data the counts are of the calls Content shows, so a
// stats-less credential's stored recordings are not reported as 0 stored.
func TestBuild_WithoutStatsCountsWhatContentShows(t *testing.T) {
	cs := []Call{
		{GUID: "a", Start: t0, InContent: true, Recordings: 1, Stored: 1},
		{GUID: "b", Start: t0, InContent: true, Recordings: 1, Stored: 1},
		{GUID: "c", Start: t0, InContent: true, Recordings: 1, Failed: 1, LastError: "boom"},
		{GUID: "d", Start: t0, InContent: true}, // a transcript only
	}
	r, err := Build(cs, "day", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tot := r.Total
	if r.Basis != BasisContent || tot.Calls != 0 || tot.InContent != 4 || tot.Stored != 2 || tot.Failed != 1 || tot.NotRecorded != 1 || tot.ContentOnly != 4 {
		t.Errorf("basis %q, total %+v", r.Basis, tot)
	}
	if got, want := r.Summary(), "coverage: no Stats data; Content shows 4 calls: 2 stored, 1 not recorded, 0 pending, 1 failed"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	// One call in Stats: the report is of Stats again, content-only calls
	// aside.
	cs = append(cs, Call{GUID: "e", Start: t0, InStats: true, InContent: true, Recordings: 1, Stored: 1})
	if r, _ := Build(cs, "day", time.Hour); r.Basis != BasisStats || r.Total.Calls != 1 || r.Total.Stored != 1 {
		t.Errorf("with a Stats call: basis %q, total %+v", r.Basis, r.Total)
	}
}

func TestGapAdviceNamesWhatIsHiddenAndThePermission(t *testing.T) {
	for _, tc := range []struct{ perm, want string }{
		{PermViewInbound, "inbound calls are hidden: enable “View inbound interaction content” for the credential's user"},
		{PermViewOutbound, "outbound calls are hidden: enable “View outbound interaction content” for the credential's user"},
		{PermAccessGroups, "calls of agents outside the user's own groups are hidden: enable “Access groups of users' content (overrides line permissions)” for the credential's user"},
	} {
		if got := (Gap{Permission: tc.perm}).Advice(); got != tc.want {
			t.Errorf("Advice(%s) = %q, want %q", tc.perm, got, tc.want)
		}
	}
}
