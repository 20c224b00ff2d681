package vcc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
)

// The client against every combination of the readings the docs leave open
// (vcc-api.md, "Open points"), 48 in all: hour by hour, as a sync lists a
// day, it sees each visible interaction once, in the window it starts in,
// and no hidden one; a hidden interaction is ErrNotFound whether VCC says
// 404 or 403; every agent resolves to its name, email, code and groups;
// Stats gives every call its direction; every recording downloads to its
// exact bytes; and the simulator refuses none of the requests. The
// end-to-end suite runs the whole binary on a covering set of the same
// combinations (cmd/vccingest, TestSync_EveryReadingOfTheDocs).
func TestClient_EveryReadingOfTheDocs(t *testing.T) {
	for _, rd := range vccsim.AllReadings() {
		t.Run(rd.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			sim := startSim(t, vccsim.Config{Seed: 41, Days: 1, CallsPerDay: 30, FixedRecordingSize: 2000, Readings: rd})
			f := newClient(t, sim, "no-outbound")
			truth := sim.Truth(day0, day0.AddDate(0, 0, 1), f.cred.ClientID)

			// Content, hour by hour.
			listed := map[string]Interaction{}
			for h := range 24 {
				from := day0.Add(time.Duration(h) * time.Hour)
				for it, err := range f.c.Interactions(ctx, from, from.Add(time.Hour)) {
					if err != nil {
						t.Fatalf("hour %d: %v", h, err)
					}
					if it.Start.Before(from) || !it.Start.Before(from.Add(time.Hour)) {
						t.Errorf("hour %d lists %s, which starts at %s", h, it.GUID, it.Start)
					}
					if _, dup := listed[it.GUID]; dup {
						t.Errorf("%s listed twice", it.GUID)
					}
					listed[it.GUID] = it
				}
			}
			hidden, recordings := 0, 0
			for _, want := range truth.Interactions {
				it, ok := listed[want.GUID]
				switch {
				case !want.Visible && ok:
					t.Errorf("%s is hidden (%s) but listed", want.GUID, want.HiddenReason)
				case !want.Visible:
					if hidden++; hidden <= 3 {
						if _, err := f.c.Interaction(ctx, want.GUID); !errors.Is(err, ErrNotFound) {
							t.Errorf("hidden %s: Interaction = %v, want ErrNotFound", want.GUID, err)
						}
					}
				case len(want.Content) > 0 && !ok:
					t.Errorf("%s (%s) is visible but not listed", want.GUID, want.Start)
				case ok:
					for _, wc := range want.Content {
						i := slices.IndexFunc(it.Content, func(c ContentItem) bool { return c.Key == wc.ContentKey })
						if i < 0 {
							t.Errorf("%s: content %s not listed", want.GUID, wc.ContentKey)
							continue
						}
						recordings++
						if got := download(t, f.c, want.GUID, it.Content[i]); got != wc.SHA256 {
							t.Errorf("%s/%s: sha256 %s, want %s", want.GUID, wc.ContentKey, got, wc.SHA256)
						}
					}
				}
			}
			if recordings < 15 || hidden == 0 {
				t.Fatalf("%d recordings and %d hidden calls: the day proves little", recordings, hidden)
			}

			// Agents: every user page, then each agent's groups.
			users := map[string]User{}
			for u, err := range f.c.Users(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				users[u.AgentID] = u
			}
			groups := map[string][]string{}
			for _, want := range truth.Interactions {
				u, ok := users[want.AgentID]
				if !ok {
					t.Errorf("agent %s of %s is not among the users", want.AgentID, want.GUID)
					continue
				}
				if u.Name != want.AgentName || u.Email != want.AgentEmail || u.AgentCode != want.AgentCode {
					t.Errorf("agent %s: %q <%s> %s, want %q <%s> %s", want.AgentID, u.Name, u.Email, u.AgentCode, want.AgentName, want.AgentEmail, want.AgentCode)
				}
				if _, done := groups[u.UserID]; !done {
					gs, err := f.c.UserGroups(ctx, u.UserID)
					if err != nil {
						t.Fatal(err)
					}
					for _, g := range gs {
						groups[u.UserID] = append(groups[u.UserID], g.Name)
					}
				}
				if got := groups[u.UserID]; !slices.Equal(got, want.Groups) {
					t.Errorf("agent %s: groups %q, want %q", want.AgentID, got, want.Groups)
				}
			}

			// Stats: every call, with its direction.
			direction := map[string]string{}
			for si, err := range f.c.StatsInteractions(ctx, day0, day0.AddDate(0, 0, 1)) {
				if err != nil {
					t.Fatal(err)
				}
				direction[si.GUID] = si.Direction
			}
			for _, want := range truth.Interactions {
				if want.StatsVisible && direction[want.GUID] != want.Direction {
					t.Errorf("%s: Stats direction %q, want %q", want.GUID, direction[want.GUID], want.Direction)
				}
			}
			asked := 0
			for _, rj := range sim.Rejections() {
				if rj.Route == "GET /interaction-content/interactions/{guid}" && (rj.Status == 404 || rj.Status == 403) && asked < min(hidden, 3) {
					asked++ // the hidden interactions asked for above
					continue
				}
				t.Errorf("the simulator refused a request: %+v", rj)
			}
		})
	}
}

// download reads one content item through the client and returns the
// sha256 of what it read.
func download(t *testing.T, c *Client, guid string, item ContentItem) string {
	t.Helper()
	r, err := c.Open(context.Background(), guid, item)
	if err != nil {
		t.Fatalf("open %s/%s: %v", guid, item.Key, err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatalf("read %s/%s: %v", guid, item.Key, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
