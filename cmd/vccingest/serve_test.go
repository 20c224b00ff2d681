package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vccingest/vccingest/internal/browsertest"
	"github.com/vccingest/vccingest/internal/vccsim"
	"github.com/vccingest/vccingest/internal/verify"
)

// served is one `vccingest serve` process over one simulator.
type served struct {
	t      *testing.T
	sim    *vccsim.Server
	dir    string
	file   string
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	token  string
	grace  string // default 10s
	cat    string // catalog URL; default SQLite in the data dir
	apiURL string // the tenants' api_url; default the simulator's
	budget string // the tenants' budget lines; default "downloads: 4"
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan error
}

// serveTenant is one tenant of the config file the tests write.
type serveTenant struct{ id, cred string }

// startSim starts a simulator whose two days of calls end at today's
// midnight, so that a tenant's first run (now minus the lookback) covers them.
func startServeSim(t *testing.T) *vccsim.Server {
	return startServeSimWith(t, vccsim.Config{})
}

func startServeSimWith(t *testing.T, cfg vccsim.Config) *vccsim.Server {
	t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	cfg.Seed, cfg.Start, cfg.Days, cfg.CallsPerDay = 11, today.AddDate(0, 0, -2), 2, 40
	if cfg.FixedRecordingSize == 0 {
		cfg.FixedRecordingSize = 3000
	}
	sim, err := vccsim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func (s *served) writeConfig(listen, tokenRef string, tenants ...serveTenant) {
	s.t.Helper()
	var b strings.Builder
	grace := s.grace
	if grace == "" {
		grace = "10s"
	}
	fmt.Fprintf(&b, "listen: %s\ndata_dir: %s\ngrace: %s\n", listen, filepath.Join(s.dir, "data"), grace)
	if tokenRef != "" {
		fmt.Fprintf(&b, "access_token_ref: %s\n", tokenRef)
	}
	if s.cat != "" {
		fmt.Fprintf(&b, "catalog: %q\n", s.cat)
	}
	b.WriteString("tenants:\n")
	for _, tn := range tenants {
		c := s.sim.Credential(tn.cred)
		apiURL, budget := s.apiURL, s.budget
		if apiURL == "" {
			apiURL = s.sim.APIURL()
		}
		if budget == "" {
			// The simulator has no account limit unless a test sets one;
			// the default budget (120 a minute) would make every test
			// wait on pacing it does not test.
			budget = "downloads: 4\nrequests_per_minute: 6000"
		}
		fmt.Fprintf(&b, "  - id: %s\n    client_id: %s\n    client_secret_ref: env:SECRET_%s\n    api_url: %s\n    auth_url: %s\n    interval: 1h\n    lookback: 3d\n    settle: 0s\n    window: 6h\n",
			tn.id, c.ClientID, strings.ToUpper(tn.cred), apiURL, s.sim.AuthURL())
		for line := range strings.SplitSeq(budget, "\n") {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	if err := os.WriteFile(s.file, []byte(b.String()), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func newServed(t *testing.T, sim *vccsim.Server) *served {
	dir := t.TempDir()
	return &served{t: t, sim: sim, dir: dir, file: filepath.Join(dir, "serve.yaml"), exited: make(chan error, 1)}
}

// start runs the binary and waits for its address; it fails the test if the
// process does not come up.
func (s *served) start() {
	s.t.Helper()
	s.waitListening(s.launch())
}

// launch starts the process; waitListening(addr) waits for its status page.
func (s *served) launch() <-chan string {
	s.t.Helper()
	s.cmd = exec.Command(bin(s.t), "serve", "--config", s.file)
	s.cmd.Env = os.Environ()
	for _, c := range s.sim.Credentials() {
		s.cmd.Env = append(s.cmd.Env, "SECRET_"+strings.ToUpper(c.Name)+"="+c.ClientSecret)
	}
	s.cmd.Env = append(s.cmd.Env, "SERVE_TOKEN="+s.token)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Stderr = lockedWriter{&s.mu, &s.stderr}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	s.t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`status page on (http://[^/]+)/`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	return addr
}

func (s *served) waitListening(addr <-chan string) {
	s.t.Helper()
	select {
	case s.base = <-addr:
	case err := <-s.exited:
		s.t.Fatalf("serve exited before listening: %v\n%s", err, s.logs())
	case <-time.After(time.Minute):
		s.t.Fatalf("serve did not start listening\n%s", s.logs())
	}
	s.base = strings.Replace(s.base, "0.0.0.0", "127.0.0.1", 1)
}

func (s *served) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// get fetches path with the access token if one is set; it returns the
// status and body.
func (s *served) get(path string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, body
}

type apiTenant struct {
	ID       string                                         `json:"id"`
	Health   string                                         `json:"health"`
	Running  bool                                           `json:"running"`
	LastRun  *struct{ Status string }                       `json:"last_run"`
	Totals   struct{ Stored, Failed, Pending, Bytes int64 } `json:"totals"`
	Coverage *struct {
		Advice []string `json:"advice"`
	} `json:"coverage"`
}

func (s *served) tenants() map[string]apiTenant {
	s.t.Helper()
	code, body := s.get("/api/tenants")
	if code != http.StatusOK {
		s.t.Fatalf("/api/tenants: %d %s", code, body)
	}
	var doc struct{ Tenants []apiTenant }
	if err := json.Unmarshal(body, &doc); err != nil {
		s.t.Fatal(err)
	}
	out := map[string]apiTenant{}
	for _, tn := range doc.Tenants {
		out[tn.ID] = tn
	}
	return out
}

// waitSynced waits until every listed tenant finished a run and is idle
// (a liveness bound, not a performance goal).
func (s *served) waitSynced(ids ...string) map[string]apiTenant {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ts := s.tenants()
		done := true
		for _, id := range ids {
			tn, ok := ts[id]
			done = done && ok && tn.Health == "healthy" && !tn.Running && tn.LastRun != nil && tn.LastRun.Status == "done"
		}
		if done {
			return ts
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("tenants %v never finished a run: %+v\n%s", ids, ts, s.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *served) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// stop sends SIGTERM and expects a clean exit.
func (s *served) stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			s.t.Fatalf("serve exited with %v after SIGTERM\n%s", err, s.logs())
		}
	case <-time.After(time.Minute):
		s.t.Fatalf("serve did not stop on SIGTERM\n%s", s.logs())
	}
}

// visibleRecordings counts the recordings ground truth says cred can see.
func visibleRecordings(sim *vccsim.Server, cred string) int64 {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	return sim.Shape(today.AddDate(0, 0, -2), today, sim.Credential(cred).ClientID).VisibleRecordings()
}

// Two tenants, one with a permission gap: the API, /metrics and the logs
// agree with ground truth, the simulator's request counts and the catalog,
// and no secret or token appears anywhere.
func TestServe_TwoTenantsMetricsAndNoSecrets(t *testing.T) {
	sim := startServeSim(t)
	s := newServed(t, sim)
	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"}, serveTenant{"globex", "no-outbound"})
	s.start()
	ts := s.waitSynced("acme", "globex")

	for id, cred := range map[string]string{"acme": "admin", "globex": "no-outbound"} {
		if want := visibleRecordings(sim, cred); ts[id].Totals.Stored != want || want == 0 {
			t.Errorf("%s stored %d recordings; ground truth: %d visible", id, ts[id].Totals.Stored, want)
		}
	}
	if adv := ts["globex"].Coverage; adv == nil || len(adv.Advice) != 1 || !strings.Contains(adv.Advice[0], "outbound calls are hidden: enable “View outbound interaction content”") {
		t.Errorf("globex coverage advice: %+v", adv)
	}
	if adv := ts["acme"].Coverage; adv == nil || len(adv.Advice) != 0 {
		t.Errorf("acme coverage advice: %+v", adv)
	}

	// /metrics, parsed as Prometheus does.
	code, body := s.get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	sum := func(name string, match map[string]string) float64 {
		var total float64
		mf := families[name]
		if mf == nil {
			t.Fatalf("/metrics has no %s", name)
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := match[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				total += c.GetValue()
			} else {
				total += m.GetGauge().GetValue()
			}
		}
		return total
	}
	for id := range ts {
		if got := sum("vccingest_recordings_stored_total", map[string]string{"tenant": id}); got != float64(ts[id].Totals.Stored) {
			t.Errorf("%s: metric stored %v, catalog %d", id, got, ts[id].Totals.Stored)
		}
		if got := sum("vccingest_stored_bytes_total", map[string]string{"tenant": id}); got != float64(ts[id].Totals.Bytes) {
			t.Errorf("%s: metric bytes %v, catalog %d", id, got, ts[id].Totals.Bytes)
		}
		if got := sum("vccingest_tenant_healthy", map[string]string{"tenant": id}); got != 1 {
			t.Errorf("%s: healthy = %v", id, got)
		}
	}
	if got := sum("vccingest_coverage_permission_gap_calls", map[string]string{"tenant": "globex", "permission": "View outbound interaction content"}); got < 5 {
		t.Errorf("globex gap calls metric = %v", got)
	}
	if got := sum("vccingest_queue_jobs", map[string]string{"kind": "vccingest.fetch"}); got != 0 {
		t.Errorf("fetch jobs queued after the runs: %v", got)
	}
	// Both tenants talk to one simulator: per API and status, the
	// simulator's counts equal the sum over tenants.
	simCount := map[string]float64{}
	for _, r := range sim.Requests() {
		api := apiOfRoute(r.Route)
		if api == "token" {
			simCount["token/"+r.Scope] += float64(r.Count)
			continue
		}
		simCount[fmt.Sprintf("%s/%d", api, r.Status)] += float64(r.Count)
	}
	for key, want := range simCount {
		api, rest, _ := strings.Cut(key, "/")
		var got float64
		if api == "token" {
			got = sum("vccingest_vcc_token_requests_total", map[string]string{"scope": rest})
		} else {
			got = sum("vccingest_vcc_requests_total", map[string]string{"api": api, "status": rest})
		}
		if got != want {
			t.Errorf("%s: metrics say %v requests, the simulator saw %v", key, got, want)
		}
	}
	if len(simCount) < 4 {
		t.Errorf("simulator counts look incomplete: %v", simCount)
	}
	// The strict simulator refused nothing serve sent (Accept, parameters).
	for _, rj := range sim.Rejections() {
		if rj.Status == http.StatusBadRequest {
			t.Errorf("the simulator answered 400: %+v", rj)
		}
	}

	// Every page, metric and log line, scanned for secrets and tokens.
	var seen bytes.Buffer
	seen.Write(body)
	for _, p := range []string{"/", "/api/tenants", "/api/tenants/acme", "/api/tenants/globex/coverage?by=agent", "/api/tenants/globex/failures", "/healthz", "/readyz"} {
		code, b := s.get(p)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, code, b)
		}
		seen.Write(b)
	}
	s.stop()
	seen.WriteString(s.logs())

	// The CLI reads serve's tenants through the same file: the catalog's
	// tenants with their counts, and coverage of each, need no --tenant.
	out, err := exec.Command(bin(t), "tenants", "--config", s.file, "--json").CombinedOutput()
	var listed []tenantItem
	if err != nil || json.Unmarshal(out, &listed) != nil || len(listed) != 2 || listed[0].ID != "acme" || listed[1].ID != "globex" || listed[0].Stored != int64(ts["acme"].Totals.Stored) {
		t.Errorf("tenants --config serve.yaml: %v, %+v\n%s", err, listed, out)
	}
	out, err = exec.Command(bin(t), "coverage", "--config", s.file, "--all-tenants").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tenant acme,") || !strings.Contains(string(out), "tenant globex,") || !strings.Contains(string(out), "View outbound interaction content") {
		t.Errorf("coverage --config serve.yaml --all-tenants: %v\n%s", err, out)
	}
	seen.Write(out)
	for _, c := range sim.Credentials() {
		if bytes.Contains(seen.Bytes(), []byte(c.ClientSecret)) {
			t.Errorf("the client secret of %s appears in a response or log", c.Name)
		}
	}
	tokens := sim.IssuedTokens()
	if len(tokens) == 0 {
		t.Fatal("the simulator issued no tokens")
	}
	for _, tok := range tokens {
		if bytes.Contains(seen.Bytes(), []byte(tok)) {
			t.Errorf("an issued bearer token appears in a response or log")
		}
	}
}

// apiOfRoute maps a simulator route to the API name the client counts.
func apiOfRoute(route string) string {
	switch {
	case route == vccsim.RouteToken:
		return "token"
	case strings.HasPrefix(route, "GET /stats/"):
		return "stats"
	case strings.HasPrefix(route, "GET /useradmin/"):
		return "users"
	}
	return "content"
}

// The status page, rendered by headless Chromium: the tenants, their counts
// and the permission explanation are on the page a person sees.
func TestServe_StatusPageInChromium(t *testing.T) {
	sim := startServeSim(t)
	s := newServed(t, sim)
	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"}, serveTenant{"globex", "no-outbound"})
	s.start()
	ts := s.waitSynced("acme", "globex")
	ctx := browsertest.New(t)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(chromedp.ID("tenant-globex")),
	); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("chromium: read the page: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	shotPath := filepath.Join(t.TempDir(), "status.png")
	if err := os.WriteFile(shotPath, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shotPath, len(shot))
	if len(shot) < 10_000 {
		t.Errorf("the screenshot is only %d bytes", len(shot))
	}
	for _, want := range []string{
		"2 tenants",
		"acme", "globex", "healthy",
		fmt.Sprintf("%d stored", ts["acme"].Totals.Stored),
		fmt.Sprintf("%d stored", ts["globex"].Totals.Stored),
		"outbound calls are hidden: enable “View outbound interaction content” for the credential's user",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered page lacks %q; it reads:\n%s", want, text)
		}
	}
	if strings.Count(text, "calls are hidden") != 1 {
		t.Errorf("the page names %d permission gaps, want 1 (globex only):\n%s", strings.Count(text, "calls are hidden"), text)
	}
	s.stop()
}

