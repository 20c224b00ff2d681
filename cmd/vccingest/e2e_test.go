package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// binPath is the vccingest binary built once by TestMain; the end-to-end
// tests run it as a user would (bin says which binary a test runs).
// raceBinPath is the same built with the race detector, under go test
// -race only.
var binPath, raceBinPath string

// raceChildTests are the end-to-end tests whose vccingest is built with
// the race detector under go test -race: one flow for each concurrent part
// of the binary (a sync, events to three sinks, serve with two tenants,
// workers sharing a PostgreSQL catalog). The others run a binary without
// it: a race-built vccingest is about 20 times slower (the SQLite driver,
// C transpiled to Go, is instrumented too: 54 s against 2.8 s for
// TestSync_StoresEveryVisibleRecordingOnceThenNothing), and the engines
// they drive are race-tested in process by the internal packages' tests.
var raceChildTests = map[string]bool{
	"TestSync_StoresEveryVisibleRecordingOnceThenNothing":        true,
	"TestEvents_SyncAnnouncesEachStoredRecordingOnceOnEverySink": true,
	"TestServe_TwoTenantsMetricsAndNoSecrets":                    true,
	"TestWorkers_PostgresShareTheWork":                           true,
}

// bin is the vccingest binary t runs.
func bin(t testing.TB) string {
	if raceBinPath != "" && raceChildTests[strings.SplitN(t.Name(), "/", 2)[0]] {
		return raceBinPath
	}
	return binPath
}

// raceChild reports whether t's vccingest runs with the race detector.
func raceChild(t testing.TB) bool { return bin(t) == raceBinPath }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vccingest-e2e-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "vccingest")
	builds := [][]string{{"build", "-o", binPath, "."}}
	if raceEnabled {
		raceBinPath = filepath.Join(dir, "vccingest-race")
		builds = append(builds, []string{"build", "-race", "-o", raceBinPath, "."})
	}
	errs := make(chan error, len(builds))
	for _, args := range builds {
		go func() {
			build := exec.Command("go", args...)
			build.Stdout, build.Stderr = os.Stdout, os.Stderr
			errs <- build.Run()
		}()
	}
	for range builds {
		if err := <-errs; err != nil {
			panic("build vccingest: " + err.Error())
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// e2e is one simulated VCC account and one data dir.
type e2e struct {
	t       testing.TB
	sim     *vccsim.Server
	cred    vccsim.Credential
	dataDir string
	from    time.Time
	to      time.Time
	// limited: the simulator keeps an account limit, so commands run on
	// the real default budget unless the test sets one.
	limited bool
	// via, if set, is a program that runs vccingest (its arguments, then
	// vccingest's command line), such as taskset.
	via []string
}

func newE2E(t testing.TB, cfg vccsim.Config, credential string) *e2e {
	t.Helper()
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	}
	if cfg.Days == 0 {
		cfg.Days = 3
	}
	sim, err := vccsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return &e2e{
		t:       t,
		sim:     sim,
		cred:    sim.Credential(credential),
		dataDir: t.TempDir(),
		limited: cfg.AccountRequestsPerMinute > 0,
		from:    cfg.Start,
		to:      cfg.Start.AddDate(0, 0, cfg.Days),
	}
}

type result struct {
	code           int
	stdout, stderr string
	cpu            time.Duration // the process's user and system time
}

// command builds a vccingest command line against the simulator.
func (e *e2e) command(ctx context.Context, args ...string) *exec.Cmd {
	// Each command takes only the flags it uses.
	base := []string{"--data-dir", e.dataDir}
	switch args[0] {
	case "sync", "doctor", "worker", "demo":
		base = append(base, "--api-url", e.sim.APIURL(), "--auth-url", e.sim.AuthURL(),
			"--client-id", e.cred.ClientID, "--client-secret-ref", "env:VCC_TEST_SECRET", "--log-format", "text")
		if !e.limited {
			// A simulator without an account limit: the default budget
			// (120 a minute) would make every test wait on pacing it
			// does not test. A test's own --requests-per-minute, after
			// this one, wins.
			base = append(base, "--requests-per-minute", "6000")
		}
	case "migrate":
		base = append(base, "--log-format", "text")
	}
	line := append([]string{bin(e.t)}, append(args[:1:1], append(base, args[1:]...)...)...)
	if len(e.via) > 0 {
		line = append(slices.Clone(e.via), line...)
	}
	cmd := exec.CommandContext(ctx, line[0], line[1:]...)
	cmd.Env = append(os.Environ(), "VCC_TEST_SECRET="+e.cred.ClientSecret)
	return cmd
}

func (e *e2e) run(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), code: exitCode(e.t, err)}
	if ps := cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime()
	}
	if strings.Contains(r.stdout+r.stderr, e.cred.ClientSecret) {
		e.t.Fatalf("vccingest printed the client secret")
	}
	return r
}

