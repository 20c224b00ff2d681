package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/events"
	"github.com/vccingest/vccingest/internal/events/eventstest"
	"github.com/vccingest/vccingest/internal/vccsim"
)

const hookSecret = "webhook-signing-secret-of-the-e2e-test"

// eventSinks are a RabbitMQ exchange, a JetStream stream and a webhook,
// each collecting what it receives, and the flags that point sync at them.
type eventSinks struct {
	rabbit *eventstest.Rabbit
	stream *eventstest.Stream
	hook   *eventstest.Webhook
}

func newEventSinks(t *testing.T) *eventSinks {
	t.Helper()
	t.Setenv("RABBIT_SERVER_URL", eventstest.RabbitURL())
	t.Setenv("VCC_TEST_HOOK_SECRET", hookSecret)
	return &eventSinks{rabbit: eventstest.NewRabbit(t), stream: eventstest.NewStream(t), hook: eventstest.NewWebhook(t, hookSecret)}
}

func (s *eventSinks) flags() []string {
	return []string{"--events", strings.Join([]string{s.rabbit.SinkURL(), s.stream.SinkURL(), s.hook.URL}, ","), "--events-secret-ref", "env:VCC_TEST_HOOK_SECRET", "--requests-per-minute", "60000"}
}

func (s *eventSinks) each() map[string]*eventstest.Collector {
	return map[string]*eventstest.Collector{"rabbitmq": &s.rabbit.Collector, "jetstream": &s.stream.Collector, "webhook": &s.hook.Collector}
}

// storedIDs are the recording.stored ids of what the catalog holds, with
// each one's sha256 and blob key.
func (e *e2e) storedIDs() map[string]catalog.Recording {
	e.t.Helper()
	return e.storedIDsAt("sqlite://" + filepath.ToSlash(filepath.Join(e.dataDir, "catalog.db")))
}

// storedIDsAt is storedIDs of the catalog at catURL.
func (e *e2e) storedIDsAt(catURL string) map[string]catalog.Recording {
	e.t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, catURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cat.Close()
	recs, err := cat.RecordingsWithStatus(ctx, "default", catalog.StatusStored, e.from, e.to)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]catalog.Recording{}
	for _, r := range recs {
		out[events.RecordingID("default", r.GUID, r.ContentKey, "stored", 0)] = r
	}
	return out
}

// checkStoredEvents checks that got is one recording.stored event per
// recording of want, no more, each carrying the stored object's sha256 as
// the bucket holds it.
func (e *e2e) checkStoredEvents(sink string, got []events.Event, want map[string]catalog.Recording) {
	e.t.Helper()
	seen := map[string]int{}
	for _, ev := range got {
		seen[ev.ID]++
		if seen[ev.ID] > 1 {
			e.t.Errorf("%s: event %s received %d times", sink, ev.ID, seen[ev.ID])
			continue
		}
		rec, ok := want[ev.ID]
		if !ok {
			e.t.Errorf("%s: event %s names no stored recording", sink, ev.ID)
			continue
		}
		if ev.Type != events.TypeRecordingStored || ev.SpecVersion != "1.0" || ev.Source != events.Source("default") {
			e.t.Errorf("%s: event %s: type %q specversion %q source %q", sink, ev.ID, ev.Type, ev.SpecVersion, ev.Source)
		}
		var data events.RecordingStored
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			e.t.Errorf("%s: event %s data: %v", sink, ev.ID, err)
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.dataDir, "blobs", filepath.FromSlash(data.BlobKey)))
		if err != nil {
			e.t.Errorf("%s: event %s: its blob: %v", sink, ev.ID, err)
			continue
		}
		sum := sha256.Sum256(b)
		if data.SHA256 != hex.EncodeToString(sum[:]) || data.SHA256 != rec.SHA256 || data.Bytes != int64(len(b)) || data.BlobKey != rec.BlobKey {
			e.t.Errorf("%s: event %s: sha256 %s, %d bytes, key %s; the stored object has %s, %d bytes, key %s",
				sink, ev.ID, data.SHA256, data.Bytes, data.BlobKey, hex.EncodeToString(sum[:]), len(b), rec.BlobKey)
		}
		if data.InteractionID != rec.GUID || data.ContentKey != rec.ContentKey || data.MediaType != rec.MediaType || data.Agent == nil || data.Direction == "" ||
			!strings.HasPrefix(data.BlobURL, "file://") || !strings.HasSuffix(data.BlobURL, data.BlobKey) {
			e.t.Errorf("%s: event %s lacks what the sidecar says: %s", sink, ev.ID, ev.Data)
		}
	}
	for id := range want {
		if seen[id] == 0 {
			e.t.Errorf("%s: no event for stored recording %s", sink, id)
		}
	}
}

