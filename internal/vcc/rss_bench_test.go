package vcc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// BenchmarkListingPeakRSS lists one interaction listing page far past the
// 64 MiB cap on a JSON response (200 MB, or one that never ends), and four
// such windows at once (records of 200 KB: each a bad record, past
// maxRecordBytes, so nothing of them is kept), and reports the process's peak RSS (maxrss-MiB):
// what a hostile or broken listing costs in memory. Run each case in its
// own process, since peak RSS only grows:
//
//	go test -run '^$' -bench 'BenchmarkListingPeakRSS/200MB$' -benchtime 1x ./internal/vcc
func BenchmarkListingPeakRSS(b *testing.B) {
	for _, bc := range []struct {
		name    string
		bytes   int64 // 0: never ends
		pad     int   // bytes of padding per record: 200 KB keeps a 200 MB page under 1000 records
		windows int
	}{
		{"200MB", 200e6, 200e3, 1},
		{"endless", 0, 200e3, 1},
		{"200MB-4windows", 200e6, 200e3, 4},
		{"200MB-small-records", 200e6, 0, 1}, // 700,000 records: past the page limit
		// Records just under maxRecordBytes, the worst a page can keep:
		// the page limit (1000) of them, about 60 MB, in each window.
		{"60KB-records-4windows", 200e6, 60e3, 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sim := startSim(b, vccsim.Config{Seed: 1, Days: 1, CallsPerDay: 1})
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hugePage(w, bc.bytes, bc.pad)
			}))
			b.Cleanup(api.Close)
			f := newClient(b, sim, "admin", func(c *Config) { c.APIURL = api.URL; c.MaxAttempts = 1 })
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range bc.windows {
					wg.Add(1)
					go func() {
						defer wg.Done()
						from := day0.Add(time.Duration(i) * time.Hour)
						for _, err := range f.c.Interactions(context.Background(), from, from.Add(time.Hour)) {
							var bad *BadRecordError
							if errors.As(err, &bad) {
								continue // records past the record cap, reported while the page streams
							}
							if err != nil && !strings.Contains(err.Error(), "cap") && !strings.Contains(err.Error(), "asked for") {
								b.Errorf("listing ended with %v; want the cap", err)
							}
							if err != nil {
								break
							}
						}
					}()
				}
				wg.Wait()
			}
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
				b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MiB")
			}
		})
	}
}

// hugePage writes a Content page of ordinary records, each with pad bytes
// more in its connectTo, until size bytes (for ever if size is 0, until
// the client hangs up).
func hugePage(w http.ResponseWriter, size int64, pad int) {
	padding := strings.Repeat("9", pad)
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	n, _ := fmt.Fprint(bw, `{"items":[`)
	written := int64(n)
	for i := 0; size == 0 || written < size; i++ {
		sep := ","
		if i == 0 {
			sep = ""
		}
		n, err := fmt.Fprintf(bw, `%s{"guid":"g-%09d","start":"2024-03-04T00:10:00.000Z","connectFrom":"+441234567890","connectTo":"+449876543210%[3]s","direction":"Inbound","handlingAgents":[{"id":"1001"}],"content":[{"contentKey":"callRecording","type":"callRecording","contentType":"audio/wav","contentLength":48000}]}`, sep, i, padding)
		if err != nil {
			return
		}
		written += int64(n)
	}
	fmt.Fprint(bw, `],"meta":{"nextContinuationToken":null}}`)
}
