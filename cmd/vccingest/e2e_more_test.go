package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// Content that VCC makes visible only after a run is picked up by the next
// incremental run through the lookback.
func TestSync_LateContentIsPickedUpThroughTheLookback(t *testing.T) {
	now := time.Now().UTC()
	yesterday := now.Truncate(24*time.Hour).AddDate(0, 0, -1)
	// Calls that ended in the last 20 hours are not visible yet.
	e := newE2E(t, vccsim.Config{Seed: 13, Start: yesterday, Days: 2, CallsPerDay: 40, ContentDelay: 20 * time.Hour, FixedRecordingSize: 64 << 10}, "admin")

	r := e.run("sync", "--lookback", "48h")
	if r.code != 0 {
		t.Fatalf("first run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	e.to = watermarkOf(t, r.stdout)
	first := e.verify()

	e.sim.SetNow(now.Add(21 * time.Hour)) // VCC catches up
	r = e.run("sync")
	if r.code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	e.to = watermarkOf(t, r.stdout)
	second := e.verify()
	if second <= first {
		t.Fatalf("the second run stored nothing new: %d then %d recordings", first, second)
	}
	t.Logf("%d recordings on the first run, %d after late content arrived", first, second)
}

func watermarkOf(t *testing.T, stdout string) time.Time {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "watermark:"); ok {
			wm, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return wm
		}
	}
	t.Fatalf("no watermark in the summary:\n%s", stdout)
	return time.Time{}
}

// Without the stats scope recordings are still stored, with direction
// "unknown", and the run says why.
func TestSync_WithoutStatsScopeStoresWithUnknownDirection(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 17, Days: 1, CallsPerDay: 15, FixedRecordingSize: 32 << 10}, "supervisor")
	r := e.syncAll()
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "stats") || !strings.Contains(r.stdout, "unknown") {
		t.Errorf("the summary does not say why direction is unknown:\n%s", r.stdout)
	}
	sidecars := 0
	_ = filepath.WalkDir(filepath.Join(e.dataDir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, "interaction.json") {
			return err
		}
		var sc sidecar
		b, _ := os.ReadFile(path)
		if err := json.Unmarshal(b, &sc); err != nil || sc.Direction != "unknown" || sc.Agent == nil || sc.Agent.Name == "" {
			t.Errorf("%s: %+v %v", path, sc, err)
		}
		sidecars++
		return nil
	})
	if sidecars == 0 {
		t.Fatal("nothing stored")
	}
	for _, rs := range e.sim.Requests() {
		if rs.Scope == vccsim.ScopeStats && rs.Route != vccsim.RouteToken {
			t.Errorf("a stats call without the stats scope: %+v", rs)
		}
	}
}

// Any other missing scope stops the run before work starts.
func TestSync_MissingUsersScopeStopsBeforeWork(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 17, Days: 1, CallsPerDay: 15}, "no-users")
	r := e.syncAll()
	if r.code != 2 || !strings.Contains(r.stderr, "users:read") {
		t.Fatalf("exit %d, stderr %q; want exit 2 naming users:read", r.code, r.stderr)
	}
	for _, rs := range e.sim.Requests() {
		if rs.Route != vccsim.RouteToken {
			t.Errorf("a request before the scope check failed: %+v", rs)
		}
	}
}

func TestLsAndShow(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 19, Days: 1, CallsPerDay: 12, FixedRecordingSize: 16 << 10}, "admin")
	if r := e.syncAll(); r.code != 0 {
		t.Fatalf("sync exit %d\n%s", r.code, r.stderr)
	}
	stored := e.verify()

	r := e.run("ls", "--json")
	var items []lsItem
	if err := json.Unmarshal([]byte(r.stdout), &items); r.code != 0 || err != nil {
		t.Fatalf("ls --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	n := 0
	for _, it := range items {
		n += it.Stored
	}
	if n != stored {
		t.Errorf("ls lists %d stored recordings, the bucket holds %d", n, stored)
	}
	if r := e.run("ls"); r.code != 0 || !strings.Contains(r.stdout, items[0].InteractionID) {
		t.Errorf("ls table: exit %d\n%s", r.code, r.stdout)
	}

	truth := map[string]vccsim.TruthInteraction{}
	for _, it := range e.sim.Truth(e.from, e.to, e.cred.ClientID).Interactions {
		truth[it.GUID] = it
	}
	r = e.run("show", items[0].InteractionID, "--json")
	var got showItem
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil {
		t.Fatalf("show --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	want := truth[got.InteractionID]
	if got.Direction != want.Direction || got.Agent == nil || got.Agent.AgentCode != want.AgentCode || len(got.Recordings) == 0 {
		t.Errorf("show: %+v, truth %+v", got, want)
	}
	for _, rec := range got.Recordings {
		for _, c := range want.Content {
			if c.ContentKey == rec.ContentKey && c.SHA256 != rec.SHA256 {
				t.Errorf("show: %s sha256 %s, truth %s", rec.ContentKey, rec.SHA256, c.SHA256)
			}
		}
	}
	if r := e.run("show", "no-such-interaction"); r.code != 1 || !strings.Contains(r.stderr, "not in the catalog") {
		t.Errorf("show unknown: exit %d %q", r.code, r.stderr)
	}
}
