package catalog_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
)

func TestSQLite(t *testing.T) { catalogtest.Run(t, catalogtest.SQLite) }

func TestSQLitePath(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:///var/lib/v/catalog.db": "/var/lib/v/catalog.db",
		"sqlite://./data/catalog.db":     "data/catalog.db",
		"sqlite:data/catalog.db":         "data/catalog.db",
	} {
		got, err := catalog.SQLitePath(in)
		if err != nil || got != filepath.FromSlash(want) {
			t.Errorf("SQLitePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"mysql://x":      "use sqlite",
		"postgres://x/y": "PostgreSQL",
		"sqlite://":      "names no file",
		"/plain/path.db": "use sqlite",
	} {
		if _, err := catalog.SQLitePath(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SQLitePath(%q) = %v, want error containing %q", in, err, want)
		}
	}
}

func TestEnsureSchema_MigratesNewRefusesOld(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := catalog.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Pending(ctx); err != nil || len(p) != 0 {
		t.Fatalf("pending after EnsureSchema: %v %v", p, err)
	}
	// Simulate a catalog made by an older binary: drop the record of the
	// newest migration but keep data in it.
	if _, err := c.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (0, 'x')`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DB().ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureSchema(ctx); !errors.Is(err, catalog.ErrPendingMigrations) {
		t.Fatalf("EnsureSchema on an old catalog = %v, want ErrPendingMigrations", err)
	}
	c.Close()
}
