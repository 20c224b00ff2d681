// Package dataset generates a simulated VCC account deterministically from a
// seed: reporting groups, agents, calls with their content items, and the
// bytes of each item.
package dataset

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/wav"
)

// Config sizes and shapes the account. Generate takes it as given: the
// counts and AudioBytesPerSecond must be positive (vccsim fills defaults).
type Config struct {
	Seed        int64
	Start       time.Time // first day (UTC midnight)
	Days        int
	CallsPerDay int
	Agents      int
	Groups      int

	// AudioBytesPerSecond sizes recordings (8-bit mono PCM).
	AudioBytesPerSecond int
	// FixedRecordingSize, if set, makes every audio item exactly this size.
	FixedRecordingSize int64
	// HostileIDs gives a few interactions ids that are unsafe as paths.
	HostileIDs bool
}

// Group is an agent group of the User Admin API. The first cfg.Groups
// groups are reporting groups (teams), one per agent; the rest are skill
// groups that some agents belong to as well.
type Group struct {
	ID                string // groupId (UUID)
	DisplayID         string // groupDisplayId, e.g. "1100"
	Name              string
	MaxUnexpectedTime int // seconds
	MaxWrapUpTime     int // seconds
}

// Roles of the User Admin API.
const (
	RoleAgent      = "Agent"
	RoleSupervisor = "Supervisor"
	RoleAdmin      = "Admin"
)

// User is a user of the account. Most are agents who handle calls; a few
// are supervisors and admins, who are not agents, and one is an archived
// agent.
type User struct {
	UserID   string
	Username string
	Name     string
	Email    string
	Role     string // RoleAgent, RoleSupervisor or RoleAdmin
	// AgentID is the agent id, the one string that the Content API
	// (handlingAgents[].id), the Stats API (party.id) and User Admin
	// (agentConfiguration.agentDisplayId) all use for an agent. Empty for
	// users who are not agents.
	AgentID  string
	Location string
	Active   bool
	// Groups are the agent groups the user belongs to (agents only). The
	// first is the agent's reporting group, which the permission model uses.
	Groups []Group
}

// Group is the user's reporting group: the first of its groups, or the
// zero Group for a user in none.
func (u *User) Group() Group {
	if len(u.Groups) == 0 {
		return Group{}
	}
	return u.Groups[0]
}

// Interaction is one simulated call with its content items.
type Interaction struct {
	GUID        string
	Start       time.Time
	Duration    time.Duration
	Direction   string // inbound, outbound or internal (lower case)
	ConnectFrom string
	ConnectTo   string
	Agent       *User
	ServiceName string
	Outcome     string
	Content     []Item
}

// End is when the call ended.
func (it *Interaction) End() time.Time { return it.Start.Add(it.Duration) }

// Item is one content item of an interaction.
type Item struct {
	Key         string // contentKey: well-known or the item's unique id
	Type        string // callRecording, voicemail, transcript, …
	ContentType string
	Length      int64
	seed        uint64
	audio       bool // generated WAV; otherwise a small JSON transcript
}

// Dataset is the whole simulated account.
type Dataset struct {
	Groups       []Group        // reporting groups, then skill groups
	Users        []*User        // every user: the agents, then the other users
	Agents       []*User        // the agents who handle calls
	Interactions []*Interaction // sorted by Start, then GUID

	byGUID    map[string]*Interaction
	audioRate int
}

var (
	firstNames = []string{"Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Robin", "Drew", "Kim", "Lee", "Noor", "Priya", "Mateo", "Sofia", "Yuki", "Olu"}
	lastNames  = []string{"Agent", "Smith", "García", "Nguyen", "Okafor", "Müller", "Rossi", "Kowalski", "Tanaka", "Silva", "Haddad", "Brown", "Dubois", "Larsen", "Khan"}
	services   = []string{"Sales", "Support", "Billing", "Retention"}
	skills     = []string{"Escalations", "Spanish Line"}
)

