package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/ingest"
)

// BenchmarkCoverage100k reports coverage over a SQLite catalog of 100,000
// interactions (target: under 2 s per report).
func BenchmarkCoverage100k(b *testing.B) {
	ctx := context.Background()
	cat, err := catalog.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "catalog.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer cat.Close()
	if err := cat.EnsureSchema(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 100_000
	err = cat.InTx(ctx, func(tx *catalog.Tx) error {
		if err := tx.UpsertTenant(ctx, catalog.Tenant{ID: "acme"}); err != nil {
			return err
		}
		var agents []catalog.Agent
		for a := range 50 {
			agents = append(agents, catalog.Agent{Tenant: "acme", AgentID: fmt.Sprint(a), Name: fmt.Sprint("Agent ", a), Groups: []string{fmt.Sprint("Team ", a%5)}})
		}
		if err := tx.UpsertAgents(ctx, "acme", agents, start); err != nil {
			return err
		}
		var stats []catalog.StatsInteraction
		for i := range n {
			at := start.Add(time.Duration(i) * 30 * time.Second)
			guid := fmt.Sprintf("g%06d", i)
			dir := []string{"inbound", "outbound"}[i%2]
			stats = append(stats, catalog.StatsInteraction{Tenant: "acme", GUID: guid, Start: at, Duration: time.Minute, Direction: dir, AgentID: fmt.Sprint(i % 50)})
			if i%10 == 0 {
				continue // not recorded
			}
			if err := tx.UpsertInteraction(ctx, catalog.Interaction{Tenant: "acme", GUID: guid, Start: at, Direction: dir, DirectionSource: "stats", AgentID: fmt.Sprint(i % 50)}); err != nil {
				return err
			}
			if _, err := tx.EnsureRecording(ctx, catalog.Recording{Tenant: "acme", GUID: guid, ContentKey: "callRecording", Type: "callRecording", MediaType: "audio/wav", ExpectedBytes: 1000}); err != nil {
				return err
			}
			if _, err := tx.MarkStored(ctx, "acme", guid, "callRecording", 1000, "sum", "key", time.Minute); err != nil {
				return err
			}
		}
		if err := tx.UpsertStatsInteractions(ctx, stats); err != nil {
			return err
		}
		for w := start; w.Before(start.Add(n * 30 * time.Second)); w = w.Add(time.Hour) {
			if err := tx.MarkWindowDiscovered(ctx, "acme", w, w.Add(time.Hour), 0, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := ingest.Coverage(ctx, cat, "acme", start, start.AddDate(1, 0, 0), "group", 24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Total.Calls != n || rep.Total.Stored != n*9/10 {
			b.Fatalf("total %+v", rep.Total)
		}
	}
}
