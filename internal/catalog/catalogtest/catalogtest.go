// Package catalogtest is the conformance suite every catalog backend passes,
// run against each backend's real database.
package catalogtest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
)

// Open returns a fresh catalog with its schema in place.
type Open func(t *testing.T) *catalog.Catalog

var t0 = time.Date(2024, 3, 4, 9, 15, 22, 0, time.UTC)

// Run runs the suite.
func Run(t *testing.T, open Open) {
	t.Run("MarkStoredExactlyOnceUnderRace", func(t *testing.T) { markStoredOnce(t, open(t)) })
	t.Run("InteractionEnrichesNeverErases", func(t *testing.T) { enrich(t, open(t)) })
	t.Run("WatermarkNeverMovesBack", func(t *testing.T) { watermark(t, open(t)) })
	t.Run("WindowSyncedOnlyWhenNothingPending", func(t *testing.T) { windows(t, open(t)) })
	t.Run("FailuresAndRetries", func(t *testing.T) { failures(t, open(t)) })
	t.Run("AgentsAndStats", func(t *testing.T) { agents(t, open(t)) })
	t.Run("AgentGroupsKeepTheirOwnAge", func(t *testing.T) { agentGroups(t, open(t)) })
	t.Run("BadRecordsReplacedPerWindow", func(t *testing.T) { badRecords(t, open(t)) })
	t.Run("DetailJoinsAgentAndRecordings", func(t *testing.T) { detail(t, open(t)) })
	t.Run("TxRollsBack", func(t *testing.T) { rollback(t, open(t)) })
	t.Run("SidecarStaleUntilWrittenAndAfterEachChange", func(t *testing.T) { sidecarRev(t, open(t)) })
	t.Run("AgentChangeMakesItsStoredSidecarsStale", func(t *testing.T) { agentChange(t, open(t)) })
	t.Run("ListingAndCoverageQueries", func(t *testing.T) { listing(t, open(t)) })
	t.Run("TotalsRunsAndRecentFailures", func(t *testing.T) { status(t, open(t)) })
	t.Run("StartKeptOnceARecordingIsStored", func(t *testing.T) { keyDate(t, open(t)) })
}

func listing(t *testing.T, c *catalog.Catalog) {
	ctx := context.Background()
	if err := Fill(ctx, c, "acme", 50); err != nil {
		t.Fatal(err)
	}
	to := FillStart.Add(time.Hour)
	ls, err := c.ListInteractions(ctx, catalog.Filter{Tenant: "acme", From: FillStart, To: to})
	if err != nil {
		t.Fatal(err)
	}
	stored, bytes := 0, int64(0)
	for _, l := range ls {
		stored += l.Stored
		bytes += l.Bytes
	}
	if len(ls) != 45 || stored != 45 || bytes != 45*1000 || ls[0].AgentName == "" {
		t.Fatalf("list: %d interactions, %d stored, %d bytes, first %+v", len(ls), stored, bytes, ls[0])
	}
	if few, err := c.ListInteractions(ctx, catalog.Filter{Tenant: "acme", From: FillStart, To: to, Limit: 3}); err != nil || len(few) != 3 {
		t.Fatalf("limit 3: %d %v", len(few), err)
	}
	calls, err := c.Calls(ctx, "acme", FillStart, to)
	if err != nil {
		t.Fatal(err)
	}
	shown := 0
	for _, call := range calls {
		if call.InContent {
			shown++
		}
		if !call.InStats || len(call.Groups) != 1 || call.CheckedAt.IsZero() {
			t.Fatalf("call %+v", call)
		}
	}
	if len(calls) != 50 || shown != 45 {
		t.Fatalf("%d calls, %d shown; want 50, 45", len(calls), shown)
	}
}