func (e *e2e) syncAll(extra ...string) result {
	e.t.Helper()
	args := append([]string{"sync", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339)}, extra...)
	return e.run(args...)
}

// sidecar is the part of interaction.json the tests check.
type sidecar struct {
	SchemaVersion int      `json:"schema_version"`
	InteractionID string   `json:"interaction_id"`
	Direction     string   `json:"direction"`
	Groups        []string `json:"groups"`
	Agent         *struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Email     string `json:"email"`
		AgentCode string `json:"agent_code"`
	} `json:"agent"`
	Recordings []struct {
		ContentKey      string  `json:"content_key"`
		MediaType       string  `json:"media_type"`
		SHA256          string  `json:"sha256"`
		Bytes           int64   `json:"bytes"`
		DurationSeconds float64 `json:"duration_seconds"`
	} `json:"recordings"`
}

// verify checks the bucket against the simulator's ground truth: every
// recording visible to the credential is stored once with the right bytes,
// its sidecar carries the right agent and direction, and nothing else (no
// partial or temporary object) is in the bucket.
func (e *e2e) verify() (stored int) {
	e.t.Helper()
	truth := e.sim.Truth(e.from, e.to, e.cred.ClientID)
	blobs := filepath.Join(e.dataDir, "blobs")
	want := map[string]string{} // relative path → sha256
	sidecars := map[string]vccsim.TruthInteraction{}
	for _, it := range truth.Interactions {
		if !it.Visible {
			continue
		}
		dir := filepath.Join("default", it.Start.UTC().Format("2006/01/02"), it.GUID)
		recs := 0
		for _, c := range it.Content {
			if !isRecordingType(c.Type) {
				continue
			}
			want[filepath.Join(dir, c.ContentKey+extFor(c.ContentType))] = c.SHA256
			recs++
		}
		if recs > 0 {
			sidecars[filepath.Join(dir, "interaction.json")] = it
		}
	}
	got := map[string]string{}
	err := filepath.WalkDir(blobs, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(blobs, path)
		if strings.HasSuffix(rel, "interaction.json") {
			if _, ok := sidecars[rel]; !ok {
				e.t.Errorf("unexpected sidecar %s", rel)
			}
			return nil
		}
		if strings.HasSuffix(rel, ".attrs") {
			return nil // fileblob's attribute files
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		got[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		e.t.Fatalf("walk bucket: %v", err)
	}
	for p, sum := range want {
		switch g, ok := got[p]; {
		case !ok:
			e.t.Errorf("missing recording %s", p)
		case g != sum:
			e.t.Errorf("corrupt recording %s: sha256 %s, want %s", p, g, sum)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			e.t.Errorf("unexpected object in bucket (partial, duplicate or hidden): %s", p)
		}
	}
	for p, it := range sidecars {
		b, err := os.ReadFile(filepath.Join(blobs, p))
		if err != nil {
			e.t.Errorf("sidecar: %v", err)
			continue
		}
		var sc sidecar
		if err := json.Unmarshal(b, &sc); err != nil {
			e.t.Errorf("sidecar %s: %v", p, err)
			continue
		}
		if sc.InteractionID != it.GUID || sc.Direction != it.Direction {
			e.t.Errorf("sidecar %s: id %q direction %q, want %q %q", p, sc.InteractionID, sc.Direction, it.GUID, it.Direction)
		}
		for _, r := range sc.Recordings {
			// The simulator's WAV is 8-bit mono at 8 kHz behind a 44-byte header.
			if want := float64(r.Bytes-44) / 8000; r.MediaType == "audio/wav" && (r.DurationSeconds < want-0.001 || r.DurationSeconds > want+0.001) {
				e.t.Errorf("sidecar %s: %s lasts %.3f s, want %.3f s", p, r.ContentKey, r.DurationSeconds, want)
			}
		}
		if strings.Join(sc.Groups, ",") != strings.Join(it.Groups, ",") {
			e.t.Errorf("sidecar %s: groups %q, want %q", p, sc.Groups, it.Groups)
		}
		if sc.Agent == nil || sc.Agent.ID != it.AgentID || sc.Agent.Name != it.AgentName || sc.Agent.Email != it.AgentEmail || sc.Agent.AgentCode != it.AgentCode {
			e.t.Errorf("sidecar %s: agent %+v, want %s %s %s %s", p, sc.Agent, it.AgentID, it.AgentName, it.AgentEmail, it.AgentCode)
		}
	}
	return len(want)
}

func isRecordingType(t string) bool {
	return t == "callRecording" || t == "voicemail" || t == "ivrAudioRecording"
}

func extFor(mediaType string) string {
	switch mediaType {
	case "audio/wav", "audio/x-wav", "audio/wave":
		return ".wav"
	case "audio/mpeg":
		return ".mp3"
	case "application/json":
		return ".json"
	}
	return ".bin"
}

func contentDownloads(sim *vccsim.Server) int {
	n := 0
	for _, c := range sim.Downloads() {
		n += c
	}
	return n
}

func TestSync_StoresEveryVisibleRecordingOnceThenNothing(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 7, CallsPerDay: 40}, "admin")
	r := e.syncAll()
	if r.code != 0 {
		t.Fatalf("sync exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	n := e.verify()
	if n < 50 {
		t.Fatalf("only %d recordings in a 3-day dataset; the test proves little", n)
	}
	if d := contentDownloads(e.sim); d != n {
		t.Errorf("%d content downloads for %d recordings", d, n)
	}
	// The summary says what the run spent of the budget, by purpose.
	var apiRequests int
	for _, rs := range e.sim.Requests() {
		if !strings.Contains(rs.Route, "/Auth/connect/token") {
			apiRequests += rs.Count
		}
	}
	if want := fmt.Sprintf("VCC requests:        %d requests (list ", apiRequests); !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, fmt.Sprintf(", download %d", n)) || !strings.Contains(r.stdout, "0 × 429") {
		t.Errorf("the summary does not give the run's %d requests with %d downloads and no 429:\n%s", apiRequests, n, r.stdout)
	}

	// A second run of the same range downloads nothing and changes nothing.
	e.sim.ResetRequests()
	r = e.syncAll()
	if r.code != 0 {
		t.Fatalf("second sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if d := contentDownloads(e.sim); d != 0 {
		t.Errorf("second run downloaded %d recordings, want 0", d)
	}
	if e.verify() != n {
		t.Error("second run changed the bucket")
	}
	for _, rs := range e.sim.Requests() {
		if rs.Method != "GET" && !strings.Contains(rs.Route, "/Auth/connect/token") {
			t.Errorf("non-GET request to a resource API: %+v", rs)
		}
	}
}

func TestSync_WrongSecretExits2BeforeAnyDownload(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 3, Days: 1, CallsPerDay: 10}, "admin")
	e.cred.ClientSecret = "not-the-secret"
	r := e.syncAll()
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(strings.ToLower(r.stderr), "credential") || !strings.Contains(r.stderr, "check --region") {
		t.Errorf("stderr does not explain the credential problem, the region included:\n%s", r.stderr)
	}
	if d := contentDownloads(e.sim); d != 0 {
		t.Errorf("%d downloads with a wrong secret", d)
	}
}

