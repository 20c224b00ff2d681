package ingest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/secret"
	"github.com/vccingest/vccingest/internal/vcc"
	"github.com/vccingest/vccingest/internal/vccsim"
)

// An answer that is not valid HTTP (here a Content-Length that is not a
// number) is what the same server sends again: the job that got it, a
// listing or a download, is cancelled on its first attempt, not run again
// by River, and says why. A listing's window is recorded failed; a
// recording is failed for good.
func TestJobs_AnAnswerThatIsNotHTTPIsNotRunAgain(t *testing.T) {
	ctx := context.Background()
	h := newFetchHarness(t, vccsim.Config{Seed: 31, Days: 1, CallsPerDay: 6, FixedRecordingSize: 2000}, vcc.Config{MinBackoff: time.Millisecond})

	// A front to the simulator that answers every listing and download with
	// a head Go's transport refuses, once switched on.
	var broken atomic.Bool
	var listings, downloads atomic.Int64
	target, err := url.Parse(h.sim.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		listing := strings.HasSuffix(r.URL.Path, "/interaction-content/interactions")
		download := strings.Contains(r.URL.Path, "/interaction-content/interactions/") && strings.Contains(r.URL.Path, "/content/")
		if broken.Load() && (listing || download) {
			if listing {
				listings.Add(1)
			} else {
				downloads.Add(1)
			}
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20k\r\n\r\n")
			_ = buf.Flush()
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	cred := h.sim.Credential("admin")
	client, err := vcc.New(vcc.Config{AuthURL: h.sim.AuthURL(), APIURL: front.URL, ClientID: cred.ClientID, ClientSecret: secret.New(cred.ClientSecret),
		MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.tenant.VCC = client
	broken.Store(true)

	t.Run("listing", func(t *testing.T) {
		max := DiscoverArgs{}.InsertOpts().MaxAttempts
		job := &river.Job[DiscoverArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: max},
			Args: DiscoverArgs{Tenant: h.tenant.ID, Start: h.from, End: h.to}}
		err := (&discoverWorker{p: h.p}).Work(ctx, job)
		var cancel *river.JobCancelError
		if !errors.As(err, &cancel) || !errors.Is(err, vcc.ErrMalformedResponse) {
			t.Fatalf("attempt 1 of %d of a listing answered not as HTTP returned %v; want the job cancelled with ErrMalformedResponse", max, err)
		}
		if n := listings.Load(); n != 1 {
			t.Errorf("%d listing requests; want 1 (the client does not retry it either)", n)
		}
	})

	t.Run("download", func(t *testing.T) {
		guid := h.guids[0]
		max := FetchArgs{}.InsertOpts().MaxAttempts
		err := (&fetchWorker{p: h.p}).Work(ctx, h.job(guid, 1, max))
		var cancel *river.JobCancelError
		if !errors.As(err, &cancel) || !errors.Is(err, vcc.ErrMalformedResponse) {
			t.Fatalf("attempt 1 of %d of a download answered not as HTTP returned %v; want the job cancelled with ErrMalformedResponse", max, err)
		}
		if n := downloads.Load(); n != 1 {
			t.Errorf("%d download requests; want 1", n)
		}
		rec, err := h.cat.Recording(ctx, h.tenant.ID, guid, "callRecording")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != catalog.StatusFailed || !strings.Contains(rec.LastError, "not valid HTTP") {
			t.Errorf("recording %s (%q); want failed for good, saying the answer is not valid HTTP", rec.Status, rec.LastError)
		}
	})
}
