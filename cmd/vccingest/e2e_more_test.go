package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/vccingest/vccingest/internal/blobstore"
	"github.com/vccingest/vccingest/internal/blobstore/azuritetest"
	"github.com/vccingest/vccingest/internal/blobstore/s3test"
	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// A backfill whose --to lies in the future syncs what is due and leaves the
// rest planned: the watermark stops at now − settle, so a later run still
// lists the hours that had not happened yet.
func TestSync_FutureToDoesNotSkip(t *testing.T) {
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	e := newE2E(t, vccsim.Config{Seed: 17, Start: today.AddDate(0, 0, -1), Days: 2, CallsPerDay: 40, FixedRecordingSize: 1000}, "admin")
	r := e.run("sync", "--from", today.AddDate(0, 0, -1).Format(time.RFC3339), "--to", today.AddDate(0, 0, 3).Format(time.RFC3339), "--settle", "15m")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	wm := watermarkOf(t, r.stdout)
	if due := now.Add(-15 * time.Minute); wm.After(due) {
		t.Errorf("watermark %s is past now − settle (%s): the hours after it were never listed", wm.Format(time.RFC3339), due.Format(time.RFC3339))
	}
	if !strings.Contains(r.stdout, "not due yet:") {
		t.Errorf("the summary does not say that part of the range is not due:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "recordings stored:   0 new") {
		t.Errorf("nothing of the due part was stored:\n%s", r.stdout)
	}
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
	// Coverage counts what Content shows, not "stored 0" beside the stored
	// recordings, and says why Stats' columns are unknown.
	if !strings.Contains(r.stdout, "coverage: no Stats data; Content shows") || strings.Contains(r.stdout, " 0 stored") {
		t.Errorf("the summary's coverage line is not of what Content shows:\n%s", r.stdout)
	}
	cov := e.run("coverage", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339), "--json")
	var rep struct {
		Basis string `json:"basis"`
		Total struct {
			Calls  int `json:"calls_in_stats"`
			Shown  int `json:"shown_by_content"`
			Stored int `json:"stored"`
		} `json:"total"`
		Diagnosis struct {
			Note string `json:"note"`
		} `json:"diagnosis"`
	}
	if err := json.Unmarshal([]byte(cov.stdout), &rep); cov.code != 0 || err != nil {
		t.Fatalf("coverage --json: exit %d, %v\n%s%s", cov.code, err, cov.stdout, cov.stderr)
	}
	if rep.Basis != "content" || rep.Total.Calls != 0 || rep.Total.Shown == 0 || rep.Total.Stored == 0 || !strings.Contains(rep.Diagnosis.Note, "without the stats scope") {
		t.Errorf("coverage without Stats: %+v", rep)
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
	// Without Stats the call's length is unknown; ls shows the audio's.
	lr := e.run("ls", "--json")
	var items []lsItem
	if err := json.Unmarshal([]byte(lr.stdout), &items); lr.code != 0 || err != nil || len(items) == 0 {
		t.Fatalf("ls --json: exit %d, %v\n%s", lr.code, err, lr.stdout)
	}
	for _, it := range items {
		if it.Stored > 0 && it.DurationSeconds <= 0 {
			t.Errorf("ls shows %s, stored, with duration %v; want the recording's play time", it.InteractionID, it.DurationSeconds)
		}
	}
	for _, rs := range e.sim.Requests() {
		if rs.Scope == vccsim.ScopeStats && rs.Route != vccsim.RouteToken {
			t.Errorf("a stats call without the stats scope: %+v", rs)
		}
	}
}

// A quiet hour synced with the stats scope is not blamed on a missing scope.
func TestSync_AnEmptyHourWithStatsDoesNotAskForTheScope(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 17, Days: 1, CallsPerDay: 15}, "admin")
	from, to := e.from, e.from.Add(time.Hour)
	if n := len(e.sim.Truth(from, to, e.cred.ClientID).Interactions); n != 0 {
		t.Fatalf("the simulated hour %s has %d interactions; the test needs an empty one", from, n)
	}
	r := e.run("sync", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))
	if r.code != 0 || !strings.Contains(r.stdout, "coverage: Stats reports 0 calls") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "stats scope") {
		t.Errorf("an empty hour is blamed on the stats scope:\n%s\n%s", r.stdout, r.stderr)
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
	// The run is on record as failed, with the reason, not left running.
	cat, err := catalog.Open(context.Background(), "sqlite://"+filepath.ToSlash(filepath.Join(e.dataDir, "catalog.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	runs, err := cat.Runs(context.Background(), "default", 5)
	if err != nil || len(runs) != 1 || runs[0].Status != catalog.RunFailed || runs[0].Finished.IsZero() || !strings.Contains(runs[0].Error, "users:read") {
		t.Errorf("runs %+v (%v); want one, failed, naming users:read", runs, err)
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
	// show --json is the sidecar's shape: every field of interaction.json
	// (but its provenance) has the same value in it.
	key, err := blobstore.SidecarKey("default", got.Start, got.InteractionID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(e.dataDir, "blobs", filepath.FromSlash(key)))
	if err != nil {
		t.Fatalf("read the sidecar: %v", err)
	}
	var sidecar, shown map[string]any
	if err := json.Unmarshal(raw, &sidecar); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatal(err)
	}
	for k, v := range sidecar {
		switch k {
		case "provenance", "schema_version":
			continue
		case "recordings":
			for i, rec := range v.([]any) {
				for rk, rv := range rec.(map[string]any) {
					if sv := shown["recordings"].([]any)[i].(map[string]any)[rk]; fmt.Sprint(sv) != fmt.Sprint(rv) {
						t.Errorf("recording %d: %s is %v in the sidecar, %v in show --json", i, rk, rv, sv)
					}
				}
			}
			continue
		}
		if fmt.Sprint(shown[k]) != fmt.Sprint(v) {
			t.Errorf("%s is %v in the sidecar, %v in show --json", k, v, shown[k])
		}
	}
	if g, ok := shown["groups"].([]any); !ok || g == nil {
		t.Errorf("show --json groups = %v; want a list at the top level, [] when none", shown["groups"])
	}
	// The catalog's tenants, and a command on another one says which exist.
	r = e.run("tenants", "--json")
	var tenants []tenantItem
	if err := json.Unmarshal([]byte(r.stdout), &tenants); r.code != 0 || err != nil || len(tenants) != 1 || tenants[0].ID != "default" || tenants[0].Stored != int64(stored) || tenants[0].Watermark == nil {
		t.Errorf("tenants --json: exit %d, %v, %+v; want default with %d stored and a watermark", r.code, err, tenants, stored)
	}
	for _, cmd := range []string{"ls", "coverage"} {
		if r := e.run(cmd, "--tenant", "nosuch"); r.code != 2 || !strings.Contains(r.stderr, `tenant "nosuch" is not in the catalog; it holds default: use --tenant default`) {
			t.Errorf("%s --tenant nosuch: exit %d, %q; want 2 naming the tenants there are", cmd, r.code, r.stderr)
		}
	}
	// --all-tenants reports each tenant there is, whatever --tenant says.
	r = e.run("coverage", "--all-tenants", "--tenant", "nosuch", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339), "--json")
	var reps []struct {
		Tenant string `json:"tenant"`
		Total  struct {
			Stored int `json:"stored"`
		} `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &reps); r.code != 0 || err != nil || len(reps) != 1 || reps[0].Tenant != "default" || reps[0].Total.Stored == 0 {
		t.Errorf("coverage --all-tenants --json: exit %d, %v, %+v\n%s", r.code, err, reps, r.stderr)
	}
	if r := e.run("show", "no-such-interaction"); r.code != 1 || !strings.Contains(r.stderr, "not in the catalog") {
		t.Errorf("show unknown: exit %d %q", r.code, r.stderr)
	}
}

// coverage --json reconciles with ground truth: every call Stats reports is
// stored, hidden, not recorded, pending or failed.
func TestCoverageReconcilesWithTruth(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 23, Days: 2, CallsPerDay: 60, FixedRecordingSize: 8 << 10}, "own-group")
	r := e.syncAll()
	if r.code != 0 {
		t.Fatalf("sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "WARNING") || !strings.Contains(r.stdout, "Access groups of users' content") {
		t.Errorf("the sync summary does not warn about the group permission:\n%s", r.stdout)
	}
	r = e.run("coverage", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339), "--by", "group", "--json")
	var rep struct {
		Tenant  string `json:"tenant"`
		Buckets []any  `json:"buckets"`
		Total   struct {
			Calls       int `json:"calls_in_stats"`
			Shown       int `json:"shown_by_content"`
			Stored      int `json:"stored"`
			Hidden      int `json:"hidden_by_permission"`
			NotRecorded int `json:"not_recorded"`
			Pending     int `json:"pending"`
			Failed      int `json:"failed"`
		} `json:"total"`
		Diagnosis struct {
			Gaps []struct{ Permission string } `json:"gaps"`
		} `json:"diagnosis"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil {
		t.Fatalf("coverage --json: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	var span struct{ From, To time.Time }
	_ = json.Unmarshal([]byte(r.stdout), &span)
	if rep.Tenant != "default" || !span.From.Equal(e.from) || !span.To.Equal(e.to) || rep.Buckets == nil {
		t.Errorf("coverage --json names tenant %q, range %s to %s, buckets %v; want default, %s to %s, a list", rep.Tenant, span.From, span.To, rep.Buckets, e.from, e.to)
	}
	truth := e.sim.Truth(e.from, e.to, e.cred.ClientID)
	var visible, byPermission, notRecorded int
	for _, it := range truth.Interactions {
		switch {
		case it.Visible:
			visible++
		case strings.HasPrefix(it.HiddenReason, "permission"):
			byPermission++
		default:
			notRecorded++
		}
	}
	tot := rep.Total
	if tot.Calls != len(truth.Interactions) || tot.Stored+tot.Hidden+tot.NotRecorded+tot.Pending+tot.Failed != tot.Calls {
		t.Errorf("totals %+v do not add up to the %d calls of ground truth", tot, len(truth.Interactions))
	}
	// An unrecorded call in a hidden segment is indistinguishable from a
	// hidden one, so hidden may include some of truth's unrecorded calls.
	if tot.Stored != visible || tot.Shown != visible || tot.Hidden < byPermission || tot.Hidden+tot.NotRecorded != byPermission+notRecorded || tot.Pending != 0 || tot.Failed != 0 {
		t.Errorf("coverage %+v; truth: %d visible, %d hidden by permission, %d not recorded", tot, visible, byPermission, notRecorded)
	}
	if len(rep.Diagnosis.Gaps) != 1 || !strings.HasPrefix(rep.Diagnosis.Gaps[0].Permission, "Access groups") {
		t.Errorf("diagnosis %+v", rep.Diagnosis)
	}
}

func TestDoctor(t *testing.T) {
	for _, tc := range []struct {
		cred string
		code int
		want []string
		not  []string
	}{
		{"admin", 0, []string{"ok    secret env:VCC_TEST_SECRET resolves", "ok    scope interaction-content:read", "ok    scope stats", "look granted", "bucket",
			"ok    download: read the first byte of recording", "ok    agents: all"}, []string{"FAIL", "WARN"}},
		{"no-users", 1, []string{"FAIL  scope users:read", `"users:read" scope`}, nil},
		{"supervisor", 1, []string{"FAIL  scope stats", "supervisor-licence", "admin-licence"}, nil},
		{"no-inbound", 1, []string{`WARN  permission "View inbound interaction content" is likely missing`, "evidence:", "fix:"}, []string{"View outbound interaction content\" is likely"}},
		{"no-content", 1, []string{"FAIL  scope interaction-content:read", `"interaction-content:read" scope`, "ok    scope users:read", "ok    scope stats"}, nil},
	} {
		t.Run(tc.cred, func(t *testing.T) {
			creds := append(vccsim.DefaultCredentials(29), vccsim.Credential{Name: "no-content", ClientID: "no-content-id", ClientSecret: "no-content-secret",
				Licence: "admin", Scopes: []string{vccsim.ScopeUsers, vccsim.ScopeStats}, Permissions: vccsim.Permissions{ViewInbound: true, ViewOutbound: true, AccessGroups: true}})
			e := newE2E(t, vccsim.Config{Seed: 29, Days: 2, CallsPerDay: 60, FixedRecordingSize: 1000, Credentials: creds}, tc.cred)
			r := e.run("doctor", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339))
			if r.code != tc.code {
				t.Errorf("exit %d, want %d", r.code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(r.stdout, w) {
					t.Errorf("output has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
			// One first-byte download where the credential can see content,
			// and nothing more.
			wantDownloads := 1
			if tc.cred == "no-content" {
				wantDownloads = 0
			}
			if d := contentDownloads(e.sim); d != wantDownloads {
				t.Errorf("doctor started %d downloads, want %d (a Range bytes=0-0 probe)", d, wantDownloads)
			}
			// A scope the credential lacks is refused at the token
			// endpoint, as it should be; a resource API refuses nothing.
			for _, rj := range e.sim.Rejections() {
				if rj.Status == http.StatusBadRequest && rj.Route != vccsim.RouteToken {
					t.Errorf("the simulator answered 400: %+v", rj)
				}
			}
		})
	}
}

// The demo's default credential lacks a permission, and says so.
func TestDemoShowsThePermissionGap(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(bin(t), "demo", "--data-dir", dir, "--days", "1", "--calls-per-day", "60", "--log-format", "text")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `lacks the feature permission "View outbound interaction content"`) {
		t.Errorf("demo output does not explain the gap:\n%s", out)
	}
	out, err = exec.Command(bin(t), "demo", "--data-dir", t.TempDir(), "--days", "1", "--calls-per-day", "60", "--full-permissions", "--log-format", "text").CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Errorf("demo --full-permissions: %v\n%s", err, out)
	}
}

// A full sync into an S3 bucket (an in-process S3 server on loopback):
// every object's sha256 equals ground truth, and nothing else is there.
func TestSync_ToS3(t *testing.T) {
	bucketURL := s3test.Start(t, "recordings")

	e := newE2E(t, vccsim.Config{Seed: 37, Days: 1, CallsPerDay: 30, FixedRecordingSize: 300 << 10}, "admin")
	e.syncToBucket(bucketURL)

	// A bucket that does not exist is a clear error before any download.
	e.sim.ResetRequests()
	r := e.syncAll("--bucket", strings.Replace(bucketURL, "s3://recordings", "s3://missing-bucket", 1), "--data-dir", t.TempDir())
	if r.code != 2 || !strings.Contains(r.stderr, "missing-bucket") || contentDownloads(e.sim) != 0 {
		t.Errorf("missing bucket: exit %d, %d downloads, stderr %q", r.code, contentDownloads(e.sim), r.stderr)
	}
}

// A full sync into Azure Blob Storage (Azurite on loopback).
func TestSync_ToAzureBlob(t *testing.T) {
	bucketURL := azuritetest.Start(t, "recordings")
	e := newE2E(t, vccsim.Config{Seed: 43, Days: 1, CallsPerDay: 30, FixedRecordingSize: 300 << 10}, "admin")
	e.syncToBucket(bucketURL)

	// Wrong storage credentials: a clear error before any download, and
	// the catalog keeps what it had.
	e.sim.ResetRequests()
	t.Setenv("AZURE_STORAGE_KEY", "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==")
	r := e.syncAll("--bucket", bucketURL)
	if r.code != 2 || !strings.Contains(r.stderr, "not reachable with these credentials") || strings.Contains(r.stderr, "d3Jvbmcta2V5") || contentDownloads(e.sim) != 0 {
		t.Errorf("wrong key: exit %d, %d downloads, stderr %q", r.code, contentDownloads(e.sim), r.stderr)
	}
	if r := e.run("ls", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"stored": 1`) {
		t.Errorf("catalog after the refused run: exit %d\n%.300s", r.code, r.stdout)
	}
}

// syncToBucket syncs into bucketURL and checks the bucket against ground
// truth: every recording once with its sha256, nothing else.
func (e *e2e) syncToBucket(bucketURL string) {
	t := e.t
	t.Helper()
	r := e.syncAll("--bucket", bucketURL)
	if r.code != 0 {
		t.Fatalf("sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	ctx := context.Background()
	b, err := blobstore.Open(ctx, bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := map[string]string{}
	for _, it := range e.sim.Truth(e.from, e.to, e.cred.ClientID).Interactions {
		for _, c := range it.Content {
			if it.Visible && isRecordingType(c.Type) {
				want["default/"+it.Start.Format("2006/01/02")+"/"+it.GUID+"/"+c.ContentKey+extFor(c.ContentType)] = c.SHA256
			}
		}
	}
	got := 0
	err = b.List(ctx, "", func(key string, size int64) error {
		if strings.HasSuffix(key, "/interaction.json") {
			return nil
		}
		data, err := b.ReadAll(ctx, key)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		if w, ok := want[key]; !ok || w != hex.EncodeToString(sum[:]) {
			t.Errorf("object %s: expected %v, sha256 matches %v", key, ok, w == hex.EncodeToString(sum[:]))
		}
		got++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != len(want) || got == 0 {
		t.Errorf("%d objects in the bucket, ground truth has %d recordings", got, len(want))
	}
}

// migrate on a current catalog changes nothing and says so. (That every
// command refuses a catalog with pending migrations is the catalog's
// EnsureSchema test.)
func TestMigrate(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 3, Days: 1, CallsPerDay: 5, FixedRecordingSize: 1000}, "admin")
	r := e.run("migrate")
	if r.code != 0 {
		t.Fatalf("migrate on a new catalog: %d %q %q", r.code, r.stdout, r.stderr)
	}
	// Every migration, in order from the first, once: 1 2 3 … n.
	m := regexp.MustCompile(`applied migrations \[([0-9 ]+)\]`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("migrate on a new catalog does not list what it applied: %q", r.stdout)
	}
	applied := strings.Fields(m[1])
	for i, v := range applied {
		if v != strconv.Itoa(i+1) {
			t.Fatalf("migrate on a new catalog applied %v; want 1 to n in order", applied)
		}
	}
	if len(applied) < 7 {
		t.Errorf("migrate on a new catalog applied %d migrations; the SQLite catalog has at least 7", len(applied))
	}
	if r := e.syncAll(); r.code != 0 {
		t.Fatalf("sync: %d %s", r.code, r.stderr)
	}
	if r := e.run("migrate"); r.code != 0 || !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("migrate on a current catalog: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// postgresCatalog gives a test its own schema on the test PostgreSQL and
// returns the catalog URL. Without a server the test fails under CI and is
// skipped, saying why, elsewhere.
func postgresCatalog(t testing.TB) string {
	t.Helper()
	// A random schema name (the time's nanoseconds were not unique across
	// parallel tests: a second CREATE SCHEMA failed in CI).
	return catalogtest.PostgresSchema(t)
}

// Sync on a PostgreSQL catalog, in one process: the same result as SQLite.
func TestSync_PostgresCatalog(t *testing.T) {
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 47, Days: 1, CallsPerDay: 30, FixedRecordingSize: 64 << 10}, "admin")
	if r := e.syncAll("--catalog", catURL); r.code != 0 {
		t.Fatalf("sync: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n := e.verify()
	if d := contentDownloads(e.sim); d != n || n == 0 {
		t.Errorf("%d downloads for %d recordings", d, n)
	}
	e.sim.ResetRequests()
	if r := e.syncAll("--catalog", catURL); r.code != 0 || contentDownloads(e.sim) != 0 {
		t.Errorf("second run: exit %d, %d downloads", r.code, contentDownloads(e.sim))
	}
	if r := e.run("ls", "--catalog", catURL, "--json"); r.code != 0 || !strings.Contains(r.stdout, `"stored": 1`) {
		t.Errorf("ls: %d %.200s", r.code, r.stdout)
	}
}

// Four worker processes share the work a planner queued over a 5-day dataset:
// every recording is stored once and downloaded once.
func TestWorkers_PostgresShareTheWork(t *testing.T) {
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 53, Days: 5, CallsPerDay: 20, FixedRecordingSize: 128 << 10}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	stop := e.startWorkers(4, "--catalog", catURL, "--downloads", "4")
	r := e.syncAll("--catalog", catURL, "--work=false")
	stop()
	if r.code != 0 {
		t.Fatalf("planner: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n := e.verify()
	downloads := e.sim.Downloads()
	total := 0
	for key, c := range downloads {
		total += c
		if c != 1 {
			t.Errorf("%s downloaded %d times", key, c)
		}
	}
	if total != n || n == 0 {
		t.Errorf("%d downloads for %d recordings", total, n)
	}
}

// A worker killed with -9 mid-run loses nothing: another worker gets its
// jobs once River's rescuer (on the leader) sees them past --rescue-after.
func TestWorkers_PostgresWorkerKilledMidRun(t *testing.T) {
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 61, Days: 1, CallsPerDay: 40, FixedRecordingSize: 2 << 20}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	common := []string{"worker", "--catalog", catURL, "--downloads", "2", "--rescue-after", "2s"}
	victim := e.command(context.Background(), common...)
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	planner := make(chan result, 1)
	go func() { planner <- e.syncAll("--catalog", catURL, "--work=false") }()
	deadline := time.Now().Add(time.Minute)
	for contentDownloads(e.sim) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_ = victim.Process.Signal(syscall.SIGKILL)
	_ = victim.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steady := e.command(ctx, common...)
	steady.Cancel = func() error { return steady.Process.Signal(syscall.SIGTERM) }
	if err := steady.Start(); err != nil {
		t.Fatal(err)
	}
	r := <-planner
	cancel()
	_ = steady.Wait()
	if r.code != 0 {
		t.Fatalf("planner: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	downloads := contentDownloads(e.sim)
	// The dead worker's partial download is a temporary object, never under
	// a final key; the next run removes it once it is older than twice
	// --rescue-after, and downloads nothing.
	time.Sleep(4500 * time.Millisecond)
	e.sim.ResetRequests()
	if r := e.syncAll("--catalog", catURL, "--rescue-after", "2s"); r.code != 0 || contentDownloads(e.sim) != 0 {
		t.Errorf("re-run: exit %d, %d downloads\n%s", r.code, contentDownloads(e.sim), r.stderr)
	}
	n := e.verify()
	if downloads < n || downloads > n+2 {
		t.Errorf("%d downloads for %d recordings (at most the 2 interrupted ones twice)", downloads, n)
	}
}

// Two planners started at once over the same range, with two workers: one
// window row per window, and every recording downloaded exactly once.
func TestWorkers_PostgresTwoPlannersAtOnce(t *testing.T) {
	catURL := postgresCatalog(t)
	e := newE2E(t, vccsim.Config{Seed: 67, Days: 1, CallsPerDay: 40, FixedRecordingSize: 128 << 10}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	stop := e.startWorkers(2, "--catalog", catURL, "--downloads", "2")
	defer stop()
	planners := make(chan result, 2)
	for range 2 {
		go func() { planners <- e.syncAll("--catalog", catURL, "--work=false") }()
	}
	for range 2 {
		if r := <-planners; r.code != 0 {
			t.Errorf("planner: %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	stop()
	n := e.verify()
	for key, c := range e.sim.Downloads() {
		if c != 1 {
			t.Errorf("%s downloaded %d times", key, c)
		}
	}
	db, err := sql.Open("pgx", catURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var windows, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT (start_at, end_at)) FROM sync_windows`).Scan(&windows, &distinct); err != nil {
		t.Fatal(err)
	}
	if windows != 24 || distinct != 24 || n == 0 {
		t.Errorf("%d window rows (%d distinct) for a one-day range, %d recordings", windows, distinct, n)
	}
}

// startWorkers starts n vccingest worker processes with args; stop sends
// them SIGTERM and waits for them (calling it again does nothing). A worker
// that exited on its own, or not cleanly on SIGTERM, fails the test with its
// log.
func (e *e2e) startWorkers(n int, args ...string) (stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var workers []*exec.Cmd
	var logs []*bytes.Buffer
	for range n {
		w := e.command(ctx, append([]string{"worker"}, args...)...)
		w.Cancel = func() error { return w.Process.Signal(syscall.SIGTERM) }
		var log bytes.Buffer
		w.Stderr = &log
		if err := w.Start(); err != nil {
			cancel()
			e.t.Fatal(err)
		}
		workers = append(workers, w)
		logs = append(logs, &log)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			for i, w := range workers {
				// Wait reports the cancellation even when the worker
				// stopped cleanly; its exit status is what counts.
				if err := w.Wait(); w.ProcessState == nil || !w.ProcessState.Success() {
					e.t.Errorf("worker %d: %v\n%s", i, err, logs[i])
				}
			}
		})
	}
}

// The first Ctrl-C stops gracefully; a second one stops at once (exit 130)
// instead of being ignored while running downloads drain.
func TestSync_SecondInterruptStopsAtOnce(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 61, Days: 1, CallsPerDay: 20, FixedRecordingSize: 1000}, "admin")
	// Downloads hang, so the graceful stop has running work to wait for.
	target, _ := url.Parse(e.sim.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var hanging atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/content/") {
			hanging.Add(1)
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.command(ctx, "sync", "--api-url", srv.URL, "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for hanging.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	time.Sleep(500 * time.Millisecond)
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("still running 10 s after the second interrupt\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "interrupted again") {
		t.Errorf("exit %d, want 130 saying it was interrupted again\n%s", code, stderr.String())
	}
}