func uuidFrom(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func phone(r *rand.Rand) string { return fmt.Sprintf("+1555%07d", r.IntN(10_000_000)) }

// Generate builds the account from cfg: the same Config gives the same
// account, byte for byte.
func Generate(cfg Config) *Dataset {
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7cc5))
	d := &Dataset{byGUID: map[string]*Interaction{}, audioRate: cfg.AudioBytesPerSecond}
	groups := make([]Group, 0, cfg.Groups)
	for i := range cfg.Groups {
		groups = append(groups, Group{ID: uuidFrom(r), Name: fmt.Sprintf("Team %c", 'A'+i%26)})
	}
	for i := range cfg.Agents {
		first := firstNames[r.IntN(len(firstNames))]
		last := lastNames[r.IntN(len(lastNames))]
		user := fmt.Sprintf("%s.%s%d", strings.ToLower(first), strings.ToLower(asciiOnly(last)), i+1)
		d.Agents = append(d.Agents, &User{
			UserID:   uuidFrom(r),
			AgentID:  fmt.Sprintf("%d", 67800+i),
			Username: user + "@example.com",
			Name:     first + " " + last,
			Email:    user + "@example.com",
			Role:     RoleAgent,
			Location: "US",
			Groups:   []Group{groups[i%len(groups)]},
			Active:   r.IntN(20) != 0,
		})
	}
	d.addOrganisation(cfg, groups)
	ivr := "+15559870000"
	for day := range cfg.Days {
		midnight := cfg.Start.AddDate(0, 0, day)
		for range cfg.CallsPerDay {
			it := &Interaction{GUID: uuidFrom(r)}
			// Business hours: most calls 08:00–18:00 UTC, peaking mid-day.
			hour := 8 + 5*(r.Float64()+r.Float64())
			if r.IntN(20) == 0 {
				hour = r.Float64() * 24
			}
			it.Start = midnight.Add(time.Duration(hour * float64(time.Hour))).Truncate(time.Second)
			secs := 20 + int(math.Min(-math.Log(1-r.Float64())*180, 1500))
			it.Duration = time.Duration(secs)*time.Second + time.Duration(r.IntN(1000))*time.Millisecond
			it.Agent = d.Agents[r.IntN(len(d.Agents))]
			it.ServiceName = services[r.IntN(len(services))]
			switch p := r.IntN(100); {
			case p < 60:
				it.Direction, it.ConnectFrom, it.ConnectTo = "inbound", phone(r), ivr
			case p < 95:
				it.Direction, it.ConnectFrom, it.ConnectTo = "outbound", ivr, phone(r)
			default:
				it.Direction, it.ConnectFrom, it.ConnectTo = "internal", it.Agent.AgentID, d.Agents[r.IntN(len(d.Agents))].AgentID
			}
			it.Outcome = "Handled by agent"
			d.addContent(cfg, r, it)
			d.Interactions = append(d.Interactions, it)
		}
	}
	if cfg.HostileIDs {
		hostile := []string{"../../../etc/passwd", strings.Repeat("a", 300), "bad\x01id\nx", `..\..\windows`}
		for i, id := range hostile {
			if i >= len(d.Interactions) {
				break
			}
			it := d.Interactions[(i*7+3)%len(d.Interactions)]
			it.GUID = id
			for j, c := range it.Content {
				if !c.audio { // a transcript names its interaction: its length changes
					it.Content[j].Length = int64(len(transcript(it, c.seed)))
				}
			}
		}
	}
	sort.Slice(d.Interactions, func(i, j int) bool {
		a, b := d.Interactions[i], d.Interactions[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		return a.GUID < b.GUID
	})
	for _, it := range d.Interactions {
		d.byGUID[it.GUID] = it
	}
	return d
}

// addOrganisation adds what the calls do not depend on: skill groups that
// some agents belong to beside their reporting group, and the users who are
// not agents. It draws from its own random stream, so that the calls of a
// seed stay what they were before it existed.
func (d *Dataset) addOrganisation(cfg Config, reporting []Group) {
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x0a9c))
	d.Groups = append(d.Groups, reporting...)
	for _, name := range skills {
		d.Groups = append(d.Groups, Group{ID: uuidFrom(r), Name: name})
	}
	for i := range d.Groups {
		g := &d.Groups[i]
		g.DisplayID = fmt.Sprintf("%d", 1100+i)
		g.MaxUnexpectedTime = 300 + 60*(i%3)
		g.MaxWrapUpTime = 120 + 30*(i%2)
	}
	reporting = d.Groups[:len(reporting)]
	for i, a := range d.Agents {
		a.Groups[0] = reporting[i%len(reporting)] // now with its display id
		if i%3 == 1 {
			// A second group, so that a client cannot assume one per agent.
			a.Groups = append(a.Groups, d.Groups[len(reporting)+(i/3)%len(skills)])
		}
	}
	d.Users = append(d.Users, d.Agents...)
	d.Users = append(d.Users,
		// An admin is not an agent: no agentConfiguration at all.
		&User{UserID: uuidFrom(r), Username: "ada.admin@example.com", Name: "Ada Admin", Email: "ada.admin@example.com",
			Role: RoleAdmin, Location: "GB", Active: true},
		// A supervisor who does not act as an agent has an
		// agentConfiguration without an agentDisplayId.
		&User{UserID: uuidFrom(r), Username: "sam.supervisor@example.com", Name: "Sam Supervisor", Email: "sam.supervisor@example.com",
			Role: RoleSupervisor, Location: "GB", Active: true},
		// An archived agent, seen only with include=Archived or All.
		&User{UserID: uuidFrom(r), Username: "former.agent@example.com", Name: "Former Agent", Email: "former.agent@example.com",
			Role: RoleAgent, AgentID: fmt.Sprintf("%d", 67800+len(d.Agents)), Location: "US", Groups: []Group{reporting[0]}},
	)
}

