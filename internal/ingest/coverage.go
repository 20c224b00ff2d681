package ingest

import (
	"context"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/coverage"
	"github.com/vccingest/vccingest/internal/vcc"
)

// Coverage reports, from the catalog alone, what Stats says happened in
// [from, to) against what Content showed and what is stored, bucketed by one
// of coverage.Dimensions.
func Coverage(ctx context.Context, cat *catalog.Catalog, tenant string, from, to time.Time, by string, lookback time.Duration) (coverage.Report, error) {
	rows, err := cat.Calls(ctx, tenant, from, to)
	if err != nil {
		return coverage.Report{}, err
	}
	calls := make([]coverage.Call, 0, len(rows))
	for _, r := range rows {
		c := coverage.Call{
			GUID: r.GUID, Start: r.Start, End: r.Start.Add(r.Duration), Direction: r.Direction,
			AgentID: r.AgentID, AgentName: r.AgentName, InStats: r.InStats, InContent: r.InContent,
			Recordings: r.Recordings, Stored: r.Stored, Failed: r.Failed, LastError: r.LastError, CheckedAt: r.CheckedAt,
		}
		if len(r.Groups) > 0 {
			c.Group = r.Groups[0]
		}
		calls = append(calls, c)
	}
	return coverage.Build(calls, by, lookback)
}

// Probe runs the permission diagnosis live, over [from, to), from the Stats
// and Content APIs and the user list (no catalog needed): what `vccingest
// doctor` shows before a first sync.
func Probe(ctx context.Context, v VCC, from, to time.Time) (coverage.Diagnosis, int, error) {
	groups := map[string]string{}
	names := map[string]string{}
	for u, err := range v.Users(ctx) {
		if err != nil {
			return coverage.Diagnosis{}, 0, err
		}
		if len(u.Groups) > 0 {
			groups[u.AgentID] = u.Groups[0].Name
		}
		names[u.AgentID] = u.Name
	}
	shown := map[string]bool{}
	for it, err := range v.Interactions(ctx, from, to) {
		if err != nil {
			return coverage.Diagnosis{}, 0, err
		}
		shown[it.GUID] = true
	}
	var calls []coverage.Call
	for si, err := range v.StatsInteractions(ctx, from, to) {
		if err != nil {
			return coverage.Diagnosis{}, 0, err
		}
		calls = append(calls, statsCall(si, groups, names, shown[si.GUID]))
	}
	return coverage.Diagnose(calls), len(calls), nil
}

func statsCall(si vcc.StatsInteraction, groups, names map[string]string, shown bool) coverage.Call {
	return coverage.Call{
		GUID: si.GUID, Start: si.Start, End: si.Start.Add(si.Duration), Direction: si.Direction,
		AgentID: si.AgentID, AgentName: names[si.AgentID], Group: groups[si.AgentID], InStats: true, InContent: shown,
	}
}
