package vcc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// A User Admin server that pages for ever, sends one page that never ends
// or more records than a page may hold: each listing ends with
// ErrListingBroken or the JSON cap, after a bounded number of requests.
func TestUserAdminListingsAreBounded(t *testing.T) {
	sim := startSim(t, vccsim.Config{Seed: 1, Days: 1})
	for _, tc := range []struct {
		name     string
		page     func(w http.ResponseWriter, n int) // n: requests so far, from 1
		groups   bool                               // list a user's groups, not the users
		wantErr  string
		wantList int // records listed, if wantErr is ""
		maxReqs  int
	}{
		{name: "a page that never ends fails at the JSON cap", page: func(w http.ResponseWriter, n int) {
			bw := bufio.NewWriter(w)
			defer bw.Flush()
			fmt.Fprint(bw, `{"users":[{"userId":"u0"}`)
			for i := 1; ; i++ {
				if _, err := fmt.Fprintf(bw, `,{"userId":"u%d","padding":"%s"}`, i, strings.Repeat("x", 4<<10)); err != nil {
					return
				}
			}
		}, wantErr: "larger than the 1048576-byte cap", maxReqs: 1},
		{name: "more records than a page holds", page: func(w http.ResponseWriter, n int) {
			fmt.Fprint(w, `[{"userId":"u0"}`+strings.Repeat(`,{}`, maxUserAdminRecords)+`]`)
		}, wantErr: "more than the 5000 records asked for", maxReqs: 1},
		{name: "pages for ever, each with a new user", page: func(w http.ResponseWriter, n int) {
			fmt.Fprintf(w, `{"meta":{"page":%d,"pageCount":1000000},"users":[{"userId":"u%[1]d"}]}`, n)
		}, wantErr: "more than 200 pages", maxReqs: maxUserAdminPages},
		{name: "the same page again and again ends the listing", page: func(w http.ResponseWriter, n int) {
			fmt.Fprint(w, `{"meta":{"page":1,"pageCount":1000000},"users":[{"userId":"u1"},{"name":"no id"}]}`)
		}, wantList: 2, maxReqs: 3},
		{name: "groups past the limit asked for are taken", groups: true, page: func(w http.ResponseWriter, n int) {
			if n > 1 {
				fmt.Fprint(w, `{"agentGroups":[]}`)
				return
			}
			fmt.Fprint(w, `{"agentGroups":[`+strings.TrimSuffix(groupsJSON(41), ",")+`]}`) // 25 asked for
		}, wantList: 41, maxReqs: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reqs atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				tc.page(w, int(reqs.Add(1)))
			}))
			t.Cleanup(api.Close)
			f := newClient(t, sim, "admin", func(c *Config) { c.APIURL = api.URL; c.MaxJSONBytes = 1 << 20; c.MaxAttempts = 1 })
			ctx := context.Background()
			var err error
			listed := 0
			if tc.groups {
				var gs []Group
				gs, err = f.c.UserGroups(ctx, "u1")
				listed = len(gs)
			} else {
				for _, e := range f.c.Users(ctx) {
					var bad *BadRecordError
					if e != nil && !errors.As(e, &bad) {
						err = e
						break
					}
					listed++
				}
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("listing failed: %v", err)
			case tc.wantErr == "" && listed != tc.wantList:
				t.Errorf("listed %d records, want %d", listed, tc.wantList)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("listing ended with %v; want an error with %q", err, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(tc.wantErr, "cap") && !errors.Is(err, ErrListingBroken):
				t.Errorf("%v is not ErrListingBroken", err)
			}
			if n := int(reqs.Load()); n > tc.maxReqs {
				t.Errorf("%d requests; want at most %d", n, tc.maxReqs)
			}
		})
	}
}

// groupsJSON is n distinct groups, each followed by a comma.
func groupsJSON(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"groupId":"g%d","groupName":"Group %[1]d"},`, i)
	}
	return b.String()
}
