package coverage

import (
	"context"
	"iter"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/vcc"
)

// FromCatalog reports, from the catalog alone, what Stats says happened in
// [from, to) against what Content showed and what is stored, bucketed by one
// of Dimensions.
func FromCatalog(ctx context.Context, cat *catalog.Catalog, tenant string, from, to time.Time, by string, lookback time.Duration) (Report, error) {
	rows, err := cat.Calls(ctx, tenant, from, to)
	if err != nil {
		return Report{}, err
	}
	calls := make([]Call, 0, len(rows))
	for _, r := range rows {
		c := Call{
			GUID: r.GUID, Start: r.Start, End: r.Start.Add(r.Duration), Direction: r.Direction,
			AgentID: r.AgentID, AgentName: r.AgentName, InStats: r.InStats, InContent: r.InContent,
			Recordings: r.Recordings, Stored: r.Stored, Failed: r.Failed, LastError: r.LastError, CheckedAt: r.CheckedAt,
		}
		if len(r.Groups) > 0 {
			c.Group = r.Groups[0]
		}
		calls = append(calls, c)
	}
	return Build(calls, by, lookback)
}

// Source is the part of the VCC client a live probe reads.
type Source interface {
	Users(ctx context.Context) iter.Seq2[vcc.User, error]
	Interactions(ctx context.Context, start, end time.Time) iter.Seq2[vcc.Interaction, error]
	StatsInteractions(ctx context.Context, start, end time.Time) iter.Seq2[vcc.StatsInteraction, error]
}

// Probe runs the permission diagnosis live, over [from, to), from the Stats
// and Content APIs and the user list (no catalog needed): what `vccingest
// doctor` shows before a first sync.
func Probe(ctx context.Context, v Source, from, to time.Time) (Diagnosis, int, error) {
	groups := map[string]string{}
	names := map[string]string{}
	for u, err := range v.Users(ctx) {
		if err != nil {
			return Diagnosis{}, 0, err
		}
		if len(u.Groups) > 0 {
			groups[u.AgentID] = u.Groups[0].Name
		}
		names[u.AgentID] = u.Name
	}
	shown := map[string]bool{}
	for it, err := range v.Interactions(ctx, from, to) {
		if err != nil {
			return Diagnosis{}, 0, err
		}
		shown[it.GUID] = true
	}
	var calls []Call
	for si, err := range v.StatsInteractions(ctx, from, to) {
		if err != nil {
			return Diagnosis{}, 0, err
		}
		calls = append(calls, statsCall(si, groups, names, shown[si.GUID]))
	}
	return Diagnose(calls), len(calls), nil
}

func statsCall(si vcc.StatsInteraction, groups, names map[string]string, shown bool) Call {
	return Call{
		GUID: si.GUID, Start: si.Start, End: si.Start.Add(si.Duration), Direction: si.Direction,
		AgentID: si.AgentID, AgentName: names[si.AgentID], Group: groups[si.AgentID], InStats: true, InContent: shown,
	}
}