// SIGHUP adds a tenant without a restart, removes one (its schedule stops),
// and rejects a bad file, keeping the running config.
func TestServe_ReloadAddsRemovesAndRejects(t *testing.T) {
	sim := startServeSim(t)
	s := newServed(t, sim)
	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"}, serveTenant{"globex", "no-outbound"})
	s.start()
	pid := s.cmd.Process.Pid
	s.waitSynced("acme", "globex")

	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"}, serveTenant{"globex", "no-outbound"}, serveTenant{"initech", "own-group"})
	s.signal(syscall.SIGHUP)
	ts := s.waitSynced("acme", "globex", "initech")
	if want := visibleRecordings(sim, "own-group"); ts["initech"].Totals.Stored != want {
		t.Errorf("initech stored %d, ground truth %d", ts["initech"].Totals.Stored, want)
	}
	if s.cmd.Process.Pid != pid || s.cmd.ProcessState != nil {
		t.Fatal("the service restarted")
	}
	if code, _ := s.get("/api/tenants/initech"); code != http.StatusOK {
		t.Errorf("/api/tenants/initech: %d", code)
	}

	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"}, serveTenant{"initech", "own-group"})
	s.signal(syscall.SIGHUP)
	waitUntil(t, "globex is removed", func() bool { _, ok := s.tenants()["globex"]; return !ok })
	if code, _ := s.get("/api/tenants/globex"); code != http.StatusNotFound {
		t.Errorf("/api/tenants/globex after removal: %d, want 404", code)
	}
	if !strings.Contains(s.logs(), `msg="tenant removed; its schedule stopped" tenant=globex`) {
		t.Errorf("no log line says globex's schedule stopped:\n%s", s.logs())
	}

	if err := os.WriteFile(s.file, []byte("tenants:\n  - id: acme\n    interval: soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.signal(syscall.SIGHUP)
	waitUntil(t, "the bad config is rejected", func() bool { return strings.Contains(s.logs(), "config reload rejected; the running config stays") })
	if !strings.Contains(s.logs(), `interval: \"soon\" is not a duration`) {
		t.Errorf("the rejection does not name the field:\n%s", s.logs())
	}
	ts = s.tenants()
	if len(ts) != 2 || ts["acme"].Health != "healthy" || ts["initech"].Health != "healthy" {
		t.Errorf("tenants after a rejected reload: %+v", ts)
	}
	s.stop()
}

// A SIGHUP while serve is still starting (catalog, migrations, the first
// schedule) is a reload request, not the end of the process.
func TestServe_SIGHUPDuringStartUpIsAReload(t *testing.T) {
	sim := startServeSim(t)
	s := newServed(t, sim)
	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"})
	addr := s.launch()
	// At once: opening a new catalog and its migrations take longer than
	// this loop's millisecond.
	for deadline := time.Now().Add(time.Minute); !strings.Contains(s.logs(), `msg="serve starting"`); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log that it is starting:\n%s", s.logs())
		}
	}
	s.signal(syscall.SIGHUP)
	s.waitListening(addr)
	waitUntil(t, "the early SIGHUP is taken as a reload", func() bool { return strings.Contains(s.logs(), "SIGHUP: reloading the config") })
	s.waitSynced("acme")
	if s.cmd.ProcessState != nil {
		t.Fatalf("serve exited: %v", s.cmd.ProcessState)
	}
	s.stop()
}