func TestSync_CorruptConfigNamesTheLine(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 3, Days: 1, CallsPerDay: 5}, "admin")
	cfg := filepath.Join(t.TempDir(), "vccingest.yaml")
	if err := os.WriteFile(cfg, []byte("region: nam\ndownloads: [8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.syncAll("--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "line") {
		t.Fatalf("exit %d, stderr %q; want exit 2 naming the line", r.code, r.stderr)
	}
}

func TestSync_UnwritableDataDirIsAClearError(t *testing.T) {
	// A path under a regular file cannot be created, even by root (which
	// ignores directory permissions).
	e := newE2E(t, vccsim.Config{Seed: 3, Days: 1, CallsPerDay: 5}, "admin")
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.dataDir = filepath.Join(file, "data")
	r := e.syncAll()
	if r.code != 2 || !strings.Contains(r.stderr, "not-a-dir") {
		t.Fatalf("exit %d, stderr %q; want exit 2 naming the path", r.code, r.stderr)
	}
}

func TestSync_HostileIDRejectedOthersStored(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 11, Days: 1, CallsPerDay: 30, HostileIDs: true}, "admin")
	r := e.syncAll()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (rejected recordings are failures)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "rejected") {
		t.Errorf("summary does not report the rejected interaction:\n%s", r.stdout)
	}
	// Every recording with a safe id is stored; hostile ones are not.
	truth := e.sim.Truth(e.from, e.to, e.cred.ClientID)
	hostile := 0
	for _, it := range truth.Interactions {
		if strings.ContainsAny(it.GUID, "/\\") || strings.Contains(it.GUID, "..") || len(it.GUID) > 200 || strings.IndexFunc(it.GUID, func(r rune) bool { return r < 0x20 }) >= 0 {
			hostile++
		}
	}
	if hostile == 0 {
		t.Fatal("dataset has no hostile ids")
	}
	blobs := filepath.Join(e.dataDir, "blobs")
	_ = filepath.WalkDir(blobs, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !strings.HasPrefix(path, blobs) {
			t.Errorf("object outside the bucket: %s", path)
		}
		return nil
	})
}

// syncing twice over the same data dir at once: the second is refused.
func TestSync_SecondProcessOnSameCatalogIsRefused(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 5, Days: 1, CallsPerDay: 200, FixedRecordingSize: 2 << 20}, "admin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := e.command(ctx, "sync", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339), "--downloads", "1")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for contentDownloads(e.sim) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r := e.syncAll()
	if r.code != 2 || !strings.Contains(r.stderr, "another vccingest process") {
		t.Fatalf("second sync: exit %d, stderr %q", r.code, r.stderr)
	}
	cancel()
}
