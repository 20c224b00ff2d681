package catalogtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the schema admin

	"github.com/vccingest/vccingest/internal/catalog"
)

// SQLite returns a new catalog in a file under the test's temp dir.
func SQLite(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Open(context.Background(), "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "catalog.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.EnsureSchema(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// PostgresURL is the test server: VCCINGEST_TEST_POSTGRES, or the local one
// (127.0.0.1:5432, trust auth, database test).
func PostgresURL() string {
	if u := os.Getenv("VCCINGEST_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Postgres returns a new catalog in a schema of its own on the test server,
// dropped when the test ends. Without a server the test fails under CI and
// is skipped, saying why, elsewhere.
func Postgres(t *testing.T) *catalog.Catalog {
	t.Helper()
	ctx := context.Background()
	c, err := catalog.Open(ctx, PostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// PostgresSchema returns the URL of a new, empty schema on the test
// server, dropped when the test ends (skipped or failed as Postgres is
// without a server).
func PostgresSchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", PostgresURL())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s: %v", PostgresURL(), err)
		}
		t.Skipf("no PostgreSQL at %s (set VCCINGEST_TEST_POSTGRES): %v", PostgresURL(), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "vccingest_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, _ := url.Parse(PostgresURL())
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