// A 3-day sync announces every stored recording once on each sink, with
// the catalog's ids and the stored object's sha256; a second run of the
// same range announces nothing; a replay sends the same ids again.
func TestEvents_SyncAnnouncesEachStoredRecordingOnceOnEverySink(t *testing.T) {
	sinks := newEventSinks(t)
	e := newE2E(t, vccsim.Config{Seed: 7, CallsPerDay: 40}, "admin")
	r := e.syncAll(sinks.flags()...)
	if r.code != 0 {
		t.Fatalf("sync exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	n := e.verify()
	want := e.storedIDs()
	if len(want) != n || n < 50 {
		t.Fatalf("catalog holds %d stored recordings, bucket %d", len(want), n)
	}
	if !strings.Contains(r.stdout, "events delivered:") {
		t.Errorf("summary does not count the events:\n%s", r.stdout)
	}
	for name, c := range sinks.each() {
		got := c.WaitFor(n, 30*time.Second)
		t.Logf("%s: %d events for %d stored recordings", name, len(got), n)
		e.checkStoredEvents(name, got, want)
	}

	r = e.syncAll(sinks.flags()...)
	if r.code != 0 {
		t.Fatalf("second sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	time.Sleep(500 * time.Millisecond)
	for name, c := range sinks.each() {
		if got := len(c.Events()); got != n {
			t.Errorf("%s: %d events after a second run, want still %d", name, got, n)
		}
	}

	// The replay goes to the webhook (JetStream would drop the copies by
	// id): every stored recording again, with the id of its first event.
	r = e.run("events", "replay", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339),
		"--events", sinks.hook.URL, "--events-secret-ref", "env:VCC_TEST_HOOK_SECRET")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d events queued (0 were queued already), %d delivered, 0 not yet", n, n)) {
		t.Fatalf("replay exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	got := sinks.hook.WaitFor(2*n, 10*time.Second)
	e.checkStoredEvents("webhook (first delivery)", got[:n], want)
	e.checkStoredEvents("webhook (replay)", got[n:], want)
}

// A webhook that answers 500 for a while, then 200, gets every event in
// the end; ingestion does not wait for it.
func TestEvents_WebhookDownForAWhileGetsEveryEvent(t *testing.T) {
	t.Setenv("VCC_TEST_HOOK_SECRET", hookSecret)
	hook := eventstest.NewWebhook(t, hookSecret)
	hook.Status.Store(500)
	e := newE2E(t, vccsim.Config{Seed: 5, Days: 1, CallsPerDay: 15}, "admin")
	go func() {
		deadline := time.Now().Add(time.Minute)
		for hook.Answered.Load() < 10 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		hook.Status.Store(200)
	}()
	r := e.syncAll("--events", hook.URL, "--events-secret-ref", "env:VCC_TEST_HOOK_SECRET", "--events-wait", "1m", "--requests-per-minute", "60000")
	if r.code != 0 {
		t.Fatalf("sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n := e.verify()
	if hook.Answered.Load() < 10 {
		t.Fatalf("the webhook refused only %d requests; the test proves little", hook.Answered.Load())
	}
	if hook.Refused.Load() != 0 {
		t.Errorf("%d requests failed the signature check", hook.Refused.Load())
	}
	e.checkStoredEvents("webhook", hook.Events(), e.storedIDs())
	if len(hook.Events()) != n {
		t.Errorf("%d events for %d recordings", len(hook.Events()), n)
	}
}

// Killed at random moments and resumed, sync ends with an event for every
// stored recording and none for a recording that is not stored; copies
// (a publish whose ack the kill cut off) are counted and share their id.
func TestEvents_Kill9ThenResumeAnnouncesEveryStoredRecording(t *testing.T) {
	t.Setenv("VCC_TEST_HOOK_SECRET", hookSecret)
	hook := eventstest.NewWebhook(t, hookSecret)
	flags := []string{"--events", hook.URL, "--events-secret-ref", "env:VCC_TEST_HOOK_SECRET", "--requests-per-minute", "60000"}
	e := newE2E(t, vccsim.Config{Seed: 23, Days: 1, CallsPerDay: 60, FixedRecordingSize: 256 << 10}, "admin")
	rng := rand.New(rand.NewPCG(23, 0))
	killed := 0
	for range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := e.command(ctx, append([]string{"sync", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339), "--downloads", "4"}, flags...)...)
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(time.Duration(30+rng.IntN(600)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed++
		}
		cancel()
	}
	if killed < 3 {
		t.Fatalf("only %d of 6 runs were killed mid-way; the test proves little", killed)
	}
	if r := e.syncAll(flags...); r.code != 0 {
		t.Fatalf("final sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n := e.verify()
	want := e.storedIDs()
	got := hook.WaitFor(n, 10*time.Second)
	unique := map[string][]events.Event{}
	for _, ev := range got {
		unique[ev.ID] = append(unique[ev.ID], ev)
	}
	var firsts []events.Event
	for _, evs := range unique {
		firsts = append(firsts, evs[0])
		for _, c := range evs[1:] {
			if string(c.Data) != string(evs[0].Data) || !c.Time.Equal(evs[0].Time) {
				t.Errorf("copies of %s differ:\n%s\n%s", c.ID, evs[0].Data, c.Data)
			}
		}
	}
	e.checkStoredEvents("webhook", firsts, want)
	t.Logf("%d kills: %d recordings stored, %d events received, %d distinct ids, %d copies", killed, n, len(got), len(unique), len(got)-len(unique))
}

// A broker that is unreachable during the run does not hold ingestion up:
// sync stores everything, says how many events wait, and the next run
// delivers the backlog once the broker is back, each event once.
func TestEvents_BrokerDownDelaysEventsNeverIngestion(t *testing.T) {
	stream := eventstest.NewStream(t)
	proxy := eventstest.NewProxy(t, eventstest.NATSAddr())
	proxy.Cut()
	flags := []string{"--events", stream.SinkURLVia(proxy), "--events-wait", "2s", "--requests-per-minute", "60000"}
	// The same sync without events, for the time ingestion takes (the
	// run's own elapsed time, before sync waits for its events).
	base := newE2E(t, vccsim.Config{Seed: 7, Days: 1, CallsPerDay: 40}, "admin")
	rb := base.syncAll("--requests-per-minute", "60000")
	if rb.code != 0 {
		t.Fatalf("sync without events: exit %d\n%s", rb.code, rb.stderr)
	}
	e := newE2E(t, vccsim.Config{Seed: 7, Days: 1, CallsPerDay: 40}, "admin")
	start := time.Now()
	r := e.syncAll(flags...)
	if r.code != 0 {
		t.Fatalf("sync with the broker down: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	baseline, down := runElapsed(t, rb.stderr), runElapsed(t, r.stderr)
	t.Logf("ingestion without events %s, with the broker down %s; the whole sync with the broker down %s (it waits up to --events-wait 2s for events)",
		baseline, down, time.Since(start).Round(10*time.Millisecond))
	if down > 2*baseline+time.Second {
		t.Errorf("a broker that is down slowed ingestion from %s to %s", baseline, down)
	}
	n := e.verify()
	if !strings.Contains(r.stdout, fmt.Sprintf("events delivered:    0 (%d not yet", n)) {
		t.Errorf("summary does not say that %d events wait:\n%s", n, r.stdout)
	}
	if got := len(stream.Events()); got != 0 {
		t.Fatalf("%d events reached a broker that was down", got)
	}
	proxy.Restore(t)
	r = e.syncAll(append(flags, "--events-wait", "30s")...)
	if r.code != 0 {
		t.Fatalf("sync after the broker came back: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	e.checkStoredEvents("jetstream", stream.WaitFor(n, 10*time.Second), e.storedIDs())
	if !strings.Contains(r.stdout, fmt.Sprintf("events delivered:    %d (0 not yet", n)) {
		t.Errorf("second run's summary:\n%s", r.stdout)
	}
}

// runElapsed is the elapsed time of the "run finished" log line: the run's
// work, before sync waits for its events.
func runElapsed(t *testing.T, stderr string) time.Duration {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, `msg="run finished"`) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "elapsed="); ok {
				d, err := time.ParseDuration(v)
				if err != nil {
					t.Fatalf("run finished line: %v", err)
				}
				return d
			}
		}
	}
	t.Fatalf("no run finished line with elapsed= in:\n%s", stderr)
	return 0
}

// serve announces each tenant's stored recordings on the sinks of its
// config (here the same JetStream stream and webhook for both tenants):
// each once, under the tenant's own source.
func TestEvents_ServeAnnouncesEachTenantsRecordings(t *testing.T) {
	t.Setenv("VCC_TEST_HOOK_SECRET", hookSecret)
	stream := eventstest.NewStream(t)
	hook := eventstest.NewWebhook(t, hookSecret)
	sim := startServeSim(t)
	s := newServed(t, sim)
	s.budget = "downloads: 4\nrequests_per_minute: 60000\nevents: [" + stream.SinkURL() + ", " + hook.URL + "]\nevents_secret_ref: env:VCC_TEST_HOOK_SECRET"
	s.writeConfig("127.0.0.1:0", "", serveTenant{"acme", "admin"}, serveTenant{"globex", "no-outbound"})
	s.start()
	defer s.stop()
	ts := s.waitSynced("acme", "globex")
	want := ts["acme"].Totals.Stored + ts["globex"].Totals.Stored
	if ts["acme"].Totals.Stored == 0 || ts["globex"].Totals.Stored == 0 {
		t.Fatalf("nothing stored: %+v", ts)
	}
	for name, c := range map[string]*eventstest.Collector{"jetstream": &stream.Collector, "webhook": &hook.Collector} {
		// globex's permission gap is a tenant.coverage_gap event too.
		all := c.WaitFor(int(want)+1, 30*time.Second)
		var got []events.Event
		for _, ev := range all {
			if ev.Type == events.TypeRecordingStored {
				got = append(got, ev)
			}
		}
		bySource := map[string]int64{}
		ids := map[string]bool{}
		for _, ev := range got {
			bySource[ev.Source]++
			if ids[ev.ID] {
				t.Errorf("%s: %s twice", name, ev.ID)
			}
			ids[ev.ID] = true
		}
		if bySource[events.Source("acme")] != ts["acme"].Totals.Stored || bySource[events.Source("globex")] != ts["globex"].Totals.Stored || int64(len(got)) != want {
			t.Errorf("%s: events by source %v; stored acme %d, globex %d", name, bySource, ts["acme"].Totals.Stored, ts["globex"].Totals.Stored)
		}
	}
}

// BenchmarkSync_EventsOverhead syncs the same 3 days with no events, with
// one sink (a webhook: one analysis platform, the usual case) and with
// three (RabbitMQ, JetStream, a webhook), rotating which goes first, and
// reports each side's median wall time per sync, its ratio to no events
// (goal: ≤ 1.05) and the median CPU time vccingest itself spent. Medians,
// not means: on a shared machine one sync in ten now and then takes far
// longer whatever its side.
//
//   - cpu-bound (111 recordings, the VCC budget lifted): recordings of
//     64 KiB from a simulator that answers in microseconds, so the sync is
//     bound by CPU (the worst case for the ratio; the brokers, the webhook
//     receiver and the simulator share the machine's CPUs, so their work
//     slows the sync too);
//   - remote (111 recordings, the VCC budget lifted): recordings of the
//     simulator's own sizes (8,000 bytes a second of call) from a
//     simulator that answers after 30 ms, as a VCC region across the
//     network does;
//   - budget (12 recordings): as remote, under vccingest's default budget
//     of 120 requests a minute (of VCC's ~160), which paces every real
//     sync.
//
// The sinks' sides include waiting for their last events.
//
// VCCINGEST_BENCH_CPUS=0 runs vccingest on CPU 0 only (taskset -c 0); run
// the benchmark itself on the other CPU (taskset -c 1 go test …) and the
// simulator and the webhook receiver keep off vccingest's CPU, as a VCC
// region and an analysis platform do (the brokers still float).
func BenchmarkSync_EventsOverhead(b *testing.B) {
	b.Setenv("RABBIT_SERVER_URL", eventstest.RabbitURL())
	b.Setenv("VCC_TEST_HOOK_SECRET", hookSecret)
	rabbit, stream, hook := eventstest.NewRabbit(b), eventstest.NewStream(b), eventstest.NewWebhook(b, hookSecret)
	secretRef := []string{"--events-secret-ref", "env:VCC_TEST_HOOK_SECRET"}
	lifted := []string{"--requests-per-minute", "180000"}
	scenarios := []struct {
		name  string
		sim   vccsim.Config
		flags []string
	}{
		{"cpu-bound", vccsim.Config{Seed: 7, CallsPerDay: 40, FixedRecordingSize: 64 << 10}, lifted},
		{"remote", vccsim.Config{Seed: 7, CallsPerDay: 40, Latency: 30 * time.Millisecond}, lifted},
		{"budget", vccsim.Config{Seed: 7, CallsPerDay: 4, Latency: 30 * time.Millisecond}, []string{"--requests-per-minute", "120"}},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			sides := []struct {
				name      string
				flags     []string
				wall, cpu []time.Duration
			}{
				{name: "plain"},
				{name: "1sink", flags: append([]string{"--events", hook.URL}, secretRef...)},
				{name: "3sinks", flags: append([]string{"--events", strings.Join([]string{rabbit.SinkURL(), stream.SinkURL(), hook.URL}, ",")}, secretRef...)},
			}
			e := newE2E(b, sc.sim, "admin")
			if cpus := os.Getenv("VCCINGEST_BENCH_CPUS"); cpus != "" {
				e.via = []string{"taskset", "-c", cpus}
			}
			i := 0
			for b.Loop() {
				for k := range sides {
					s := &sides[(i+k)%len(sides)]
					e.dataDir = b.TempDir()
					began := time.Now()
					r := e.syncAll(append(append([]string{"--log-format", "json", "--log-level", "error"}, sc.flags...), s.flags...)...)
					s.wall = append(s.wall, time.Since(began))
					s.cpu = append(s.cpu, r.cpu)
					if r.code != 0 {
						b.Fatalf("sync (%s): %d %s", s.name, r.code, r.stderr)
					}
				}
				i++
			}
			plain := median(sides[0].wall)
			for _, s := range sides {
				wall, cpu := median(s.wall), median(s.cpu)
				b.ReportMetric(wall.Seconds(), "s/sync-"+s.name)
				b.ReportMetric(cpu.Seconds(), "cpu-s/sync-"+s.name)
				if s.name != "plain" {
					b.ReportMetric(wall.Seconds()/plain.Seconds(), s.name+"/plain")
					b.ReportMetric(cpu.Seconds()/median(sides[0].cpu).Seconds(), s.name+"-cpu/plain")
				}
			}
		})
	}
}

// median is the middle of ds (the mean of the two middle ones of an even
// count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// vccingest worker --events: the workers of a shared catalog announce what
// they store (the outbox is in their fetch transactions, and they work the
// tenant's events queue), each recording once, with the catalog's ids.
func TestEvents_WorkerAnnouncesWhatItStores(t *testing.T) {
	catURL := postgresCatalog(t)
	t.Setenv("VCC_TEST_HOOK_SECRET", hookSecret)
	hook := eventstest.NewWebhook(t, hookSecret)
	e := newE2E(t, vccsim.Config{Seed: 71, Days: 1, CallsPerDay: 12, FixedRecordingSize: 8 << 10}, "admin")
	if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	stop := e.startWorkers(1, "--catalog", catURL, "--downloads", "2", "--events", hook.URL, "--events-secret-ref", "env:VCC_TEST_HOOK_SECRET")
	defer stop()
	if r := e.syncAll("--catalog", catURL, "--work=false"); r.code != 0 {
		t.Fatalf("planner: %d\n%s", r.code, r.stderr)
	}
	want := e.storedIDsAt(catURL)
	if len(want) == 0 {
		t.Fatal("nothing stored")
	}
	got := hook.Collector.WaitFor(len(want), 30*time.Second)
	stop()
	e.checkStoredEvents("webhook", got, want)
}
