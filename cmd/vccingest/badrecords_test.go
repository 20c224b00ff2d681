package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// spoil puts a proxy in front of the simulator that breaks the first record
// of the first listing page of each API once: a Stats row without
// direction, a Content interaction whose first content item has no
// contentKey, and a user without userId.
func spoil(t *testing.T, sim *vccsim.Server) (apiURL string, spoiled map[string]string) {
	t.Helper()
	target, _ := url.Parse(sim.URL)
	var mu sync.Mutex
	spoiled = map[string]string{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		path := resp.Request.URL.Path
		key := map[string]string{"/stats/interactions": "stats", "/interaction-content/interactions": "content", "/useradmin/users": "users"}[path]
		if key == "" || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		var doc map[string]any
		if _, done := spoiled[key]; !done && json.Unmarshal(body, &doc) == nil {
			list, _ := doc[map[string]string{"stats": "items", "content": "items", "users": "users"}[key]].([]any)
			if len(list) > 0 {
				item := list[0].(map[string]any)
				switch key {
				case "stats":
					spoiled[key] = item["guid"].(string)
					item["direction"] = nil
				case "content":
					spoiled[key] = item["guid"].(string)
					delete(item["content"].([]any)[0].(map[string]any), "contentKey")
				case "users":
					spoiled[key] = item["userId"].(string)
					delete(item, "userId")
				}
				body, _ = json.Marshal(doc)
			}
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL, spoiled
}

// One odd record costs only itself: the rest of its window is ingested, and
// the run summary and coverage name it.
func TestSync_BadRecordsAreReportedNotFatal(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 43, Days: 1, CallsPerDay: 30, FixedRecordingSize: 2000}, "admin")
	apiURL, spoiled := spoil(t, e.sim)
	r := e.run("sync", "--api-url", apiURL, "--from", e.from.Format("2006-01-02T15:04:05Z"), "--to", e.to.Format("2006-01-02T15:04:05Z"))
	if r.code != 0 {
		t.Fatalf("sync exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if len(spoiled) != 3 {
		t.Fatalf("spoiled %v; want one record of each API", spoiled)
	}
	for api, id := range spoiled {
		if !strings.Contains(r.stdout, api+" API") || !strings.Contains(r.stdout, id) && api != "users" {
			t.Errorf("the summary does not name the %s record %s:\n%s", api, id, r.stdout)
		}
	}
	// Everything else of the window was stored: all visible recordings but
	// the one whose key VCC left out.
	truth := e.sim.Truth(e.from, e.to, e.cred.ClientID)
	want := 0
	for _, it := range truth.Interactions {
		for _, c := range it.Content {
			if it.Visible && isRecordingType(c.Type) && !(it.GUID == spoiled["content"] && c == it.Content[0]) {
				want++
			}
		}
	}
	if d := contentDownloads(e.sim); d != want {
		t.Errorf("%d downloads, want %d", d, want)
	}
	cov := e.run("coverage", "--from", e.from.Format("2006-01-02"), "--to", e.to.Format("2006-01-02"))
	if cov.code != 0 || !strings.Contains(cov.stdout, "could not fully use: 3") || !strings.Contains(cov.stdout, `no "direction"`) || !strings.Contains(cov.stdout, `user list: (no id): no "userId"`) {
		t.Errorf("coverage does not name the bad records (exit %d):\n%s\n%s", cov.code, cov.stdout, cov.stderr)
	}
}

// A window VCC refuses to list is a failure the run reports (exit 1, the
// window named), and the watermark stays before it, so the next run lists
// it again.
func TestSync_UnlistableWindowFailsTheRun(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 47, Days: 1, CallsPerDay: 30, FixedRecordingSize: 1000}, "admin")
	target, _ := url.Parse(e.sim.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	refused := e.from.Add(5 * time.Hour)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Any search that covers the refused hour (a span of hours is one
		// listing; the client splits it until the hour is alone).
		start, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("start"))
		end, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("end"))
		if r.URL.Path == "/interaction-content/interactions" && !start.After(refused) && end.After(refused) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message":"Something about this window is refused."}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	r := e.run("sync", "--api-url", srv.URL, "--from", e.from.Format(time.RFC3339), "--to", e.to.Format(time.RFC3339))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "windows not listed:  1") || !strings.Contains(r.stdout, refused.Format(time.RFC3339)) || !strings.Contains(r.stdout, "Something about this window is refused.") {
		t.Errorf("the summary does not name the window and why:\n%s", r.stdout)
	}
	if wm := watermarkOf(t, r.stdout); wm.After(refused) {
		t.Errorf("watermark %s passed the window that was never listed (%s)", wm, refused)
	}
}

// --attempts caps how often a recording VCC keeps serving wrong is tried;
// each failed attempt is a log line saying how many are left, the run
// exits 1 naming the recording, and running the range again (VCC fixed)
// stores it.
func TestSync_AttemptsAreCappedAndARerunRetriesTheFailure(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 23, Days: 1, CallsPerDay: 12, FixedRecordingSize: 4000}, "admin")
	var broken string
	for _, it := range e.sim.Truth(e.from, e.to, e.cred.ClientID).Interactions {
		if len(it.Content) > 0 && it.Content[0].ContentKey == "callRecording" {
			broken = it.GUID
			break
		}
	}
	if broken == "" {
		t.Fatal("the simulated day has no recording")
	}
	e.sim.SetFaults(vccsim.Faults{Content: map[string]vccsim.Fault{vccsim.ContentFaultKey(broken, "callRecording"): vccsim.FaultShortLength}})

	r := e.syncAll("--attempts", "2")
	if r.code != 1 || !strings.Contains(r.stdout, broken) {
		t.Fatalf("exit %d, want 1 naming %s\n%s\n%s", r.code, broken, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "will retry") || !strings.Contains(r.stderr, "attempts_left=1") {
		t.Errorf("no log line for the first attempt with what is left:\n%s", r.stderr)
	}
	if n := strings.Count(r.stderr, "interaction="+broken); n != 2 {
		t.Errorf("%d log lines name the broken recording, want 2 (one per attempt):\n%s", n, r.stderr)
	}
	show := e.run("show", broken, "--json")
	if show.code != 0 || !strings.Contains(show.stdout, `"failed_attempts": 2`) {
		t.Errorf("show: exit %d, want failed_attempts 2\n%s%s", show.code, show.stdout, show.stderr)
	}

	e.sim.SetFaults(vccsim.Faults{})
	r = e.syncAll()
	if r.code != 0 {
		t.Fatalf("the re-run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	e.verify()
	if show := e.run("show", broken); !strings.Contains(show.stdout, "stored") {
		t.Errorf("the re-run did not store %s:\n%s", broken, show.stdout)
	}
}

// A catalog out of reach is exit 3 (a backend unreachable), not exit 2
// (bad configuration), and says what it could not reach.
func TestSync_UnreachableCatalogExits3(t *testing.T) {
	e := newE2E(t, vccsim.Config{Seed: 5, Days: 1, CallsPerDay: 2}, "admin")
	r := e.syncAll("--catalog", "postgres://127.0.0.1:1/test")
	if r.code != 3 || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("exit %d, want 3 naming the address\n%s", r.code, r.stderr)
	}
}
