package catalog_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
)

// postgresURL is the test server: VCCINGEST_TEST_POSTGRES, or the local one
// (127.0.0.1:5432, trust auth, database test).
func postgresURL() string {
	if u := os.Getenv("VCCINGEST_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// openPostgres gives each test its own schema on the test server. Without
// a server the test fails under CI and is skipped, saying why, elsewhere.
func openPostgres(t *testing.T) *catalog.Catalog {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", postgresURL())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s: %v", postgresURL(), err)
		}
		t.Skipf("no PostgreSQL at %s (set VCCINGEST_TEST_POSTGRES): %v", postgresURL(), err)
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
	u, _ := url.Parse(postgresURL())
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	c, err := catalog.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPostgres(t *testing.T) { catalogtest.Run(t, openPostgres) }

func TestPostgresUnreachableIsAClearErrorWithoutThePassword(t *testing.T) {
	_, err := catalog.Open(context.Background(), "postgres://vcc:hunter2-password@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "not reachable") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable: %v", err)
	}
}
