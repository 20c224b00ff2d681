package catalogtest

import (
	"context"
	"fmt"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
)

// FillStart is when Fill's first call starts; calls follow every 30 s.
var FillStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Fill writes a synced catalog for tenant: n calls that Stats reported,
// alternating inbound and outbound over 50 agents in 5 groups, 90 % of them
// shown by Content with one stored recording each. Benchmarks of catalog
// queries use it.
func Fill(ctx context.Context, cat *catalog.Catalog, tenant string, n int) error {
	return cat.InTx(ctx, func(tx *catalog.Tx) error {
		if err := tx.UpsertTenant(ctx, catalog.Tenant{ID: tenant}); err != nil {
			return err
		}
		var agents []catalog.Agent
		for a := range 50 {
			agents = append(agents, catalog.Agent{Tenant: tenant, AgentID: fmt.Sprint(a), Name: fmt.Sprint("Agent ", a), Groups: []string{fmt.Sprint("Team ", a%5)}})
		}
		if _, err := tx.UpsertAgents(ctx, tenant, agents, FillStart); err != nil {
			return err
		}
		var stats []catalog.StatsInteraction
		for i := range n {
			at := FillStart.Add(time.Duration(i) * 30 * time.Second)
			guid := fmt.Sprintf("g%07d", i)
			dir := []string{"inbound", "outbound"}[i%2]
			stats = append(stats, catalog.StatsInteraction{Tenant: tenant, GUID: guid, Start: at, Duration: time.Minute, Direction: dir, AgentID: fmt.Sprint(i % 50)})
			if i%10 == 0 {
				continue // not recorded
			}
			if err := tx.UpsertInteraction(ctx, catalog.Interaction{Tenant: tenant, GUID: guid, Start: at, Direction: dir, DirectionSource: "stats", AgentID: fmt.Sprint(i % 50)}); err != nil {
				return err
			}
			if _, err := tx.EnsureRecording(ctx, catalog.Recording{Tenant: tenant, GUID: guid, ContentKey: "callRecording", Type: "callRecording", MediaType: "audio/wav", ExpectedBytes: 1000}); err != nil {
				return err
			}
			if _, err := tx.MarkStored(ctx, tenant, guid, "callRecording", 1000, "sum", "key", time.Minute); err != nil {
				return err
			}
		}
		if err := tx.UpsertStatsInteractions(ctx, stats); err != nil {
			return err
		}
		end := FillStart.Add(time.Duration(n) * 30 * time.Second)
		for w := FillStart; w.Before(end); w = w.Add(time.Hour) {
			if err := tx.MarkWindowDiscovered(ctx, tenant, w, w.Add(time.Hour), 0, 0); err != nil {
				return err
			}
		}
		return nil
	})
}