func agentChange(t *testing.T, c *catalog.Catalog) {
	ctx := context.Background()
	seed(t, c, "g1", "callRecording")
	seed(t, c, "g2", "callRecording") // never stored: no sidecar to update
	for _, g := range []string{"g1", "g2"} {
		if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: g, Start: t0, AgentID: "7"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.MarkStored(ctx, "acme", "g1", "callRecording", 100, "abc", "k1", 0); err != nil {
		t.Fatal(err)
	}
	written := func() {
		t.Helper()
		it, err := c.Interaction(ctx, "acme", "g1")
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := c.MarkSidecarWritten(ctx, "acme", "g1", it.Rev); !ok || err != nil {
			t.Fatalf("mark sidecar written: %v %v", ok, err)
		}
	}
	written()
	alex := catalog.Agent{AgentID: "7", Name: "Alex", Groups: []string{"Sales", "Support"}}
	for _, step := range []struct {
		name  string
		agent catalog.Agent
		want  []string
	}{
		{"the agent resolved after the recording was stored", alex, []string{"g1"}},
		{"the same agent again, groups in another order", catalog.Agent{AgentID: "7", Name: "Alex", Groups: []string{"Support", "Sales"}}, nil},
		{"renamed", catalog.Agent{AgentID: "7", Name: "Alex Smith", Groups: []string{"Sales", "Support"}}, []string{"g1"}},
		{"another agent", catalog.Agent{AgentID: "8", Name: "Sam"}, nil},
	} {
		changed, err := c.UpsertAgents(ctx, "acme", []catalog.Agent{step.agent}, t0)
		if err != nil || !slices.Equal(changed, step.want) {
			t.Fatalf("%s: changed %v, %v; want %v", step.name, changed, err, step.want)
		}
		stale, err := c.StaleSidecars(ctx, "acme", 10)
		if err != nil || !slices.Equal(stale, step.want) {
			t.Fatalf("%s: stale sidecars %v, %v; want %v", step.name, stale, err, step.want)
		}
		written()
	}
}

func sidecarRev(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1", "callRecording", "voicemail")
	ctx := context.Background()
	stale := func(want bool, when string) int64 {
		t.Helper()
		got, err := c.SidecarStale(ctx, "acme", "g1")
		if err != nil || got != want {
			t.Fatalf("%s: stale = %v, %v; want %v", when, got, err, want)
		}
		it, err := c.Interaction(ctx, "acme", "g1")
		if err != nil {
			t.Fatal(err)
		}
		return it.Rev
	}
	stale(false, "nothing stored yet")
	if _, err := c.MarkStored(ctx, "acme", "g1", "callRecording", 100, "abc", "k1", 0); err != nil {
		t.Fatal(err)
	}
	rev := stale(true, "a recording stored, no sidecar")
	mark := func(rev int64, want bool, when string) {
		t.Helper()
		got, err := c.MarkSidecarWritten(ctx, "acme", "g1", rev)
		if err != nil || got != want {
			t.Fatalf("%s: MarkSidecarWritten(%d) = %v, %v; want %v", when, rev, got, err, want)
		}
	}
	mark(rev, true, "current rev")
	stale(false, "sidecar written")
	// The same data again changes nothing; new data makes it stale.
	if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: "g1", Start: t0}); err != nil {
		t.Fatal(err)
	}
	stale(false, "rediscovered unchanged")
	if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: "g1", Start: t0, Direction: "outbound", DirectionSource: "stats"}); err != nil {
		t.Fatal(err)
	}
	rev = stale(true, "direction arrived")
	mark(rev-1, false, "an older rev")
	stale(true, "an older sidecar written late")
	if _, err := c.MarkStored(ctx, "acme", "g1", "voicemail", 100, "def", "k2", 0); err != nil {
		t.Fatal(err)
	}
	mark(rev, false, "a rev the second store moved past")
	stale(true, "second recording stored after the sidecar was built")
}

func seed(t *testing.T, c *catalog.Catalog, guid string, keys ...string) {
	t.Helper()
	ctx := context.Background()
	if err := c.UpsertTenant(ctx, catalog.Tenant{ID: "acme", Region: "emea"}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: guid, Start: t0}); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		r, err := c.EnsureRecording(ctx, catalog.Recording{Tenant: "acme", GUID: guid, ContentKey: k, Type: "callRecording", MediaType: "audio/wav", ExpectedBytes: 100})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != catalog.StatusPending || !r.Start.Equal(t0) {
			t.Fatalf("new recording: %+v", r)
		}
	}
}

