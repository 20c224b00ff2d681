package dataset

import (
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/wav"
)

var day0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

func config(seed int64) Config {
	return Config{Seed: seed, Start: day0, Days: 2, CallsPerDay: 40, Agents: 6, Groups: 3, AudioBytesPerSecond: 8000}
}

func TestGenerate_ShapesTheAccountAsConfigured(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"default-like", config(1)},
		{"one agent, one group", Config{Seed: 2, Start: day0, Days: 1, CallsPerDay: 10, Agents: 1, Groups: 1, AudioBytesPerSecond: 8000}},
		{"more groups than agents", Config{Seed: 3, Start: day0, Days: 3, CallsPerDay: 5, Agents: 2, Groups: 5, AudioBytesPerSecond: 4000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Generate(tc.cfg)
			if len(d.Agents) != tc.cfg.Agents {
				t.Errorf("%d agents, want %d", len(d.Agents), tc.cfg.Agents)
			}
			if want := tc.cfg.Days * tc.cfg.CallsPerDay; len(d.Interactions) != want {
				t.Errorf("%d interactions, want %d", len(d.Interactions), want)
			}
			end := day0.AddDate(0, 0, tc.cfg.Days)
			for i, it := range d.Interactions {
				if i > 0 {
					p := d.Interactions[i-1]
					if it.Start.Before(p.Start) || (it.Start.Equal(p.Start) && it.GUID <= p.GUID) {
						t.Fatalf("interactions %d and %d are out of order", i-1, i)
					}
				}
				if it.Start.Before(day0) || !it.Start.Before(end) {
					t.Errorf("%s starts at %s, outside the %d configured days", it.GUID, it.Start, tc.cfg.Days)
				}
				if got, ok := d.Interaction(it.GUID); !ok || got != it {
					t.Errorf("Interaction(%q) does not find it", it.GUID)
				}
				if !containsAgent(d.Agents, it.Agent) {
					t.Errorf("%s is handled by an agent not in the account", it.GUID)
				}
			}
		})
	}
}

func containsAgent(agents []*User, a *User) bool {
	for _, b := range agents {
		if a == b {
			return true
		}
	}
	return false
}

func TestGenerate_IsAFunctionOfTheConfig(t *testing.T) {
	a, b, c := Generate(config(1)), Generate(config(1)), Generate(config(2))
	if !reflect.DeepEqual(a, b) {
		t.Error("the same Config gave two accounts")
	}
	if reflect.DeepEqual(a.Interactions, c.Interactions) {
		t.Error("two seeds gave the same interactions")
	}
	it := a.Interactions[0]
	for i := range it.Content {
		x, _ := io.ReadAll(a.Open(it, &it.Content[i]))
		y, _ := io.ReadAll(b.Open(b.Interactions[0], &b.Interactions[0].Content[i]))
		if string(x) != string(y) {
			t.Errorf("%s/%s: the same Config gave other bytes", it.GUID, it.Content[i].Key)
		}
	}
}

// Every item opens to exactly Length bytes of its content type.
func TestOpen_GivesLengthBytesOfTheContentType(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"sized by duration", func() Config { c := config(4); c.AudioBytesPerSecond = 500; return c }()},
		{"fixed size", func() Config { c := config(5); c.FixedRecordingSize = 1000; return c }()},
		{"fixed size below a header", func() Config { c := config(6); c.FixedRecordingSize = 10; return c }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, kinds := Generate(tc.cfg), map[string]int{}
			for _, it := range d.Interactions {
				for i := range it.Content {
					c := &it.Content[i]
					kinds[c.Type]++
					b, err := io.ReadAll(d.Open(it, c))
					if err != nil || int64(len(b)) != c.Length {
						t.Fatalf("%s/%s: %d bytes, %v; want %d", it.GUID, c.Key, len(b), err, c.Length)
					}
					switch c.ContentType {
					case "audio/wav":
						if string(b[0:4]) != "RIFF" || len(b) < wav.HeaderSize {
							t.Fatalf("%s/%s: not a WAV", it.GUID, c.Key)
						}
						if tc.cfg.FixedRecordingSize > 0 && c.Length != max(tc.cfg.FixedRecordingSize, wav.HeaderSize) {
							t.Errorf("%s/%s: %d bytes, want the fixed size", it.GUID, c.Key, c.Length)
						}
					case "application/json":
						if !json.Valid(b) || !strings.Contains(string(b), it.GUID) {
							t.Fatalf("%s/%s: not a transcript of the call: %s", it.GUID, c.Key, b)
						}
					default:
						t.Fatalf("%s/%s: content type %q", it.GUID, c.Key, c.ContentType)
					}
				}
			}
			if kinds["callRecording"] == 0 || kinds["transcript"] == 0 {
				t.Errorf("content kinds %v: want call recordings and transcripts", kinds)
			}
		})
	}
}

