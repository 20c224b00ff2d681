package catalog_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
)

func TestPostgres(t *testing.T) { catalogtest.Run(t, catalogtest.Postgres) }

func TestPostgresUnreachableIsAClearErrorWithoutThePassword(t *testing.T) {
	for _, u := range []string{
		"postgres://vcc:hunter2-password@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
		"postgres://vcc@127.0.0.1:1/test?sslmode=disable&connect_timeout=2&password=hunter2-password", // pgx takes it from the query too
		"postgres://vcc@127.0.0.1:1/test?sslmode=disable&connect_timeout=2&sslpassword=hunter2-password",
	} {
		_, err := catalog.Open(context.Background(), u)
		if err == nil || !strings.Contains(err.Error(), "not reachable") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("unreachable: %v", err)
		}
	}
	if _, err := catalog.SQLitePath("postgres://vcc@db/x?password=hunter2-password"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("SQLitePath of a PostgreSQL URL: %v", err)
	}
}

func TestPostgresPoolSize(t *testing.T) {
	for n, want := range map[string]int32{"": 16, "3": 3} {
		u, _ := url.Parse(catalogtest.PostgresURL())
		if n != "" {
			q := u.Query()
			q.Set("pool_max_conns", n)
			u.RawQuery = q.Encode()
		}
		c, err := catalog.Open(context.Background(), u.String())
		if err != nil {
			if os.Getenv("CI") == "" {
				t.Skipf("no PostgreSQL: %v", err)
			}
			t.Fatal(err)
		}
		got := c.Pool().Config().MaxConns
		c.Close()
		if got != want {
			t.Errorf("pool_max_conns=%q: pool of %d connections, want %d", n, got, want)
		}
	}
}
