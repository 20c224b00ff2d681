package coverage_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
	"github.com/vccingest/vccingest/internal/coverage"
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
	const n = 100_000
	if err := catalogtest.Fill(ctx, cat, "acme", n); err != nil {
		b.Fatal(err)
	}
	start := catalogtest.FillStart
	b.ResetTimer()
	for b.Loop() {
		rep, err := coverage.FromCatalog(ctx, cat, "acme", start, start.AddDate(1, 0, 0), "group", 24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Total.Calls != n || rep.Total.Stored != n*9/10 {
			b.Fatalf("total %+v", rep.Total)
		}
	}
}