func markStoredOnce(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1", "callRecording")
	ctx := context.Background()
	var wg sync.WaitGroup
	wins := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := c.MarkStored(ctx, "acme", "g1", "callRecording", 100, "abc", "acme/k.wav", 0)
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		}()
	}
	wg.Wait()
	close(wins)
	n := 0
	for ok := range wins {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d callers stored the recording, want exactly 1", n)
	}
	r, err := c.Recording(ctx, "acme", "g1", "callRecording")
	if err != nil || r.Status != catalog.StatusStored || r.SHA256 != "abc" || r.Bytes != 100 || r.BlobKey != "acme/k.wav" {
		t.Fatalf("stored recording: %+v %v", r, err)
	}
	// A stored recording is never marked failed, and re-ensuring keeps it stored.
	if err := c.MarkFailed(ctx, "acme", "g1", "callRecording", "late failure", true); err != nil {
		t.Fatal(err)
	}
	r, _ = c.EnsureRecording(ctx, catalog.Recording{Tenant: "acme", GUID: "g1", ContentKey: "callRecording", ExpectedBytes: 5})
	if r.Status != catalog.StatusStored || r.ExpectedBytes != 100 {
		t.Fatalf("stored recording changed: %+v", r)
	}
}

func enrich(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1")
	ctx := context.Background()
	if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: "g1", Start: t0, Direction: "inbound", DirectionSource: "stats", AgentID: "67833", Duration: 83 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: "g1", Start: t0, Direction: "unknown"}); err != nil {
		t.Fatal(err)
	}
	it, err := c.Interaction(ctx, "acme", "g1")
	if err != nil {
		t.Fatal(err)
	}
	if it.Direction != "inbound" || it.DirectionSource != "stats" || it.AgentID != "67833" || it.Duration != 83*time.Second {
		t.Fatalf("enrichment erased: %+v", it)
	}
	if _, err := c.Interaction(ctx, "acme", "nope"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("missing interaction: %v", err)
	}
}

func watermark(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1")
	ctx := context.Background()
	if wm, err := c.Watermark(ctx, "acme"); err != nil || !wm.IsZero() {
		t.Fatalf("initial watermark %v %v", wm, err)
	}
	for _, set := range []time.Time{t0.Add(2 * time.Hour), t0} {
		if err := c.SetWatermark(ctx, "acme", set); err != nil {
			t.Fatal(err)
		}
	}
	if wm, _ := c.Watermark(ctx, "acme"); !wm.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("watermark moved back to %v", wm)
	}
}

