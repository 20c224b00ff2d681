package vcc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// A Stats server that always has one page more (new rows on each page, a
// pageCount past the page sent) fails the listing with ErrListingBroken a
// few pages past what its first page announced; one whose pages grow by a
// page while they are read is listed to its end; one that sends its first
// page again and again is listed once.
func TestStatsListingIsBounded(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1})
	start := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	row := func(page int) string {
		return fmt.Sprintf(`{"guid":"2480fc2c-bbd7-427c-9439-%012x","start":"2024-03-04T10:00:00.000Z","duration":1000,"direction":"Inbound"}`, page)
	}
	for _, tc := range []struct {
		name     string
		page     func(page int) string // the answer to page (1-based)
		wantErr  string
		wantList int
		maxReqs  int
	}{
		{name: "one page more, for ever", page: func(p int) string {
			return fmt.Sprintf(`{"meta":{"page":%d,"pageCount":%d},"items":[%s]}`, p, p+1, row(p))
		}, wantErr: "page 5 of a window whose first page said it had 2 pages", maxReqs: 4},
		{name: "a page more while it is read", page: func(p int) string {
			if p > 3 {
				return `{"meta":{"page":4,"pageCount":3},"items":[]}`
			}
			return fmt.Sprintf(`{"meta":{"page":%d,"pageCount":%d},"items":[%s]}`, p, min(p+1, 3), row(p))
		}, wantList: 3, maxReqs: 3},
		{name: "the first page again and again", page: func(p int) string {
			return fmt.Sprintf(`{"meta":{"page":1,"pageCount":1000000},"items":[%s]}`, row(1))
		}, wantList: 1, maxReqs: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reqs atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqs.Add(1)
				var p int
				fmt.Sscan(r.URL.Query().Get("page"), &p)
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, tc.page(p))
			}))
			t.Cleanup(api.Close)
			f := newClient(t, sim, "admin", func(c *Config) { c.APIURL = api.URL; c.MaxAttempts = 1 })
			var err error
			listed := 0
			for _, e := range f.c.StatsInteractions(context.Background(), start, start.Add(24*time.Hour)) {
				if e != nil {
					err = e
					break
				}
				listed++
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("listing failed: %v", err)
			case tc.wantErr == "" && listed != tc.wantList:
				t.Errorf("listed %d rows, want %d", listed, tc.wantList)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrListingBroken)):
				t.Fatalf("listing ended with %v; want ErrListingBroken with %q", err, tc.wantErr)
			}
			if n := int(reqs.Load()); n > tc.maxReqs {
				t.Errorf("%d requests; want at most %d", n, tc.maxReqs)
			}
		})
	}
}