// waitUntil polls cond (a liveness bound, not a performance goal).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Beyond loopback the service needs an access token: without one it refuses
// to start; with one, requests without it get 401.
func TestServe_NonLoopbackNeedsAnAccessToken(t *testing.T) {
	sim := startServeSim(t)
	s := newServed(t, sim)
	s.writeConfig("0.0.0.0:0", "", serveTenant{"acme", "admin"})
	out, err := exec.Command(bin(t), "serve", "--config", s.file).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "not a loopback address, so an access token is required: set access_token_ref") {
		t.Fatalf("serve on 0.0.0.0 without a token: %v\n%s", err, out)
	}

	s.token = "test-access-token-0123456789abcdef"
	s.writeConfig("0.0.0.0:0", "env:SERVE_TOKEN", serveTenant{"acme", "admin"})
	s.start()
	for _, p := range []string{"/", "/metrics", "/api/tenants", "/api/tenants/acme"} {
		resp, err := http.Get(s.base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without a token: %d %s", p, resp.StatusCode, body)
		}
		req, _ := http.NewRequest(http.MethodGet, s.base+p, nil)
		req.Header.Set("Authorization", "Bearer wrong-"+s.token)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d", p, resp.StatusCode)
		}
		if code, body := s.get(p); code != http.StatusOK {
			t.Errorf("GET %s with the token: %d %s", p, code, body)
		} else if bytes.Contains(body, []byte(s.token)) {
			t.Errorf("GET %s shows the access token", p)
		}
	}
	resp, err := http.Get(s.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz without a token: %d (probes stay open)", resp.StatusCode)
	}
	s.stop()
	if strings.Contains(s.logs(), s.token) {
		t.Error("the log shows the access token")
	}
}

