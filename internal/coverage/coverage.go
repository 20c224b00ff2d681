// Package coverage compares what the Insights Stats API says happened with
// what the Interaction Content API showed and what was stored, gives every
// missing call one cause, and diagnoses which feature permission of the
// credential's user is the likely reason VCC silently withheld content.
// FromCatalog reads the calls from the catalog a sync filled; Probe asks the
// VCC APIs live, before any sync.
//
// # The diagnosis rule
//
// VCC's permission filters remove whole segments: every inbound call (View
// inbound interaction content), every outbound call (View outbound
// interaction content), or every call handled by agents outside the user's
// own reporting line (Access groups of users' content). Calls that were
// simply not recorded are spread across segments. So a permission is named
// only when a segment with at least MinCalls calls shows none of them on the
// Content API while another segment shows some:
//
//   - View inbound: inbound calls ≥ MinCalls, none visible, and some outbound
//     or internal call visible.
//   - View outbound: the same for outbound.
//   - Access groups: among calls of directions not already explained, at
//     least one group with ≥ MinCalls calls shows none while another group
//     shows some; the evidence lists the covered and the uncovered groups.
//
// A segment with a few visible calls, however few, is never a permission gap:
// a filter hides all or nothing. When Content shows nothing at all the data
// cannot tell the permissions apart, and the diagnosis says so instead of
// guessing.
package coverage

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/plural"
)

// The feature permissions, as VCC's Admin Portal names them.
const (
	PermViewInbound  = "View inbound interaction content"
	PermViewOutbound = "View outbound interaction content"
	PermAccessGroups = "Access groups of users' content (overrides line permissions)"
)

// MinCalls is the fewest calls in a segment for the diagnosis to judge it.
const MinCalls = 5

// Call is one interaction as coverage sees it.
type Call struct {
	GUID      string
	Start     time.Time
	End       time.Time
	Direction string // inbound, outbound, internal or unknown
	AgentID   string
	AgentName string
	Group     string // the agent's (first) group; "" if unknown
	InStats   bool   // the Stats API reported it
	InContent bool   // the Content API showed it
	// Recordings known for it, and how many are stored or failed for good.
	Recordings, Stored, Failed int
	LastError                  string
	// CheckedAt is when the Content API was last asked about its window; a
	// call that ended less than the lookback before that may still appear.
	CheckedAt time.Time
}

// Gap is one likely missing permission.
type Gap struct {
	Permission string `json:"permission"`
	Hidden     int    `json:"hidden_calls"` // calls it explains
	Evidence   string `json:"evidence"`
}

// Advice says in plain words what is hidden and which permission to enable,
// e.g. "outbound calls are hidden: enable “View outbound interaction content”
// for the credential's user".
func (g Gap) Advice() string {
	what := "some calls are hidden"
	switch g.Permission {
	case PermViewInbound:
		what = "inbound calls are hidden"
	case PermViewOutbound:
		what = "outbound calls are hidden"
	case PermAccessGroups:
		what = "calls of agents outside the user's own groups are hidden"
	}
	return fmt.Sprintf("%s: enable “%s” for the credential's user", what, g.Permission)
}

// Diagnosis is the permission diagnosis of a set of calls.
type Diagnosis struct {
	Gaps []Gap `json:"gaps"`
	// Note explains when no diagnosis is possible (no Stats data, or nothing
	// visible at all).
	Note string `json:"note,omitempty"`

	hideDirection map[string]bool
	hideGroup     map[string]bool
}

// Hides reports the permission that explains why c is not visible, if any.
func (d Diagnosis) Hides(c Call) string {
	switch {
	case d.hideDirection["inbound"] && c.Direction == "inbound":
		return PermViewInbound
	case d.hideDirection["outbound"] && c.Direction == "outbound":
		return PermViewOutbound
	case d.hideGroup[c.Group]:
		return PermAccessGroups
	}
	return ""
}

type tally struct{ calls, visible int }

