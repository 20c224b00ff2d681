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

// Group is a reporting group (team) of agents.
type Group struct {
	ID   string
	Name string
}

// Agent is a user who handles calls.
type Agent struct {
	UserID    string
	AgentID   string // the id Content and Stats put on interactions
	Username  string
	Name      string
	Email     string
	AgentCode string // agentConfiguration.agentDisplayId
	Group     Group
	Active    bool
}

// Interaction is one simulated call with its content items.
type Interaction struct {
	GUID        string
	Start       time.Time
	Duration    time.Duration
	Direction   string // inbound, outbound or internal (lower case)
	ConnectFrom string
	ConnectTo   string
	Agent       *Agent
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
	Agents       []*Agent
	Interactions []*Interaction // sorted by Start, then GUID

	byGUID    map[string]*Interaction
	audioRate int
}

var (
	firstNames = []string{"Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Robin", "Drew", "Kim", "Lee", "Noor", "Priya", "Mateo", "Sofia", "Yuki", "Olu"}
	lastNames  = []string{"Agent", "Smith", "García", "Nguyen", "Okafor", "Müller", "Rossi", "Kowalski", "Tanaka", "Silva", "Haddad", "Brown", "Dubois", "Larsen", "Khan"}
	services   = []string{"Sales", "Support", "Billing", "Retention"}
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
		d.Agents = append(d.Agents, &Agent{
			UserID:    uuidFrom(r),
			AgentID:   fmt.Sprintf("%d", 67800+i),
			Username:  user + "@example.com",
			Name:      first + " " + last,
			Email:     user + "@example.com",
			AgentCode: fmt.Sprintf("%d", 8100+i),
			Group:     groups[i%len(groups)],
			Active:    r.IntN(20) != 0,
		})
	}
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
			it.Start = midnight.Add(time.Duration(hour * float64(time.Hour))).Truncate(time.Millisecond)
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
		it.Content = append(it.Content, recording("ivrAudioRecording", "ivrAudioRecording", 15*time.Second))
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
