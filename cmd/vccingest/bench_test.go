package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/blobstore/azuritetest"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// BenchmarkSyncVsRawDownload syncs 33 recordings of 48 MiB (1.5 GiB) with the real
// binary (--downloads 8) and, for comparison, downloads the same recordings
// with plain net/http at the same concurrency into files on the same disk.
// It reports both rates and their ratio (target: e2e/raw ≥ 0.9); run it
// with an even -benchtime (e.g. 4x) so that each side goes first as often. The
// request rate limit is lifted (--requests-per-minute 180000) since the raw side has
// none; with the default 20 requests/s, small recordings are rate-bound.
func BenchmarkSyncVsRawDownload(b *testing.B) {
	const size = 48 << 20
	e := newE2E(b, vccsim.Config{Seed: 41, Days: 1, CallsPerDay: 36, FixedRecordingSize: size}, "admin")
	paths := recordingPaths(e)
	var syncTime, rawTime time.Duration
	var syncBytes, rawBytes int64
	i := 0
	for b.Loop() {
		// Each side starts with no dirty pages of the other's to write back
		// (syscall.Sync, untimed), and the order alternates, so neither pays
		// for the other's writes.
		syncSide := func() {
			e.dataDir = b.TempDir()
			syscall.Sync()
			began := time.Now()
			r := e.syncAll("--downloads", "8", "--requests-per-minute", "180000", "--log-format", "json", "--log-level", "error")
			syncTime += time.Since(began)
			if r.code != 0 {
				b.Fatalf("sync: %d %s", r.code, r.stderr)
			}
			syncBytes += dirBytes(b, filepath.Join(e.dataDir, "blobs"), ".wav")
		}
		rawSide := func() {
			dir := b.TempDir()
			syscall.Sync()
			began := time.Now()
			rawBytes += rawDownload(b, e, paths, dir, 8)
			rawTime += time.Since(began)
		}
		if i%2 == 0 {
			syncSide()
			rawSide()
		} else {
			rawSide()
			syncSide()
		}
		i++
	}
	e2eRate := float64(syncBytes) / syncTime.Seconds() / 1e6
	rawRate := float64(rawBytes) / rawTime.Seconds() / 1e6
	b.ReportMetric(e2eRate, "e2e-MB/s")
	b.ReportMetric(rawRate, "raw-MB/s")
	b.ReportMetric(e2eRate/rawRate, "e2e/raw")
}

func dirBytes(b *testing.B, dir, suffix string) (n int64) {
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(path, suffix) {
			n += info.Size()
		}
		return nil
	})
	if n == 0 {
		b.Fatal("nothing stored")
	}
	return n
}

// recordingPaths lists the download paths of every visible recording.
func recordingPaths(e *e2e) []string {
	var paths []string
	for _, it := range e.sim.Truth(e.from, e.to, e.cred.ClientID).Interactions {
		for _, c := range it.Content {
			if it.Visible && isRecordingType(c.Type) {
				paths = append(paths, "/interaction-content/interactions/"+it.GUID+"/content/"+c.ContentKey)
			}
		}
	}
	return paths
}

// rawDownload fetches paths with plain net/http.
func rawDownload(b *testing.B, e *e2e, paths []string, dir string, workers int) int64 {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.cred.ClientID}, "client_secret": {e.cred.ClientSecret}, "scope": {vccsim.ScopeContent}}
	resp, err := http.PostForm(e.sim.AuthURL(), form)
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	work := make(chan string)
	var mu sync.Mutex
	var total int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for p := range work {
				req, _ := http.NewRequest(http.MethodGet, e.sim.URL+p, nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d-%d.wav", w, len(p))+filepath.Base(filepath.Dir(filepath.Dir(p)))))
				if err != nil {
					b.Error(err)
					return
				}
				n, err := io.Copy(f, resp.Body)
				resp.Body.Close()
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					b.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}
		})
	}
	for _, p := range paths {
		work <- p
	}
	close(work)
	wg.Wait()
	return total
}

// BenchmarkSyncPeakRSS1GiB syncs one 1 GiB recording with the real binary
// and reports the process's peak resident memory (target: under 64 MiB).
func BenchmarkSyncPeakRSS1GiB(b *testing.B) {
	e := newE2E(b, vccsim.Config{Seed: 2, Days: 1, CallsPerDay: 1, FixedRecordingSize: 1 << 30}, "admin")
	var peak int64
	for b.Loop() {
		e.dataDir = b.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cmd := e.command(ctx, "sync", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339), "--log-format", "json", "--log-level", "error")
		out, rss, err := runWatchingRSS(cmd)
		cancel()
		if err != nil {
			b.Fatalf("sync: %v\n%s", err, out)
		}
		if n := dirBytes(b, filepath.Join(e.dataDir, "blobs"), ".wav"); n != 1<<30 {
			b.Fatalf("stored %d bytes, want 1 GiB", n)
		}
		peak = max(peak, rss)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkSyncPeakRSS1GiBAzure syncs one 1 GiB recording into Azure Blob
// Storage (Azurite) and reports the process's peak resident memory (target:
// under 64 MiB).
func BenchmarkSyncPeakRSS1GiBAzure(b *testing.B) {
	bucketURL := azuritetest.Start(b, "recordings")
	e := newE2E(b, vccsim.Config{Seed: 2, Days: 1, CallsPerDay: 1, FixedRecordingSize: 1 << 30}, "admin")
	var peak int64
	for b.Loop() {
		e.dataDir = b.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cmd := e.command(ctx, "sync", "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339), "--bucket", bucketURL, "--log-format", "json", "--log-level", "error")
		out, rss, err := runWatchingRSS(cmd)
		cancel()
		if err != nil {
			b.Fatalf("sync: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "1 new") && !strings.Contains(string(out), "1 already stored") {
			b.Fatalf("nothing stored:\n%s", out)
		}
		peak = max(peak, rss)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkWorkers syncs a day of recordings (600 calls, some 570
// recordings, so that the run's fixed start-up does not dominate) on a
// PostgreSQL catalog with 1, 2 and 4 worker processes against a simulator
// that adds 100 ms to every request, each worker with the same concurrency,
// and reports recordings/s (goal: 4 workers ≥ 3× one). All the processes,
// PostgreSQL and the simulator share the machine's CPUs.
func BenchmarkWorkers(b *testing.B) {
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			var recs int
			var elapsed time.Duration
			for b.Loop() {
				catURL := postgresCatalog(b)
				e := newE2E(b, vccsim.Config{Seed: 71, Days: 1, CallsPerDay: 1500, FixedRecordingSize: 64 << 10, Latency: 100 * time.Millisecond}, "admin")
				if r := e.run("migrate", "--catalog", catURL); r.code != 0 {
					b.Fatalf("migrate: %s", r.stderr)
				}
				// --downloads is the tenant's, split among the workers.
				stop := e.startWorkers(n, "--catalog", catURL, "--downloads", strconv.Itoa(4*n), "--requests-per-minute", "180000")
				began := time.Now()
				r := e.syncAll("--catalog", catURL, "--work=false")
				elapsed += time.Since(began)
				stop()
				if r.code != 0 {
					b.Fatalf("planner: %s", r.stderr)
				}
				recs += contentDownloads(e.sim)
			}
			b.ReportMetric(float64(recs)/elapsed.Seconds(), "recordings/s")
		})
	}
}