// Diagnose applies the rule of the package comment to the calls Stats
// reported.
func Diagnose(calls []Call) Diagnosis {
	d := Diagnosis{hideDirection: map[string]bool{}, hideGroup: map[string]bool{}}
	byDir := map[string]*tally{}
	stats := 0
	for _, c := range calls {
		if !c.InStats {
			continue
		}
		stats++
		t := byDir[c.Direction]
		if t == nil {
			t = &tally{}
			byDir[c.Direction] = t
		}
		t.calls++
		if c.InContent {
			t.visible++
		}
	}
	if stats == 0 {
		if shown := len(calls); shown > 0 {
			d.Note = fmt.Sprintf("Stats reports none of the %d calls Content shows (yet), so what VCC withheld cannot be measured", shown)
		}
		return d
	}
	visible := 0
	for _, t := range byDir {
		visible += t.visible
	}
	if visible == 0 {
		d.Note = fmt.Sprintf("the Content API showed none of the %d calls Stats reports: either nothing is recorded, or the credential's user lacks %q and %q (or sees no group): check the user's feature permissions", stats, PermViewInbound, PermViewOutbound)
		return d
	}
	for _, dir := range []struct{ name, perm string }{{"inbound", PermViewInbound}, {"outbound", PermViewOutbound}} {
		t := byDir[dir.name]
		if t == nil || t.calls < MinCalls || t.visible > 0 {
			continue
		}
		d.hideDirection[dir.name] = true
		d.Gaps = append(d.Gaps, Gap{Permission: dir.perm, Hidden: t.calls,
			Evidence: fmt.Sprintf("Stats reports %d %s calls, Content shows none of them, while it shows %d other calls", t.calls, dir.name, visible)})
	}

	byGroup := map[string]*tally{}
	agentsOut := map[string]map[string]bool{}
	for _, c := range calls {
		if !c.InStats || d.hideDirection[c.Direction] || c.Group == "" {
			continue
		}
		t := byGroup[c.Group]
		if t == nil {
			t = &tally{}
			byGroup[c.Group] = t
			agentsOut[c.Group] = map[string]bool{}
		}
		t.calls++
		if c.InContent {
			t.visible++
		}
		agentsOut[c.Group][orDefault(c.AgentName, c.AgentID)] = true
	}
	var covered, dark []string
	hidden := 0
	for g, t := range byGroup {
		switch {
		case t.visible > 0:
			covered = append(covered, g)
		case t.calls >= MinCalls:
			dark = append(dark, g)
		}
	}
	if len(dark) > 0 && len(covered) > 0 {
		sort.Strings(covered)
		sort.Strings(dark)
		var agents []string
		for _, g := range dark {
			d.hideGroup[g] = true
			hidden += byGroup[g].calls
			for a := range agentsOut[g] {
				agents = append(agents, a)
			}
		}
		sort.Strings(agents)
		d.Gaps = append(d.Gaps, Gap{Permission: PermAccessGroups, Hidden: hidden,
			Evidence: fmt.Sprintf("Content shows calls of groups %s but none of the %d calls of groups %s (agents %s): the user only sees its own reporting line",
				strings.Join(covered, ", "), hidden, strings.Join(dark, ", "), strings.Join(agents, ", "))})
	}
	return d
}

func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Cause is why a call Stats reports is (or is not) stored.
type Cause string

// The causes, one per call.
const (
	CauseStored      Cause = "stored"       // every recording stored
	CauseHidden      Cause = "hidden"       // withheld by a permission (see Diagnosis)
	CauseNotRecorded Cause = "not_recorded" // Content shows no recording of it
	CausePending     Cause = "pending"      // not yet available, or downloads still to do
	CauseFailed      Cause = "failed"       // a download failed for good
)

// Classify gives c its cause. lookback is how long after a call VCC may still
// publish its content (the sync's lookback).
func Classify(c Call, d Diagnosis, lookback time.Duration) Cause {
	switch {
	case c.InContent && c.Failed > 0:
		return CauseFailed
	case c.InContent && c.Recordings > 0 && c.Stored == c.Recordings:
		return CauseStored
	case c.InContent && c.Recordings > 0:
		return CausePending
	case c.InContent:
		return CauseNotRecorded // content, but no recording (a transcript only)
	case d.Hides(c) != "":
		return CauseHidden
	case c.CheckedAt.IsZero() || c.CheckedAt.Before(c.End.Add(lookback)):
		return CausePending // VCC may still publish it; later runs re-scan
	}
	return CauseNotRecorded
}

// Bucket is the coverage of one group of calls.
type Bucket struct {
	Key         string `json:"key"`
	Calls       int    `json:"calls_in_stats"`
	InContent   int    `json:"shown_by_content"`
	Stored      int    `json:"stored"`
	Hidden      int    `json:"hidden_by_permission"`
	NotRecorded int    `json:"not_recorded"`
	Pending     int    `json:"pending"`
	Failed      int    `json:"failed"`
	ContentOnly int    `json:"content_only,omitempty"` // shown by Content, not (yet) in Stats
}

// Failure is a call whose download failed for good.
type Failure struct {
	GUID  string `json:"interaction_id"`
	Error string `json:"error"`
}

// The bases of a report's counts.
const (
	// BasisStats: the calls Stats reports, each with its cause.
	BasisStats = "stats"
	// BasisContent: no call in the range is in Stats (no stats scope, or
	// Stats has none yet), so the counts are of the calls Content shows;
	// what VCC withheld cannot be measured.
	BasisContent = "content"
)