func TestBetween_IsHalfOpen(t *testing.T) {
	d := Generate(config(7))
	first, last := d.Interactions[0], d.Interactions[len(d.Interactions)-1]
	for _, tc := range []struct {
		name       string
		start, end time.Time
		want       int
	}{
		{"everything", day0, day0.AddDate(0, 0, 2), len(d.Interactions)},
		{"before the first day", day0.AddDate(0, 0, -1), day0, 0},
		{"after the last day", day0.AddDate(0, 0, 2), day0.AddDate(0, 0, 3), 0},
		{"end at the first start excludes it", day0, first.Start, 0},
		{"start at the first start includes it", first.Start, first.Start.Add(time.Nanosecond), 1},
		{"end at the last start excludes it", day0, last.Start, len(d.Interactions) - 1},
		{"empty window", first.Start, first.Start, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := d.Between(tc.start, tc.end)
			if len(got) != tc.want {
				t.Fatalf("%d interactions, want %d", len(got), tc.want)
			}
			for _, it := range got {
				if it.Start.Before(tc.start) || !it.Start.Before(tc.end) {
					t.Errorf("%s starts at %s, outside [%s, %s)", it.GUID, it.Start, tc.start, tc.end)
				}
			}
		})
	}
}

func TestGenerate_HostileIDs(t *testing.T) {
	c := config(8)
	c.HostileIDs = true
	d := Generate(c)
	hostile := 0
	for _, it := range d.Interactions {
		if strings.Contains(it.GUID, "..") || len(it.GUID) > 100 || strings.ContainsAny(it.GUID, "\x01\n") {
			hostile++
		}
	}
	if hostile != 4 {
		t.Errorf("%d hostile ids, want 4", hostile)
	}
	// Every item's announced length is the length of what Open serves, also
	// for the transcripts that name a hostile id.
	for _, seed := range []int64{1, 2, 8} {
		c := config(seed)
		c.HostileIDs = true
		d := Generate(c)
		for _, it := range d.Interactions {
			for i := range it.Content {
				item := &it.Content[i]
				n, err := io.Copy(io.Discard, d.Open(it, item))
				if err != nil || n != item.Length {
					t.Errorf("seed %d: %q/%s: Length %d, Open serves %d bytes (%v)", seed, it.GUID, item.Key, item.Length, n, err)
				}
			}
		}
	}
}

// One agent id per agent, groups with the reporting group first, and users
// who are not agents beside the agents.
func TestGenerate_Organisation(t *testing.T) {
	c := config(9)
	c.Agents = 9
	d := Generate(c)
	ids, roles, twoGroups := map[string]bool{}, map[string]int{}, 0
	for _, u := range d.Users {
		roles[u.Role]++
		if u.AgentID != "" {
			if ids[u.AgentID] {
				t.Errorf("agent id %s is used twice", u.AgentID)
			}
			ids[u.AgentID] = true
		}
		if u.Role != RoleAgent && u.AgentID != "" {
			t.Errorf("%s (%s) has an agent id", u.Name, u.Role)
		}
		for _, g := range u.Groups {
			if found, ok := d.Group(g.ID); !ok || found != g || g.DisplayID == "" {
				t.Errorf("%s: group %+v is not the account's", u.Name, g)
			}
		}
		if len(u.Groups) > 1 {
			twoGroups++
		}
	}
	for i, a := range d.Agents {
		if a.Role != RoleAgent || a.AgentID == "" || a.Group() != d.Groups[i%c.Groups] {
			t.Errorf("agent %d: %+v", i, a)
		}
	}
	if roles[RoleAdmin] == 0 || roles[RoleSupervisor] == 0 || twoGroups == 0 || len(d.Users) <= len(d.Agents) {
		t.Errorf("roles %v, %d users in two groups: want admins, supervisors and agents in two groups", roles, twoGroups)
	}
	archived := 0
	for _, u := range d.Users {
		if !u.Active {
			archived++
		}
	}
	if archived == 0 {
		t.Error("no archived user")
	}
}
