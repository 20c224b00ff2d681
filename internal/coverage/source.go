package coverage

import (
	"context"
	"errors"
	"fmt"
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
	rep, err := Build(calls, by, lookback)
	if err != nil {
		return Report{}, err
	}
	bad, err := cat.BadRecords(ctx, tenant, from, to)
	if err != nil {
		return Report{}, err
	}
	for _, b := range bad {
		rep.BadRecords = append(rep.BadRecords, BadRecord{API: b.API, Window: b.WindowStart, RecordID: b.RecordID, Problem: b.Problem})
	}
	rep.Tenant, rep.From, rep.To = tenant, from.UTC(), to.UTC()
	if rep.Total.Calls == 0 && rep.Total.ContentOnly > 0 {
		listed, err := cat.StatsListed(ctx, tenant, from, to)
		if err != nil {
			return Report{}, err
		}
		if !listed {
			rep.Diagnosis.Note = "no Stats data: the range was synced without the stats scope, so what VCC withheld cannot be measured; the counts are of the calls Content shows (give the credential the stats scope, then sync the range again)"
		}
	}
	return rep, nil
}

// Source is the part of the VCC client a live probe reads.
type Source interface {
	Users(ctx context.Context) iter.Seq2[vcc.User, error]
	UserGroups(ctx context.Context, userID string) ([]vcc.Group, error)
	Interactions(ctx context.Context, start, end time.Time) iter.Seq2[vcc.Interaction, error]
	StatsInteractions(ctx context.Context, start, end time.Time) iter.Seq2[vcc.StatsInteraction, error]
}

// Probe runs the permission diagnosis live, over [from, to), from the Stats
// and Content APIs and the user list (no catalog needed): what `vccingest
// doctor` shows before a first sync. Records VCC sent that cannot be used
// are left out. Groups are read once for each agent Stats names (one
// request each): the group diagnosis compares groups Content shows with
// groups it hides.
func Probe(ctx context.Context, v Source, from, to time.Time) (Diagnosis, int, error) {
	users := map[string]vcc.User{} // by agent id
	for u, err := range v.Users(ctx) {
		if isBad(err) {
			continue
		}
		if err != nil {
			return Diagnosis{}, 0, err
		}
		if u.AgentID != "" {
			users[u.AgentID] = u
		}
	}
	shown := map[string]bool{}
	for it, err := range v.Interactions(ctx, from, to) {
		if isBad(err) {
			continue
		}
		if err != nil {
			return Diagnosis{}, 0, err
		}
		shown[it.GUID] = true
	}
	groups := map[string]string{}
	var calls []Call
	for si, err := range v.StatsInteractions(ctx, from, to) {
		if isBad(err) {
			continue
		}
		if err != nil {
			return Diagnosis{}, 0, err
		}
		u, known := users[si.AgentID]
		if _, done := groups[si.AgentID]; known && !done {
			gs, err := v.UserGroups(ctx, u.UserID)
			if err != nil {
				return Diagnosis{}, 0, fmt.Errorf("groups of agent %s: %w", si.AgentID, err)
			}
			groups[si.AgentID] = ""
			if len(gs) > 0 {
				groups[si.AgentID] = gs[0].Name
			}
		}
		calls = append(calls, Call{
			GUID: si.GUID, Start: si.Start, End: si.Start.Add(si.Duration), Direction: si.Direction,
			AgentID: si.AgentID, AgentName: u.Name, InStats: true, InContent: shown[si.GUID],
		})
	}
	for i := range calls {
		calls[i].Group = groups[calls[i].AgentID]
	}
	return Diagnose(calls), len(calls), nil
}

func isBad(err error) bool {
	var bad *vcc.BadRecordError
	return errors.As(err, &bad)
}