// Group finds a group by its id.
func (d *Dataset) Group(id string) (Group, bool) {
	for _, g := range d.Groups {
		if g.ID == id {
			return g, true
		}
	}
	return Group{}, false
}

// addContent decides what VCC recorded for a call: most calls have a call
// recording, some a voicemail instead, some nothing; transcripts and IVR
// audio sit beside them.
func (d *Dataset) addContent(cfg Config, r *rand.Rand, it *Interaction) {
	recording := func(typ, key string, dur time.Duration) Item {
		size := wav.HeaderSize + int64(dur.Seconds()*float64(cfg.AudioBytesPerSecond))
		if cfg.FixedRecordingSize > 0 {
			size = max(cfg.FixedRecordingSize, wav.HeaderSize)
		}
		return Item{Key: key, Type: typ, ContentType: "audio/wav", Length: size, seed: r.Uint64(), audio: true}
	}
	switch p := r.IntN(100); {
	case p < 8: // not recorded
		return
	case p < 13 && it.Direction == "inbound": // went to voicemail
		it.Outcome = "Voicemail"
		it.Content = append(it.Content, recording("voicemail", uuidFrom(r), min(it.Duration, 90*time.Second)))
		return
	}
	it.Content = append(it.Content, recording("callRecording", "callRecording", it.Duration))
	if r.IntN(100) < 4 && it.Direction == "inbound" {
		// IVR audio has a unique key; it is derived from the item's seed so
		// that the draws, and so the calls after this one, stay as they were.
		ivr := recording("ivrAudioRecording", "", 15*time.Second)
		ivr.Key = uuidFrom(rand.New(rand.NewPCG(ivr.seed, 3)))
		it.Content = append(it.Content, ivr)
	}
	if r.IntN(2) == 0 {
		tr := Item{Key: "transcript", Type: "transcript", ContentType: "application/json", seed: r.Uint64()}
		tr.Length = int64(len(transcript(it, tr.seed)))
		it.Content = append(it.Content, tr)
	}
}

// transcript is a small deterministic JSON transcript.
func transcript(it *Interaction, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	lines := []string{"Hello, how can I help?", "I have a question about my bill.", "Let me look into that for you.", "Thank you.", "Is there anything else?", "No, that's all."}
	var b strings.Builder
	fmt.Fprintf(&b, `{"interactionGuid":%q,"segments":[`, it.GUID)
	n := 3 + r.IntN(6)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"speaker":%q,"offset":%d,"text":%q}`, []string{"agent", "customer"}[i%2], i*7000+r.IntN(5000), lines[r.IntN(len(lines))])
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// Interaction finds an interaction by its GUID.
func (d *Dataset) Interaction(guid string) (*Interaction, bool) {
	it, ok := d.byGUID[guid]
	return it, ok
}

// Between returns the interactions that start in [start, end).
func (d *Dataset) Between(start, end time.Time) []*Interaction {
	lo := searchStart(d.Interactions, start)
	hi := searchStart(d.Interactions, end)
	return d.Interactions[lo:hi]
}

func searchStart(its []*Interaction, t time.Time) int {
	lo, hi := 0, len(its)
	for lo < hi {
		m := (lo + hi) / 2
		if its[m].Start.Before(t) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Open returns a reader of the bytes of item, one of its content items.
// Audio is generated as it is read, so opening a 1 GiB recording is cheap.
func (d *Dataset) Open(it *Interaction, item *Item) io.ReadSeeker {
	if item.audio {
		return wav.New(item.Length, d.audioRate, item.seed)
	}
	return bytesSeeker{bytes.NewReader(transcript(it, item.seed))}
}

type bytesSeeker struct{ *bytes.Reader }

func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 {
			return r
		}
		switch r {
		case 'í':
			return 'i'
		case 'ü':
			return 'u'
		}
		return -1
	}, s)
}