// SIGTERM in the middle of a run: scheduling stops, running downloads get the
// grace period, the rest is released; the next start finishes the job with
// every recording stored once.
func TestServe_SIGTERMDrainsAndTheNextStartFinishes(t *testing.T) {
	sim := startServeSimWith(t, vccsim.Config{Latency: 150 * time.Millisecond, FixedRecordingSize: 64 << 10})
	s := newServed(t, sim)
	s.grace = "2s"
	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"})
	s.start()
	waitUntil(t, "some recordings are stored", func() bool { return s.tenants()["acme"].Totals.Stored >= 3 })
	began := time.Now()
	s.stop()
	// Within the grace, and the bookkeeping after it, not the 30 s it once
	// took; without a catalog closed under the jobs still ending.
	if took := time.Since(began); took > 2*time.Second+8*time.Second {
		t.Errorf("serve took %s to stop on SIGTERM with a grace of 2s", took.Round(time.Millisecond))
	}
	if strings.Contains(s.logs(), "database is closed") {
		t.Errorf("SIGTERM logged a closed database:\n%s", s.logs())
	}
	if !strings.Contains(s.logs(), "stopping: no new syncs; running downloads may finish") {
		t.Errorf("no drain log line:\n%s", s.logs())
	}
	// A deploy is not an error: the stop logs at info.
	for _, line := range strings.Split(s.logs(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("SIGTERM logged an error: %s", line)
		}
	}
	if !strings.Contains(s.logs(), `msg="tenant sync interrupted; it goes on at the next start" tenant=acme`) {
		t.Errorf("no log line says the interrupted sync goes on at the next start:\n%s", s.logs())
	}

	again := &served{t: t, sim: sim, dir: s.dir, file: s.file, exited: make(chan error, 1)}
	again.start()
	again.waitSynced("acme")
	if _, body := again.get("/api/tenants/acme"); !strings.Contains(string(body), `"status": "interrupted"`) {
		t.Errorf("the first run was not interrupted by SIGTERM (the test stopped too late?): %s", body)
	}
	if !regexp.MustCompile(`level=INFO msg="run finished" tenant=acme status=done from=\S+ to=\S+ windows=\d+ rescans=\d+ new_interactions=\d+ stored=\d+ failed=0 bytes=\d+ unlisted=0 requests=\d+`).MatchString(again.logs()) {
		t.Errorf("no info line tells the run's outcome:\n%s", again.logs())
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	truth := sim.Truth(today.AddDate(0, 0, -2), today, sim.Credential("admin").ClientID)
	v, err := verify.Bucket(filepath.Join(s.dir, "data", "blobs"), "acme", truth)
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() || v.Expected == 0 {
		t.Fatalf("after SIGTERM and a restart: %s", v)
	}
	extra := 0
	for key, n := range sim.Downloads() {
		if n > 2 {
			t.Errorf("%s downloaded %d times", key, n)
		}
		extra += n - 1
	}
	if extra > 4 { // at most the downloads running at SIGTERM repeat
		t.Errorf("%d downloads repeated; at most the 4 running at SIGTERM may", extra)
	}
	again.stop()
}

// Two serve processes on one PostgreSQL catalog share the work: River's
// leader schedules each tenant once, either process runs its jobs, and every
// recording is downloaded and stored once.
func TestServe_TwoProcessesShareAPostgresCatalog(t *testing.T) {
	catURL := postgresCatalog(t)
	sim := startServeSim(t)
	s := newServed(t, sim)
	s.cat = catURL
	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"})
	other := s.startPair("acme", "admin")
	today := time.Now().UTC().Truncate(24 * time.Hour)
	v, err := verify.Bucket(filepath.Join(s.dir, "data", "blobs"), "acme", sim.Truth(today.AddDate(0, 0, -2), today, sim.Credential("admin").ClientID))
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() {
		t.Errorf("bucket: %s", v)
	}
	for key, n := range sim.Downloads() {
		if n != 1 {
			t.Errorf("%s downloaded %d times", key, n)
		}
	}
	// Whichever process ran a window's job knew the credential holds the
	// stats scope: every sidecar has the Stats direction.
	checkStatsDirections(t, filepath.Join(s.dir, "data", "blobs", "acme"), sim.Truth(today.AddDate(0, 0, -2), today, sim.Credential("admin").ClientID))
	s.stop()
	other.stop()
}

// checkStatsDirections reads every sidecar under dir and checks that its
// direction came from Stats and matches the ground truth.
func checkStatsDirections(t *testing.T, dir string, truth vccsim.Truth) {
	t.Helper()
	want := map[string]string{}
	for _, it := range truth.Interactions {
		want[it.GUID] = it.Direction
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "interaction.json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var sc struct {
			ID        string `json:"interaction_id"`
			Direction string `json:"direction"`
			Source    string `json:"direction_source"`
		}
		if err := json.Unmarshal(b, &sc); err != nil {
			return err
		}
		n++
		if sc.Source != "stats" || sc.Direction != want[sc.ID] {
			t.Errorf("sidecar %s: direction %q from %q, want %q from stats", sc.ID, sc.Direction, sc.Source, want[sc.ID])
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Errorf("sidecars: %d read, %v", n, err)
	}
}

// startPair starts s and a second process with the same config, waits until
// both show tenant synced, and checks that it stored every recording its
// credential sees.
func (s *served) startPair(tenant, cred string) *served {
	s.t.Helper()
	s.start()
	other := &served{t: s.t, sim: s.sim, dir: s.dir, file: s.file, exited: make(chan error, 1)}
	other.start()
	s.waitSynced(tenant)
	if ts := other.waitSynced(tenant); ts[tenant].Totals.Stored != visibleRecordings(s.sim, cred) {
		s.t.Errorf("stored %d, ground truth %d", ts[tenant].Totals.Stored, visibleRecordings(s.sim, cred))
	}
	return other
}

// Two serve processes on one PostgreSQL catalog share a tenant's budget, as
// workers do (VCC limits an account, not a process): the requests VCC sees
// of all its APIs in any two seconds stay within the tenant's
// requests_per_minute for two seconds plus a burst of one per process (and
// a little for the proxy's timing), and the run is held at the budget (so
// the bound is what is tested); VCC never serves more recordings at once
// than the tenant's downloads.
func TestServe_TwoProcessesShareTheTenantsBudget(t *testing.T) {
	const (
		perMinute = 480.0 // for the tenant, all APIs
		limit     = perMinute / 60
		downloads = 4
		window    = 2 * time.Second
	)
	catURL := postgresCatalog(t)
	sim := startServeSimWith(t, vccsim.Config{Latency: 100 * time.Millisecond})
	seen := observeRequestsTo(t, sim.APIURL())
	s := newServed(t, sim)
	s.cat, s.apiURL = catURL, seen.URL
	s.budget = fmt.Sprintf("downloads: %d\nrequests_per_minute: %g", downloads, perMinute)
	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"})
	other := s.startPair("acme", "admin")
	s.stop()
	other.stop()

	at := seen.times()
	peak := maxInWindow(at, window)
	bound := int(limit*window.Seconds()) + 2 + 2
	t.Logf("all APIs: %d requests over %s, at most %d in %s (bound %d); at most %d downloads at once (budget %d)",
		len(at), at[len(at)-1].Sub(at[0]).Round(time.Millisecond), peak, window, bound, seen.peakDownloads(), downloads)
	if peak > bound {
		t.Errorf("%d requests within %s; the tenant's requests_per_minute allows %d", peak, window, bound)
	}
	if peak < int(0.8*limit*window.Seconds()) {
		t.Errorf("at most %d requests within %s: the limit did not hold the run back, so the test proves little", peak, window)
	}
	if p := seen.peakDownloads(); p > downloads {
		t.Errorf("%d downloads at once; the tenant's downloads is %d", p, downloads)
	}
	for key, n := range sim.Downloads() {
		if n != 1 {
			t.Errorf("%s downloaded %d times", key, n)
		}
	}
}
