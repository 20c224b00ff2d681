package vcc

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// bigRecordsPage writes a Content page of records [from, to) of about
// 60 KB each (well past pageKeepBytes in all), calling mid once after
// record cut (if it is in range): mid may block, or abort the response.
func bigRecordsPage(w http.ResponseWriter, from, to, cut int, mid func()) {
	pad := strings.Repeat("9", 60e3)
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriter(w)
	fmt.Fprint(bw, `{"items":[`)
	for i := from; i < to; i++ {
		if i == cut {
			bw.Flush()
			w.(http.Flusher).Flush()
			mid()
		}
		sep := ","
		if i == from {
			sep = ""
		}
		fmt.Fprintf(bw, `%s{"guid":"g-%04d","start":"2024-03-04T00:10:00.000Z","connectTo":"+44%s","direction":"Inbound","content":[{"contentKey":"callRecording","type":"callRecording","contentType":"audio/wav"}]}`, sep, i, pad)
	}
	fmt.Fprint(bw, `],"meta":{"nextContinuationToken":null}}`)
	bw.Flush()
}

func TestListingPage_PastTheKeepBudget(t *testing.T) {
	const records = 400 // 24 MB: past pageKeepBytes, under the JSON cap and the page limit
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1, CallsPerDay: 1})
	listing := func(t *testing.T, handler http.HandlerFunc, body func(guid string) bool) map[string]int {
		t.Helper()
		api := httptest.NewServer(handler)
		t.Cleanup(api.Close)
		f := newClient(t, sim, "admin", func(c *Config) { c.APIURL = api.URL })
		got := map[string]int{}
		for it, err := range f.c.Interactions(context.Background(), day0, day0.Add(time.Hour)) {
			if err != nil {
				t.Fatalf("listing: %v", err)
			}
			got[it.GUID]++
			if !body(it.GUID) {
				break
			}
		}
		return got
	}
	everyOnce := func(t *testing.T, got map[string]int, want int) {
		t.Helper()
		if len(got) != want {
			t.Errorf("%d interactions yielded; want %d", len(got), want)
		}
		for g, n := range got {
			if n != 1 {
				t.Errorf("%s yielded %d times; want once", g, n)
			}
		}
	}

	t.Run("RecordsAreHandedOnWhileThePageStreams", func(t *testing.T) {
		first := make(chan struct{})
		var before atomic.Bool // the consumer had a record before the page's second half was sent
		got := listing(t, func(w http.ResponseWriter, r *http.Request) {
			bigRecordsPage(w, 0, records, records/2, func() {
				select {
				case <-first:
					before.Store(true)
				case <-time.After(10 * time.Second):
				}
			})
		}, func(string) bool {
			select {
			case <-first:
			default:
				close(first)
			}
			return true
		})
		everyOnce(t, got, records)
		if !before.Load() {
			t.Error("no record reached the consumer before the page ended: the listing kept the whole page")
		}
	})

	t.Run("APageCutAndSentAgainYieldsEachRecordOnce", func(t *testing.T) {
		var calls atomic.Int32
		got := listing(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				bigRecordsPage(w, 0, records, 300, func() { panic(http.ErrAbortHandler) })
				return
			}
			bigRecordsPage(w, 0, records, -1, nil)
		}, func(string) bool { return true })
		everyOnce(t, got, records)
		if n := calls.Load(); n != 2 {
			t.Errorf("%d requests; want 2 (the cut page asked for again)", n)
		}
	})

	t.Run("AConsumerThatStopsMidPageGetsNoMore", func(t *testing.T) {
		got := listing(t, func(w http.ResponseWriter, r *http.Request) {
			bigRecordsPage(w, 0, records, -1, nil)
		}, func(string) bool { return false })
		everyOnce(t, got, 1)
	})
}
