package main

import (
	"testing"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// The docs leave points open (vcc-api.md, "Open points"); the simulator
// answers each in every way the docs allow, and vccingest must store every
// visible recording once, with its agent, groups and Stats direction,
// without a single request VCC would refuse. The client meets all 48
// combinations in package vcc (TestClient_EveryReadingOfTheDocs); the whole
// binary, sync and re-sync, meets a covering set of them here: every value
// of each switch beside every value of every other.
func TestSync_EveryReadingOfTheDocs(t *testing.T) {
	readings := vccsim.PairwiseReadings()
	for _, rd := range readings {
		t.Run(rd.String(), func(t *testing.T) {
			t.Parallel() // each subtest has its own simulator and data dir
			// Agents enough for more than one User Admin page would need
			// 5,001 users; the paging itself is covered in package vcc.
			// Calls land on window boundaries (EndInclusive) and some
			// windows are empty (EmptySearch204).
			e := newE2E(t, vccsim.Config{Seed: 41, Days: 1, CallsPerDay: 30, FixedRecordingSize: 2000, Readings: rd}, "admin")
			r := e.syncAll()
			if r.code != 0 {
				t.Fatalf("sync exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			n := e.verify()
			if n < 15 {
				t.Fatalf("only %d recordings; the test proves little", n)
			}
			if d := contentDownloads(e.sim); d != n {
				t.Errorf("%d downloads for %d recordings", d, n)
			}
			for _, rj := range e.sim.Rejections() {
				t.Errorf("the simulator refused a request of the first sync: %+v", rj)
			}
			e.sim.ResetRequests()
			if r := e.syncAll(); r.code != 0 || contentDownloads(e.sim) != 0 {
				t.Errorf("second sync: exit %d, %d downloads; want 0 and 0\n%s", r.code, contentDownloads(e.sim), r.stderr)
			}
			for _, rj := range e.sim.Rejections() {
				t.Errorf("the simulator refused a request of the second sync: %+v", rj)
			}
		})
	}
}