// Report is coverage of a range, bucketed.
type Report struct {
	// Tenant, From and To say what the report covers: the calls of the
	// tenant that started in [From, To) (FromCatalog sets them).
	Tenant    string    `json:"tenant,omitempty"`
	From      time.Time `json:"from,omitzero"`
	To        time.Time `json:"to,omitzero"`
	By        string    `json:"by"`
	Basis     string    `json:"basis"` // BasisStats or BasisContent
	Buckets   []Bucket  `json:"buckets"`
	Total     Bucket    `json:"total"`
	Diagnosis Diagnosis `json:"diagnosis"`
	Failures  []Failure `json:"failures,omitempty"`
	// BadRecords are records VCC listed in the range that vccingest could
	// not use, or used only in part (a missing or undocumented field).
	BadRecords []BadRecord `json:"bad_records,omitempty"`
}

// BadRecord is one listed record that could not be (fully) used.
type BadRecord struct {
	API      string    `json:"api"`
	Window   time.Time `json:"window"`
	RecordID string    `json:"record_id,omitempty"`
	Problem  string    `json:"problem"`
}

// Dimensions a report can be bucketed by.
var Dimensions = []string{"day", "agent", "group", "direction"}

// Build diagnoses calls and buckets them by one of Dimensions.
func Build(calls []Call, by string, lookback time.Duration) (Report, error) {
	key, err := keyFunc(by)
	if err != nil {
		return Report{}, err
	}
	d := Diagnose(calls)
	r := Report{By: by, Basis: basis(calls), Diagnosis: d, Total: Bucket{Key: "total"}, Buckets: []Bucket{}}
	if r.Diagnosis.Gaps == nil {
		r.Diagnosis.Gaps = []Gap{} // [] in JSON, not null
	}
	buckets := map[string]*Bucket{}
	for _, c := range calls {
		k := key(c)
		b := buckets[k]
		if b == nil {
			b = &Bucket{Key: k}
			buckets[k] = b
		}
		for _, b := range []*Bucket{b, &r.Total} {
			add(b, c, d, lookback, r.Basis)
		}
		if c.Failed > 0 {
			r.Failures = append(r.Failures, Failure{GUID: c.GUID, Error: c.LastError})
		}
	}
	for _, b := range buckets {
		r.Buckets = append(r.Buckets, *b)
	}
	sort.Slice(r.Buckets, func(i, j int) bool { return r.Buckets[i].Key < r.Buckets[j].Key })
	return r, nil
}

// basis is BasisContent when no call is in Stats and some are in Content.
func basis(calls []Call) string {
	shown := false
	for _, c := range calls {
		if c.InStats {
			return BasisStats
		}
		shown = shown || c.InContent
	}
	if shown {
		return BasisContent
	}
	return BasisStats
}

func add(b *Bucket, c Call, d Diagnosis, lookback time.Duration, basis string) {
	if c.InContent {
		b.InContent++
	}
	if !c.InStats {
		b.ContentOnly++
		if basis != BasisContent {
			return
		}
	} else {
		b.Calls++
	}
	switch Classify(c, d, lookback) {
	case CauseStored:
		b.Stored++
	case CauseHidden:
		b.Hidden++
	case CauseNotRecorded:
		b.NotRecorded++
	case CausePending:
		b.Pending++
	case CauseFailed:
		b.Failed++
	}
}

func keyFunc(by string) (func(Call) string, error) {
	switch by {
	case "day", "":
		return func(c Call) string { return c.Start.UTC().Format("2006-01-02") }, nil
	case "agent":
		return func(c Call) string { return orDefault(c.AgentName, orDefault(c.AgentID, "(no agent)")) }, nil
	case "group":
		return func(c Call) string { return orDefault(c.Group, "(no group)") }, nil
	case "direction":
		return func(c Call) string { return orDefault(c.Direction, "unknown") }, nil
	}
	return nil, fmt.Errorf("--by %q: use one of %s", by, strings.Join(Dimensions, ", "))
}

// Summary is a one-line summary of the total.
func (r Report) Summary() string {
	t := r.Total
	if r.Basis == BasisContent {
		return fmt.Sprintf("coverage: no Stats data; Content shows %s: %d stored, %d not recorded, %d pending, %d failed",
			plural.Count(t.InContent, "call", "calls"), t.Stored, t.NotRecorded, t.Pending, t.Failed)
	}
	return fmt.Sprintf("coverage: Stats reports %s: %d stored, %d hidden by a permission, %d not recorded, %d pending, %d failed",
		plural.Count(t.Calls, "call", "calls"), t.Stored, t.Hidden, t.NotRecorded, t.Pending, t.Failed)
}