func windows(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1", "callRecording")
	ctx := context.Background()
	ws, we := t0.Truncate(time.Hour), t0.Truncate(time.Hour).Add(time.Hour)
	if err := c.UpsertWindow(ctx, "acme", ws, we); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.MarkWindowSyncedIfDone(ctx, "acme", ws, we); err != nil || ok {
		t.Fatalf("undiscovered window synced: %v %v", ok, err)
	}
	if err := c.MarkWindowFailed(ctx, "acme", ws, we, "VCC refused it"); err != nil {
		t.Fatal(err)
	}
	if un, err := c.UnlistedWindows(ctx, "acme", ws, we); err != nil || len(un) != 1 || un[0].LastError != "VCC refused it" || !un[0].Start.Equal(ws) {
		t.Fatalf("unlisted windows: %+v, %v", un, err)
	}
	if err := c.MarkWindowDiscovered(ctx, "acme", ws, we, 1, 1); err != nil {
		t.Fatal(err)
	}
	if un, _ := c.UnlistedWindows(ctx, "acme", ws, we); len(un) != 0 {
		t.Fatalf("a listed window is still unlisted: %+v", un)
	}
	if ok, _ := c.MarkWindowSyncedIfDone(ctx, "acme", ws, we); ok {
		t.Fatal("window with a pending recording synced")
	}
	if _, err := c.MarkStored(ctx, "acme", "g1", "callRecording", 1, "x", "k", 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.MarkWindowSyncedIfDone(ctx, "acme", ws, we); err != nil || !ok {
		t.Fatalf("done window not synced: %v %v", ok, err)
	}
	// Re-discovery (lookback) keeps it synced.
	if err := c.MarkWindowDiscovered(ctx, "acme", ws, we, 1, 1); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.MarkWindowSyncedIfDone(ctx, "acme", ws, we); !ok {
		t.Fatal("re-discovered window lost its synced state")
	}
}

func failures(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1", "a", "b")
	ctx := context.Background()
	if err := c.MarkFailed(ctx, "acme", "g1", "a", "503 from VCC", false); err != nil {
		t.Fatal(err)
	}
	r, _ := c.Recording(ctx, "acme", "g1", "a")
	if r.Status != catalog.StatusPending || r.Attempts != 1 || r.LastError != "503 from VCC" {
		t.Fatalf("transient failure: %+v", r)
	}
	if err := c.MarkFailed(ctx, "acme", "g1", "b", "404: content gone", true); err != nil {
		t.Fatal(err)
	}
	failed, err := c.FailedRecordings(ctx, "acme", t0.Add(-time.Hour), t0.Add(time.Hour), time.Time{})
	if err != nil || len(failed) != 1 || failed[0].ContentKey != "b" {
		t.Fatalf("failed recordings: %+v %v", failed, err)
	}
	if failed, _ := c.FailedRecordings(ctx, "acme", t0.Add(time.Hour), t0.Add(2*time.Hour), time.Time{}); len(failed) != 0 {
		t.Fatalf("failures outside the range: %+v", failed)
	}
	// A run's failures outside its range (a widened window, a re-scan, a
	// key date kept from an earlier start) are its failures too: listed by
	// when they failed.
	if failed, _ := c.FailedRecordings(ctx, "acme", t0.Add(time.Hour), t0.Add(2*time.Hour), time.Now().Add(-time.Minute)); len(failed) != 1 || failed[0].ContentKey != "b" {
		t.Fatalf("failures outside the range since the run started: %+v; want b", failed)
	}
	if failed, _ := c.FailedRecordings(ctx, "acme", t0.Add(time.Hour), t0.Add(2*time.Hour), time.Now().Add(time.Minute)); len(failed) != 0 {
		t.Fatalf("failures outside the range before the run started: %+v; want none", failed)
	}
}

func agents(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1")
	ctx := context.Background()
	if _, err := c.UpsertAgents(ctx, "acme", []catalog.Agent{{AgentID: "67833", Name: "Alex Agent", Email: "a@example.com", AgentCode: "8149", Groups: []string{"Support"}}}, t0); err != nil {
		t.Fatal(err)
	}
	a, found, err := c.Agent(ctx, "acme", "67833")
	if err != nil || !found || a.Name != "Alex Agent" || a.AgentCode != "8149" || len(a.Groups) != 1 || !a.RefreshedAt.Equal(t0) {
		t.Fatalf("agent: %+v %v %v", a, found, err)
	}
	if _, found, _ := c.Agent(ctx, "acme", "nobody"); found {
		t.Fatal("unknown agent found")
	}
	if ok, _ := c.HasStatsDirection(ctx, "acme", "g1"); ok {
		t.Fatal("stats row before any was saved")
	}
	if err := c.UpsertStatsInteractions(ctx, []catalog.StatsInteraction{{Tenant: "acme", GUID: "g1", Start: t0, Direction: "outbound"}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.HasStatsDirection(ctx, "acme", "g1"); !ok || err != nil {
		t.Fatalf("stats row not found: %v", err)
	}
}

func agentGroups(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1")
	ctx := context.Background()
	groupsAt := t0.Add(-3 * time.Hour)
	if _, err := c.UpsertAgents(ctx, "acme", []catalog.Agent{
		{AgentID: "1342", UserID: "u1", Name: "Alex", Groups: []string{"Sales", "Skill: French"}, GroupsRefreshedAt: groupsAt},
		{AgentID: "1343", UserID: "u2", Name: "Sam"},
	}, t0); err != nil {
		t.Fatal(err)
	}
	all, err := c.Agents(ctx, "acme")
	if err != nil || len(all) != 2 {
		t.Fatalf("agents: %+v, %v", all, err)
	}
	if a := all[0]; a.AgentID != "1342" || !a.GroupsRefreshedAt.Equal(groupsAt) || !a.RefreshedAt.Equal(t0) || len(a.Groups) != 2 {
		t.Errorf("agent with groups: %+v", a)
	}
	if a := all[1]; !a.GroupsRefreshedAt.IsZero() || len(a.Groups) != 0 {
		t.Errorf("agent whose groups were never read: %+v", a)
	}
	if other, err := c.Agents(ctx, "globex"); err != nil || len(other) != 0 {
		t.Errorf("another tenant's agents: %+v, %v", other, err)
	}
}

func badRecords(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1")
	ctx := context.Background()
	w1, w2 := t0, t0.Add(time.Hour)
	for _, r := range []struct {
		api        string
		start, end time.Time
		recs       []catalog.BadRecord
	}{
		{"content", w1, w2, []catalog.BadRecord{{RecordID: "g1", Problem: `no "contentKey"`}, {Problem: `no "guid"`}}},
		{"stats", w1, w2, []catalog.BadRecord{{RecordID: "g1", Problem: `no "direction"`}}},
		{"content", w2, w2.Add(time.Hour), []catalog.BadRecord{{RecordID: "g9", Problem: "odd"}}},
	} {
		if err := c.ReplaceBadRecords(ctx, "acme", r.api, r.start, r.end, r.recs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.BadRecords(ctx, "acme", w1, w2)
	if err != nil || len(got) != 3 {
		t.Fatalf("bad records of the first window: %+v, %v", got, err)
	}
	// Listing the window again replaces what its last listing found.
	if err := c.ReplaceBadRecords(ctx, "acme", "content", w1, w2, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = c.BadRecords(ctx, "acme", w1, w2.Add(time.Hour))
	if len(got) != 2 || got[0].API != "stats" || got[0].Problem != `no "direction"` || got[1].RecordID != "g9" || !got[1].WindowStart.Equal(w2) {
		t.Errorf("after the window was listed clean: %+v", got)
	}
	// A span listing found g7, and a re-scan of one hour of it finds g7
	// again: one bad record, under the hour; the span's other record stays.
	day := t0.Add(24 * time.Hour)
	span := []catalog.BadRecord{{RecordID: "g7", Problem: "odd"}, {RecordID: "g8", Problem: "odd"}}
	if err := c.ReplaceBadRecords(ctx, "acme", "content", day, day.Add(24*time.Hour), span); err != nil {
		t.Fatal(err)
	}
	hour := day.Add(5 * time.Hour)
	if err := c.ReplaceBadRecords(ctx, "acme", "content", hour, hour.Add(time.Hour), span[:1]); err != nil {
		t.Fatal(err)
	}
	got, _ = c.BadRecords(ctx, "acme", day, day.Add(24*time.Hour))
	if len(got) != 2 || got[0].RecordID != "g8" || got[1].RecordID != "g7" || !got[1].WindowStart.Equal(hour) {
		t.Errorf("a record found by a span and again by one hour of it: %+v", got)
	}
}

func detail(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1", "voicemail", "callRecording")
	seed(t, c, "g2")
	ctx := context.Background()
	for guid, agent := range map[string]string{"g1": "67833", "g2": "unknown-agent"} {
		if err := c.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: guid, Start: t0, AgentID: agent, Direction: "inbound", DirectionSource: "stats"}); err != nil {
			t.Fatal(err)
		}
	}
	seed(t, c, "g3")
	if _, err := c.UpsertAgents(ctx, "acme", []catalog.Agent{{AgentID: "67833", Name: "Alex Agent", Email: "a@example.com", AgentCode: "8149", Groups: []string{"Support", "Sales"}}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkStored(ctx, "acme", "g1", "callRecording", 100, "abc", "k1", 0); err != nil {
		t.Fatal(err)
	}
	d, err := c.Detail(ctx, "acme", "g1")
	if err != nil {
		t.Fatal(err)
	}
	if d.GUID != "g1" || d.Direction != "inbound" || !d.Start.Equal(t0) || d.Rev < 2 {
		t.Fatalf("g1 interaction: %+v", d.Interaction)
	}
	if a := d.Agent; a == nil || a.AgentID != "67833" || a.Name != "Alex Agent" || a.Email != "a@example.com" || a.AgentCode != "8149" || len(a.Groups) != 2 {
		t.Fatalf("g1 agent: %+v", d.Agent)
	}
	if len(d.Recordings) != 2 || d.Recordings[0].ContentKey != "callRecording" || d.Recordings[0].Status != catalog.StatusStored ||
		d.Recordings[1].ContentKey != "voicemail" || d.Recordings[1].Status != catalog.StatusPending {
		t.Fatalf("g1 recordings: %+v", d.Recordings)
	}
	for _, guid := range []string{"g2", "g3"} { // an agent the cache does not know; no agent
		d, err := c.Detail(ctx, "acme", guid)
		if err != nil || d.Agent != nil || len(d.Recordings) != 0 {
			t.Fatalf("%s: %+v, %v", guid, d, err)
		}
	}
	if d, _ := c.Detail(ctx, "acme", "g2"); d.AgentID != "unknown-agent" {
		t.Fatalf("g2 agent id: %q", d.AgentID)
	}
	if _, err := c.Detail(ctx, "acme", "nope"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("missing interaction: %v", err)
	}
}

func rollback(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1")
	ctx := context.Background()
	boom := errors.New("boom")
	err := c.InTx(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.EnsureRecording(ctx, catalog.Recording{Tenant: "acme", GUID: "g1", ContentKey: "x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v", err)
	}
	if _, err := c.Recording(ctx, "acme", "g1", "x"); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("rolled-back row exists: %v", err)
	}
}

func status(t *testing.T, c *catalog.Catalog) {
	seed(t, c, "g1", "a", "b", "c")
	ctx := context.Background()
	if _, err := c.MarkStored(ctx, "acme", "g1", "a", 1234, "sha", "k/a.wav", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkFailed(ctx, "acme", "g1", "b", "404: content gone", true); err != nil {
		t.Fatal(err)
	}
	got, err := c.Totals(ctx, "acme")
	want := catalog.Totals{Interactions: 1, Recordings: 3, Stored: 1, Failed: 1, Pending: 1, Bytes: 1234}
	if err != nil || got != want {
		t.Fatalf("Totals = %+v, %v; want %+v", got, err, want)
	}
	if got, _ := c.Totals(ctx, "nobody"); got != (catalog.Totals{}) {
		t.Fatalf("Totals of an unknown tenant = %+v", got)
	}

	first, err := c.StartRun(ctx, "acme", t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.FinishRun(ctx, first, "done", 1, 0, 1234, ""); err != nil {
		t.Fatal(err)
	}
	second, err := c.StartRun(ctx, "acme", t0.Add(time.Hour), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := c.Runs(ctx, "acme", 10)
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs = %+v, %v", runs, err)
	}
	if runs[0].ID != second || runs[0].Status != "running" || !runs[0].Finished.IsZero() || !runs[0].From.Equal(t0.Add(time.Hour)) {
		t.Fatalf("newest run = %+v", runs[0])
	}
	if runs[1].ID != first || runs[1].Status != "done" || runs[1].Stored != 1 || runs[1].Bytes != 1234 || runs[1].Finished.IsZero() {
		t.Fatalf("oldest run = %+v", runs[1])
	}
	if runs, _ := c.Runs(ctx, "acme", 1); len(runs) != 1 || runs[0].ID != second {
		t.Fatalf("Runs limit 1 = %+v", runs)
	}
	if err := c.AbortRun(ctx, second, "failed", "VCC rejected the credential"); err != nil {
		t.Fatal(err)
	}
	if err := c.AbortRun(ctx, first, "interrupted", "too late"); err != nil {
		t.Fatal(err)
	}
	if runs, _ := c.Runs(ctx, "acme", 2); runs[1].Status != "done" || runs[1].Error != "" {
		t.Fatalf("AbortRun changed a finished run: %+v", runs[1])
	}
	if runs, _ := c.Runs(ctx, "acme", 1); runs[0].Status != "failed" || runs[0].Error != "VCC rejected the credential" || runs[0].Finished.IsZero() {
		t.Fatalf("failed run = %+v", runs[0])
	}

	failed, err := c.RecentFailures(ctx, "acme", 10)
	if err != nil || len(failed) != 1 || failed[0].ContentKey != "b" || failed[0].LastError != "404: content gone" {
		t.Fatalf("RecentFailures = %+v, %v", failed, err)
	}
}
