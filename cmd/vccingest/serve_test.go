package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vccingest/vccingest/internal/ingest"
	"github.com/vccingest/vccingest/internal/vccsim"
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
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan error
}

// serveTenant is one tenant of the config file the tests write.
type serveTenant struct{ id, cred string }

// startSim starts a simulator whose two days of calls end at today's
// midnight, so that a tenant's first run (now minus the lookback) covers them.
func startServeSim(t *testing.T) *vccsim.Server {
	t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	sim, err := vccsim.Start(vccsim.Config{Seed: 11, Start: today.AddDate(0, 0, -2), Days: 2, CallsPerDay: 40, FixedRecordingSize: 3000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func (s *served) writeConfig(listen, tokenRef string, tenants ...serveTenant) {
	s.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\ndata_dir: %s\ngrace: 10s\n", listen, filepath.Join(s.dir, "data"))
	if tokenRef != "" {
		fmt.Fprintf(&b, "access_token_ref: %s\n", tokenRef)
	}
	b.WriteString("tenants:\n")
	for _, tn := range tenants {
		c := s.sim.Credential(tn.cred)
		fmt.Fprintf(&b, "  - id: %s\n    client_id: %s\n    client_secret_ref: env:SECRET_%s\n    api_url: %s\n    auth_url: %s\n    interval: 1h\n    lookback: 3d\n    settle: 0s\n    window: 6h\n    downloads: 4\n",
			tn.id, c.ClientID, strings.ToUpper(tn.cred), s.sim.APIURL(), s.sim.AuthURL())
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
	s.cmd = exec.Command(binPath, "serve", "--config", s.file)
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
	var n int64
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for _, it := range sim.Shape(today.AddDate(0, 0, -2), today, sim.Credential(cred).ClientID).Interactions {
		if !it.Visible {
			continue
		}
		for _, c := range it.Content {
			if ingest.IsRecording(c.Type) {
				n++
			}
		}
	}
	return n
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
	switch route {
	case vccsim.RouteToken:
		return "token"
	case vccsim.RouteStatsInteractions, vccsim.RouteStatsInteraction:
		return "stats"
	case vccsim.RouteUsers, vccsim.RouteUser:
		return "users"
	}
	return "content"
}
