package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vccingest/vccingest/internal/catalog"
	"github.com/vccingest/vccingest/internal/catalog/catalogtest"
)

func TestPostgres(t *testing.T) { catalogtest.Run(t, catalogtest.Postgres) }

func TestPostgresUnreachableIsAClearErrorWithoutThePassword(t *testing.T) {
	_, err := catalog.Open(context.Background(), "postgres://vcc:hunter2-password@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "not reachable") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable: %v", err)
	}
}
